package commands

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// MaxMessageRunes bounds what the parser looks at; DingTalk allows far longer
// texts, and nothing this bot understands needs more.
const MaxMessageRunes = 2000

// Normalize folds what phones and Chinese input methods type into the forms
// the grammar expects: full-width letters, digits, '＝', '：', '／' and U+3000
// become their ASCII counterparts, em and en dashes become "--", and
// invisible zero-width characters go.
func Normalize(s string) string {
	s = width.Fold.String(s)
	// Phones turn a typed "--" into a dash; give flags back their hyphens.
	s = dashes.Replace(s)
	return strings.Map(func(r rune) rune {
		switch r {
		case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
			return -1
		}
		return r
	}, s)
}

var dashes = strings.NewReplacer("\u2014", "--", "\u2013", "--")

// quoteClosers maps each opening quote to the quotes that may close it. Phones
// insert curly quotes, and some keyboards use the closing form on both sides.
var quoteClosers = map[rune]string{
	'"':      `"`,
	'\'':     `'`,
	'“':      "”“",
	'”':      "”“",
	'‘':      "’‘",
	'’':      "’‘",
	'「':      "」",
	'『':      "』",
	'\u00ab': "\u00bb",
}

// token is one whitespace-separated word after quote removal.
type token struct {
	text string
	// eq and colon are the byte offsets in text of the first unquoted '='
	// and ':', or -1; sep is the one that splits key from value, or -1.
	eq, colon, sep int
}

func (t token) keyValue() (key, value string, ok bool) {
	if t.sep < 0 {
		return "", "", false
	}
	return t.text[:t.sep], t.text[t.sep+1:], true
}

// tokenize splits s at unquoted Unicode white space. A quote opens only at the
// start of a word or right after a key separator, so that apostrophes inside
// names (O'Brien) stay literal.
func tokenize(s string) ([]token, *Error) {
	var (
		toks    []token
		b       strings.Builder
		cur     = token{eq: -1, colon: -1, sep: -1}
		inWord  bool
		closers string
		opener  rune
	)
	flush := func() {
		if inWord {
			cur.text = b.String()
			toks = append(toks, withSeparator(cur))
		}
		b.Reset()
		cur = token{eq: -1, colon: -1, sep: -1}
		inWord = false
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if closers != "" {
			if strings.ContainsRune(closers, r) {
				closers = ""
				continue
			}
			b.WriteRune(r)
			continue
		}
		if unicode.IsSpace(r) {
			flush()
			continue
		}
		atValueStart := !inWord || (b.Len() > 0 && (cur.eq == b.Len()-1 || cur.colon == b.Len()-1))
		if c, ok := quoteClosers[r]; ok && atValueStart {
			inWord = true
			closers, opener = c, r
			continue
		}
		inWord = true
		switch {
		case r == '=' && cur.eq < 0:
			cur.eq = b.Len()
		case r == ':' && cur.colon < 0 && cur.eq < 0:
			cur.colon = b.Len()
		}
		b.WriteRune(r)
	}
	if closers != "" {
		return nil, invalid(nil, "err.unclosed_quote", string(opener))
	}
	flush()
	return toks, nil
}

// withSeparator picks where key and value split: at a ':' that follows a
// plain key name (email：a@b.com typed with a Chinese keyboard) unless it
// starts "://", else at the first '=' after a plain key name. Anything else
// (a bare URL, 10:30) is a positional word.
func withSeparator(t token) token {
	if t.colon >= 0 && isKeyName(t.text[:t.colon]) && !strings.HasPrefix(t.text[t.colon:], "://") {
		t.sep = t.colon
		return t
	}
	if t.eq >= 0 && (t.eq == 0 || isKeyName(t.text[:t.eq])) {
		t.sep = t.eq
	}
	return t
}

func isKeyName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range strings.TrimLeft(s, "-") {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
