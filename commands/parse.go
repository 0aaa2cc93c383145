package commands

import (
	"errors"
	"sort"
	"strings"
	"unicode/utf8"
)

var (
	// errEmpty: the sender addressed the bot with nothing after the mention.
	errEmpty = errors.New("empty message")
	// errNotCommand: plain chatter, not an attempt at a command.
	errNotCommand = errors.New("not a command")
)

// Call is one parsed command: which spec, and the arguments as typed.
type Call struct {
	Spec  *Spec
	Msg   Message
	raw   map[string]string // canonical key -> value as typed
	typed map[string]string // canonical key -> key as the sender spelled it
	words []string          // for KindCommand arguments
	vals  map[string]string // canonical key -> checked, normalised value
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
	text = Normalize(text)
	if utf8.RuneCountInString(text) > MaxMessageRunes {
		return nil, invalid(nil, "err.too_long", MaxMessageRunes)
	}
	toks, perr := tokenize(text)
	if perr != nil {
		if len(toks) == 0 && !strings.HasPrefix(strings.TrimSpace(text), "/") {
			return nil, errNotCommand
		}
		return nil, perr
	}
	if len(toks) == 0 {
		return nil, errEmpty
	}
	first := toks[0].text
	slash := strings.HasPrefix(first, "/")
	name := strings.ToLower(strings.TrimPrefix(first, "/"))
	rest := toks[1:]
	if slash && name == "" {
		if len(rest) == 0 {
			return nil, errEmpty
		}
		name, rest = strings.ToLower(rest[0].text), rest[1:]
	}
	if toks[0].sep >= 0 && !slash {
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
		if len(rest) == 0 || rest[0].sep >= 0 {
			e := invalid(nil, "err.need_subcommand", "/"+spec.Path[0], subcommands(group))
			return nil, e
		}
		sub := strings.ToLower(rest[0].text)
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
func (c *Call) bind(rest []token) error {
	s := c.Spec
	for _, a := range s.Args {
		if a.Kind == KindCommand {
			for _, t := range rest {
				c.words = append(c.words, t.text)
			}
			return nil
		}
	}
	pos := s.positional()
	for i := 0; i < len(rest); i++ {
		t := rest[i]
		var key, value string
		switch k, v, ok := t.keyValue(); {
		case strings.HasPrefix(t.text, "--"):
			if ok {
				key, value = strings.TrimLeft(k, "-"), v
				break
			}
			key = strings.TrimLeft(t.text, "-")
			if a := s.arg(strings.ToLower(key)); a != nil && a.Kind == KindBool &&
				(i+1 >= len(rest) || !isBoolWord(rest[i+1].text)) {
				value = "true"
				break
			}
			if i+1 >= len(rest) || strings.HasPrefix(rest[i+1].text, "--") || rest[i+1].sep >= 0 {
				if s.arg(strings.ToLower(key)) == nil {
					break // reported as unknown below
				}
				return &Error{Code: EINVALID, Key: "err.missing_value", Args: []any{"--" + key}, Usage: s}
			}
			i++
			value = rest[i].text
		case ok:
			if k == "" {
				return invalid(s, "err.missing_key", short(t.text))
			}
			key, value = k, v
		default:
			if len(pos) == 0 {
				return invalid(s, "err.extra_arg", short(t.text))
			}
			a := pos[0]
			pos = pos[1:]
			c.raw[a.Name], c.typed[a.Name] = t.text, a.Name
			continue
		}
		lk := strings.ToLower(key)
		a := s.arg(lk)
		if a == nil {
			e := invalid(s, "err.unknown_key", short(key))
			if m := closest(lk, s.keyNames()); m != "" {
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

// closest returns the candidate within a small edit distance of w, or "".
func closest(w string, cands []string) string {
	best, bestD := "", 3
	if n := utf8.RuneCountInString(w); n <= 3 {
		bestD = 2
	}
	sorted := append([]string(nil), cands...)
	sort.Strings(sorted)
	for _, c := range sorted {
		if d := editDistance(w, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Damerau (optimal string alignment) distance over runes,
// so that a swapped pair of letters (emial) counts as one edit.
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
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
	if m := closest(w, names); m != "" {
		return "/" + m
	}
	return ""
}

func suggestSub(group []*Spec, w string) string {
	var names []string
	for _, s := range group {
		names = append(names, s.Path[1])
	}
	if m := closest(w, names); m != "" {
		return "/" + group[0].Path[0] + " " + m
	}
	return ""
}
