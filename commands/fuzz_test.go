package commands

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/armsbot/armsbot/commands/catalog"
	"github.com/armsbot/armsbot/commands/grammar"
)

// FuzzParse feeds the parser anything: it must never panic, every error must
// render in both languages, and a parsed command must validate without
// panicking. What a group sees of the error holds no live markup (no link,
// image, tag, URL or @all built from the text) and no phone number in
// full. Seeds live in testdata/fuzz/FuzzParse as well.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/contact add name=JohnDoe email=someone@example.com phone=13811112222 systemnoc=true",
		`/contact add name="John Doe" email='a@b.com'`,
		"/contact add name=“张 三” 邮箱：zs@example.com 手机＝１３８１１１１２２２２",
		"/contact update 10211 email= --systemnoc",
		"/contact delete 10211",
		"/confirm K7P2QX",
		"/help contact add",
		"—name 「x」 =value 'unclosed",
		"你好",
		"/contact add name=A email=a@example.com [登录验证](http://evil.example/login)",
		"/contact add name=![x](http://evil.example/t.png) phone=138 1111 2222x",
		"/contact show <font color=red>`@all`</font> 135.4444.5555",
	} {
		f.Add(s)
	}
	specs := Commands()
	runners := []*Runner{
		NewRunner(Settings{Lang: catalog.ZH}, Ports{}, nil),
		NewRunner(Settings{Lang: catalog.EN, Admins: []string{"a"}}, Ports{}, nil),
	}
	f.Fuzz(func(t *testing.T, text string) {
		n := grammar.Normalize(text)
		if grammar.Normalize(n) != n {
			t.Fatalf("Normalize is not idempotent on %q", text)
		}
		c, err := Parse(specs, text)
		if err == nil {
			if c.Spec == nil {
				t.Fatalf("Parse(%q) returned no spec and no error", text)
			}
			err = c.check()
		}
		if err == nil || errors.Is(err, errEmpty) || errors.Is(err, errNotCommand) {
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Parse(%q) returned a %T, want *Error", text, err)
		}
		if c == nil {
			c = &Call{} // a group chat, as far as anyone knows
		}
		for _, r := range runners {
			rep := r.errorReply(c, err)
			if live := catalog.LiveMarkup(rep.Text); len(live) > 0 {
				t.Fatalf("error for %q has live markup %q: %q", text, live, rep.Text)
			}
			if p := textPhone.FindString(catalogPhones.Replace(rep.Text)); p != "" {
				t.Fatalf("error for %q shows the group a phone number %q: %q", text, p, rep.Text)
			}
			// A formatting mistake shows as %!; the sender's own text may
			// contain it too, and is echoed.
			if rep.Text == "" || strings.Contains(rep.Text, "%!") && !strings.Contains(catalog.Visible(grammar.Normalize(text)), "%!") {
				t.Fatalf("error for %q renders badly in %s: %q", text, r.lang, rep.Text)
			}
			if !utf8.ValidString(rep.Text) && utf8.ValidString(text) {
				t.Fatalf("reply to valid UTF-8 %q is not valid UTF-8", text)
			}
		}
	})
}

// catalogPhones removes the example numbers the catalog itself gives.
var catalogPhones = strings.NewReplacer("13811112222", "", "+85291234567", "")
