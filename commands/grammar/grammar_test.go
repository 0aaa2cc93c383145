package grammar

import (
	"errors"
	"slices"
	"testing"
)

// pair renders a token as the parser sees it: key=value, or the bare word.
func pair(t Token) string {
	if k, v, ok := t.KeyValue(); ok {
		return k + "=" + v
	}
	return "word:" + t.Text
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"pairs and words", "/contact add name=A 10211", []string{"word:/contact", "word:add", "name=A", "word:10211"}},
		{"quoted value keeps spaces", `name="John Doe" x=1`, []string{"name=John Doe", "x=1"}},
		{"corner brackets", "name=「张 三」", []string{"name=张 三"}},
		{"curly quotes closed by either form", "name=”a b” n=‘c d’", []string{"name=a b", "n=c d"}},
		{"apostrophe inside a word is literal", "name=O'Brien", []string{"name=O'Brien"}},
		{"split at the first =", "name=a=b", []string{"name=a=b"}},
		{"a colon after a key name separates", "email:a@b.com", []string{"email=a@b.com"}},
		{"a URL is a word", "https://oapi.dingtalk.com/robot/send?access_token=x", []string{"word:https://oapi.dingtalk.com/robot/send?access_token=x"}},
		{"a key's value may be a URL", "webhook=https://x.example/a?b=c", []string{"webhook=https://x.example/a?b=c"}},
		{"= after something other than a key name", "a.b=c", []string{"word:a.b=c"}},
		{"=value has an empty key", "=value", []string{"=value"}},
		{"any Unicode space separates", "a\u3000b\u00a0c", []string{"word:a", "word:b", "word:c"}},
		{"nothing", "   ", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			toks, err := Tokenize(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tok := range toks {
				got = append(got, pair(tok))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Tokenize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestTokenizeUnclosedQuote(t *testing.T) {
	for in, quote := range map[string]rune{`name="John`: '"', "name=「John": '「', "'x": '\''} {
		toks, err := Tokenize(in)
		var q *UnclosedQuoteError
		if !errors.As(err, &q) || q.Quote != quote || toks != nil {
			t.Errorf("Tokenize(%q) = %v, %v; want no words and the quote %c", in, toks, err, quote)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"／contact　add　name＝张三　email：ａ＠ｂ．ｃｏｍ", "/contact add name=张三 email:a@b.com"},
		{"—name A –email b", "--name A --email b"},
		{"na\u200bme\ufeff=A", "name=A"},
	}
	for _, tc := range tests {
		got := Normalize(tc.in)
		if got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if Normalize(got) != got {
			t.Errorf("Normalize is not idempotent on %q", tc.in)
		}
	}
}

func TestClosest(t *testing.T) {
	cands := []string{"add", "delete", "email", "list", "show"}
	tests := []struct{ in, want string }{
		{"emial", "email"}, // a swapped pair is one edit
		{"emal", "email"},
		{"ad", "add"},
		{"lsit", "list"},
		{"dda", ""},   // two edits from a three-letter word is too far
		{"xyzzy", ""}, // nothing close
		{"delete", "delete"},
	}
	for _, tc := range tests {
		if got := Closest(tc.in, cands); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
