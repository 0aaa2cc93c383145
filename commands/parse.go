package commands

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/armsbot/armsbot/commands/grammar"
)

// MaxMessageRunes bounds what the parser looks at; DingTalk allows far longer
// texts, and nothing this bot understands needs more.
const MaxMessageRunes = 2000

var (
	// errEmpty: the sender addressed the bot with nothing after the mention.
	errEmpty = errors.New("empty message")
	// errNotCommand: plain chatter, not an attempt at a command.
	errNotCommand = errors.New("not a command")
)

// Call is one parsed command: which spec, and the arguments as typed.
type Call struct {
	Spec    *Spec
	Msg     Message
	Journal Journal           // the message's record; set by Handle
	raw     map[string]string // canonical key -> value as typed
	typed   map[string]string // canonical key -> key as the sender spelled it
	words   []string          // for KindCommand arguments
	vals    map[string]string // canonical key -> checked, normalised value
}

// Has reports whether the sender gave the key (possibly with an empty value).
func (c *Call) Has(key string) bool { _, ok := c.vals[key]; return ok }

// Get returns the checked value of key, "" when absent or cleared.
func (c *Call) Get(key string) string { return c.vals[key] }

// Bool returns the checked boolean value of key (false when absent).
func (c *Call) Bool(key string) bool { return c.vals[key] == "true" }

// Parse reads one message text into a Call against specs. It needs no I/O,
// so every grammar case is a table row in the tests.
func Parse(specs []*Spec, text string) (*Call, error) {
	text = grammar.Normalize(text)
	if utf8.RuneCountInString(text) > MaxMessageRunes {
		return nil, invalid(nil, "err.too_long", MaxMessageRunes)
	}
	toks, err := grammar.Tokenize(text)
	if err != nil {
		if !strings.HasPrefix(strings.TrimSpace(text), "/") {
			return nil, errNotCommand
		}
		var q *grammar.UnclosedQuoteError
		if errors.As(err, &q) {
			return nil, invalid(nil, "err.unclosed_quote", string(q.Quote))
		}
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errEmpty
	}
	first := toks[0].Text
	slash := strings.HasPrefix(first, "/")
	name := strings.ToLower(strings.TrimPrefix(first, "/"))
	rest := toks[1:]
	if slash && name == "" {
		if len(rest) == 0 {
			return nil, errEmpty
		}
		name, rest = strings.ToLower(rest[0].Text), rest[1:]
	}
	if toks[0].IsPair() && !slash {
		return nil, errNotCommand
	}

	var group []*Spec
	for _, s := range specs {
		if matchesWord(s.Path[0], groupAliases[s.Path[0]], name) ||
			(len(s.Path) == 1 && matchesWord(s.Path[0], s.Aliases, name)) {
			group = append(group, s)
		}
	}
	if len(group) == 0 {
		if !slash {
			return nil, errNotCommand
		}
		e := invalid(nil, "err.unknown_command", "/"+short(name))
		e.Hint = suggestCommand(specs, name)
		return nil, e
	}

	spec := group[0]
	if len(spec.Path) > 1 {
		if len(rest) == 0 || rest[0].IsPair() {
			e := invalid(nil, "err.need_subcommand", "/"+spec.Path[0], subcommands(group))
			return nil, e
		}
		sub := strings.ToLower(rest[0].Text)
		spec = nil
		for _, s := range group {
			if matchesWord(s.Path[1], s.Aliases, sub) {
				spec = s
			}
		}
		if spec == nil {
			e := invalid(nil, "err.unknown_command", "/"+group[0].Path[0]+" "+short(sub))
			e.Hint = suggestSub(group, sub)
			return nil, e
		}
		rest = rest[1:]
	}
	c := &Call{Spec: spec, raw: map[string]string{}, typed: map[string]string{}}
	if err := c.bind(rest); err != nil {
		return nil, err
	}
	return c, nil
}

func matchesWord(name string, aliases []string, w string) bool {
	if w == name {
		return true
	}
	for _, a := range aliases {
		if w == a {
			return true
		}
	}
	return false
}

func subcommands(group []*Spec) string {
	names := make([]string, 0, len(group))
	for _, s := range group {
		names = append(names, s.Path[len(s.Path)-1])
	}
	return strings.Join(names, ", ")
}

// bind assigns the words after the command to the spec's arguments.
func (c *Call) bind(rest []grammar.Token) error {
	s := c.Spec
	for _, a := range s.Args {
		if a.Kind == KindCommand {
			for _, t := range rest {
				c.words = append(c.words, t.Text)
			}
			return nil
		}
	}
	pos := s.positional()
	for i := 0; i < len(rest); i++ {
		t := rest[i]
		var key, value string
		switch k, v, ok := t.KeyValue(); {
		case strings.HasPrefix(t.Text, "--"):
			if ok {
				key, value = strings.TrimLeft(k, "-"), v
				break
			}
			key = strings.TrimLeft(t.Text, "-")
			if a := s.arg(strings.ToLower(key)); a != nil && a.Kind == KindBool &&
				(i+1 >= len(rest) || !isBoolWord(rest[i+1].Text)) {
				value = "true"
				break
			}
			if i+1 >= len(rest) || strings.HasPrefix(rest[i+1].Text, "--") || rest[i+1].IsPair() {
				if s.arg(strings.ToLower(key)) == nil {
					break // reported as unknown below
				}
				return &Error{Code: EINVALID, Key: "err.missing_value", Args: []any{"--" + key}, Usage: s}
			}
			i++
			value = rest[i].Text
		case ok:
			if k == "" {
				return invalid(s, "err.missing_key", short(t.Text))
			}
			key, value = k, v
		default:
			if len(pos) == 0 {
				return invalid(s, "err.extra_arg", short(t.Text))
			}
			a := pos[0]
			pos = pos[1:]
			c.raw[a.Name], c.typed[a.Name] = t.Text, a.Name
			continue
		}
		lk := strings.ToLower(key)
		a := s.arg(lk)
		if a == nil {
			e := invalid(s, "err.unknown_key", short(key))
			if m := grammar.Closest(lk, s.keyNames()); m != "" {
				e.Key, e.Args = "err.unknown_key_hint", []any{short(key), m}
			}
			return e
		}
		if prev, dup := c.typed[a.Name]; dup {
			return invalid(s, "err.duplicate_key", dupName(prev, key))
		}
		c.raw[a.Name], c.typed[a.Name] = value, key
	}
	return nil
}

func dupName(prev, now string) string {
	if strings.EqualFold(prev, now) {
		return now
	}
	return prev + "/" + now
}

func isBoolWord(s string) bool {
	_, err := parseBool(s)
	return err == nil
}

// short keeps echoed input readable and bounded, and never echoes a robot
// access token in full.
func short(s string) string {
	s = maskTokens(s)
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	r := []rune(s)
	return string(r[:40]) + "…"
}

func suggestCommand(specs []*Spec, w string) string {
	var names []string
	seen := map[string]bool{}
	for _, s := range specs {
		if !seen[s.Path[0]] {
			seen[s.Path[0]] = true
			names = append(names, s.Path[0])
		}
	}
	if m := grammar.Closest(w, names); m != "" {
		return "/" + m
	}
	return ""
}

func suggestSub(group []*Spec, w string) string {
	var names []string
	for _, s := range group {
		names = append(names, s.Path[1])
	}
	if m := grammar.Closest(w, names); m != "" {
		return "/" + group[0].Path[0] + " " + m
	}
	return ""
}
