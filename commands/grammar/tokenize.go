// Package grammar turns the text of a chat message into words: it folds
// what phones and Chinese input methods type into plain forms, splits at
// white space outside quotes, finds where a key ends and its value begins,
// and suggests the nearest spelling of a mistyped word. It knows nothing of
// the commands themselves.
package grammar

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Normalize folds what phones and Chinese input methods type into the forms
// the grammar expects: full-width letters, digits, '＝', '：', '／' and U+3000
// become their ASCII counterparts, em and en dashes become "--", and
// invisible zero-width characters go.
func Normalize(s string) string {
	if ascii(s) {
		return s // nothing to fold, no dash, no invisible character
	}
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

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
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

// Token is one whitespace-separated word after quote removal.
type Token struct {
	Text string
	// eq and colon are the byte offsets in Text of the first unquoted '='
	// and ':', or -1; sep is the one that splits key from value, or -1.
	eq, colon, sep int
}

// IsPair reports whether the word is a key and a value (name=x, email：x).
func (t Token) IsPair() bool { return t.sep >= 0 }

// KeyValue splits a pair into its key and value.
func (t Token) KeyValue() (key, value string, ok bool) {
	if t.sep < 0 {
		return "", "", false
	}
	return t.Text[:t.sep], t.Text[t.sep+1:], true
}

// UnclosedQuoteError reports a quote that opens a value and never closes.
type UnclosedQuoteError struct{ Quote rune }

func (e *UnclosedQuoteError) Error() string { return fmt.Sprintf("quote %c is not closed", e.Quote) }

// Tokenize splits s at unquoted Unicode white space. A quote opens only at
// the start of a word or right after a key separator, so that apostrophes
// inside names (O'Brien) stay literal. A quote left open is an
// *UnclosedQuoteError, and no words are returned with it.
func Tokenize(s string) ([]Token, error) {
	var (
		toks    []Token
		b       strings.Builder
		cur     = Token{eq: -1, colon: -1, sep: -1}
		inWord  bool
		closers string
		opener  rune
	)
	flush := func() {
		if inWord {
			cur.Text = b.String()
			toks = append(toks, withSeparator(cur))
		}
		b.Reset()
		cur = Token{eq: -1, colon: -1, sep: -1}
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
		// 姓名=孙七，手机=137…, name=Tom, email=…: list punctuation before
		// the next key (or at the end) separates; inside a value
		// (name=Tom,Jerry) it is part of it.
		if strings.ContainsRune(listSeparators, r) && pairFollows(s[i:]) {
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
		return nil, &UnclosedQuoteError{Quote: opener}
	}
	flush()
	return toks, nil
}

// listSeparators may stand between key=value pairs (after Normalize, which
// folds the full-width '，' and '；').
const listSeparators = ",;、"

// pairFollows reports whether rest, after white space, is empty or starts
// with a key and its separator (key=, key:, --key).
func pairFollows(rest string) bool {
	rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
	if rest == "" || strings.HasPrefix(rest, "--") {
		return true
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return unicode.IsSpace(r) || r == '=' || r == ':' })
	if end <= 0 {
		return false
	}
	return isKeyName(rest[:end]) && (rest[end] == '=' || (rest[end] == ':' && !strings.HasPrefix(rest[end:], "://")))
}

// withSeparator picks where key and value split: at a ':' that follows a
// plain key name (email：a@b.com typed with a Chinese keyboard) unless it
// starts "://", else at the first '=' after a plain key name. Anything else
// (a bare URL, a word with '=' inside) is a positional word.
func withSeparator(t Token) Token {
	if t.colon >= 0 && isKeyName(t.Text[:t.colon]) && !strings.HasPrefix(t.Text[t.colon:], "://") {
		t.sep = t.colon
		return t
	}
	if t.eq >= 0 && (t.eq == 0 || isKeyName(t.Text[:t.eq])) {
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
