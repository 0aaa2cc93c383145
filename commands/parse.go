package commands

import (
	"errors"
	"regexp"
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
	// problems are what bind found wrong with the words; check reports
	// them with its own, all in one reply, once the sender may run the
	// command at all.
	problems []*Error
	// people are what the directory said of staff ids during this call.
	people map[string]Person
	// priorAwaited: an earlier owner's write has landed or can no longer.
	priorAwaited bool
	// held: the call waits for approval; its proposal is the request.
	held *Approval
	// approved: a second person approved it; it runs as its requester's.
	approved bool
	// decision: what the reply asks someone to decide (propose sets it).
	decision *Decision
	// data: the lines after the first, for a command that takes lines.
	data string
}

// Has reports whether the sender gave the key (possibly with an empty value).
func (c *Call) Has(key string) bool { _, ok := c.vals[key]; return ok }

// Get returns the checked value of key, "" when absent or cleared.
func (c *Call) Get(key string) string { return c.vals[key] }

// Bool returns the checked boolean value of key (false when absent).
func (c *Call) Bool(key string) bool { return c.vals[key] == "true" }

// Parse reads one message text into a Call against specs. It needs no I/O,
// so every grammar case is a table row in the tests. A command that takes
// lines (Spec.Lines) is read from the first line alone; the lines after
// it are its data, which its handler reads.
func Parse(specs []*Spec, text string) (*Call, error) {
	if head, data, multi := strings.Cut(text, "\n"); multi {
		if c, err := parseText(specs, head); err == nil && c.Spec.Lines {
			if utf8.RuneCountInString(data) > MaxDataRunes {
				return nil, invalid(nil, "err.too_long", MaxDataRunes)
			}
			c.data = data
			return c, nil
		}
	}
	return parseText(specs, text)
}

// MaxDataRunes bounds the lines a command that takes lines reads.
const MaxDataRunes = 60000

func parseText(specs []*Spec, text string) (*Call, error) {
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
			e := invalid(nil, "err.unknown_command", echoed("/"+group[0].Path[0]+" ")+short(sub))
			e.Hint = suggestSub(group, sub)
			return nil, e
		}
		rest = rest[1:]
	}
	c := &Call{Spec: spec, raw: map[string]string{}, typed: map[string]string{}}
	c.bind(rest)
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

// bind assigns the words after the command to the spec's arguments, and
// notes every word it cannot place.
func (c *Call) bind(rest []grammar.Token) {
	s := c.Spec
	for _, a := range s.Args {
		if a.Kind == KindCommand {
			for _, t := range rest {
				c.words = append(c.words, t.Text)
			}
			return
		}
	}
	// Stray words in a row are one problem: 137 5678 7890 is echoed, and
	// masked, as the phone number it is.
	var stray []string
	flushStray := func() {
		if len(stray) > 0 {
			c.problems = append(c.problems, invalid(s, "err.extra_arg", short(strings.Join(stray, " "))))
			stray = nil
		}
	}
	problem := func(e *Error) { flushStray(); c.problems = append(c.problems, e) }
	defer flushStray()
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
				problem(invalid(s, "err.missing_value", "--"+key))
				continue
			}
			i++
			value = rest[i].Text
		case ok:
			if k == "" {
				problem(invalid(s, "err.missing_key", short(t.Text)))
				continue
			}
			key, value = k, v
		default:
			// An optional "who" takes only what names someone (me, an
			// @mention); any other bare word is stray, not a bad "who".
			if len(pos) > 0 && pos[0].Kind == KindWho && !whoWord(t.Text) {
				pos = pos[1:]
			}
			if len(pos) == 0 {
				stray = append(stray, t.Text)
				continue
			}
			flushStray()
			a := pos[0]
			if a.Variadic { // it takes every bare word from here on
				if prev, ok := c.raw[a.Name]; ok {
					c.raw[a.Name] = prev + " " + t.Text
					continue
				}
			} else {
				pos = pos[1:]
			}
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
			problem(e)
			continue
		}
		if a.Kind == KindPhone {
			// 138 1111 2222, +86 138 1111 2222: the groups people type a
			// number in are one value.
			for i+1 < len(rest) && phoneGroup(value, rest[i+1]) {
				i++
				value += " " + rest[i].Text
			}
		}
		if prev, dup := c.typed[a.Name]; dup {
			problem(invalid(s, "err.duplicate_key", dupName(prev, key)))
			continue
		}
		flushStray()
		c.raw[a.Name], c.typed[a.Name] = value, key
	}
}

// phoneGroup reports whether t continues the phone number typed so far: a
// group of digits (with the separators people type) while the number is
// not yet complete.
func phoneGroup(sofar string, t grammar.Token) bool {
	if t.IsPair() || strings.HasPrefix(t.Text, "--") || !phoneGroupRE.MatchString(t.Text) {
		return false
	}
	n := countDigits(sofar)
	return n > 0 && n < 11 && n+countDigits(t.Text) <= 15
}

var phoneGroupRE = regexp.MustCompile(`^[0-9][0-9().\-]*$`)

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
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

// echoed is something the sender typed, quoted back in an error: masked
// in replies that others read (errorReply), inert everywhere.
type echoed string

// short keeps echoed input readable and bounded, and never echoes a robot
// access token in full.
func short(s string) echoed {
	s = maskTokens(s)
	if utf8.RuneCountInString(s) <= 40 {
		return echoed(s)
	}
	r := []rune(s)
	return echoed(string(r[:40]) + "…")
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

// whoWord reports whether w names someone: me, or an @mention.
func whoWord(w string) bool {
	_, err := checkValue(&Arg{Kind: KindWho}, "", w)
	return err == nil
}
