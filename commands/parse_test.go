package commands

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

// parsed runs Parse and check and flattens the outcome for table rows.
func parsed(text string) (cmd string, vals map[string]string, errKey string, err error) {
	c, err := Parse(Commands(), text)
	if err == nil {
		err = c.check()
	}
	var e *Error
	switch {
	case err == nil:
		return c.Spec.Name(), c.vals, "", nil
	case errors.As(err, &e):
		return "", nil, e.Key, err
	}
	return "", nil, "", err
}

func TestParseAccepts(t *testing.T) {
	add := "contact add"
	tests := []struct {
		name string
		text string
		want map[string]string
	}{
		{"the design card example", "/contact add name=JohnDoe email=someone@example.com phone=13811112222 systemnoc=true",
			map[string]string{"name": "JohnDoe", "email": "someone@example.com", "phone": "13811112222", "systemnoc": "true"}},
		{"keys are case-insensitive", "/Contact ADD Name=A EMAIL=a@example.com", map[string]string{"name": "A", "email": "a@example.com"}},
		{"value split at the first =", "/contact add name=a=b email=a@example.com", map[string]string{"name": "a=b", "email": "a@example.com"}},
		{"ARMS parameter names", "/contact add contactname=A phonenum=13811112222 dingrobotwebhookurl=https://oapi.dingtalk.com/robot/send?access_token=abc123",
			map[string]string{"name": "A", "phone": "13811112222", "webhook": "https://oapi.dingtalk.com/robot/send?access_token=abc123"}},
		{"Chinese aliases", "/contact add 姓名=张三 手机=13811112222 邮箱=zs@example.com 钉钉=https://oapi.dingtalk.com/robot/send?access_token=t1",
			map[string]string{"name": "张三", "phone": "13811112222", "email": "zs@example.com", "webhook": "https://oapi.dingtalk.com/robot/send?access_token=t1"}},
		{"more Chinese aliases", "/联系人 添加 名字=李四 电话=13811112222 机器人=https://oapi.dingtalk.com/robot/send?access_token=t2",
			map[string]string{"name": "李四", "phone": "13811112222", "webhook": "https://oapi.dingtalk.com/robot/send?access_token=t2"}},
		{"double quotes", `/contact add name="John Doe" email=a@example.com`, map[string]string{"name": "John Doe", "email": "a@example.com"}},
		{"single quotes", `/contact add name='John Doe' email=a@example.com`, map[string]string{"name": "John Doe", "email": "a@example.com"}},
		{"curly double quotes", "/contact add name=“John Doe” email=a@example.com", map[string]string{"name": "John Doe", "email": "a@example.com"}},
		{"curly single quotes", "/contact add name=‘John Doe’ email=a@example.com", map[string]string{"name": "John Doe", "email": "a@example.com"}},
		{"closing curly quote on both sides", "/contact add name=”John Doe” email=a@example.com", map[string]string{"name": "John Doe", "email": "a@example.com"}},
		{"corner brackets", "/contact add name=「张 三」 email=a@example.com", map[string]string{"name": "张 三", "email": "a@example.com"}},
		{"quoted value containing =", `/contact add name="a=b c" email=a@example.com`, map[string]string{"name": "a=b c", "email": "a@example.com"}},
		{"apostrophe inside a name", "/contact add name=O'Brien email=a@example.com", map[string]string{"name": "O'Brien", "email": "a@example.com"}},
		{"full-width equals and colon", "/contact add name＝张三 email：zs@example.com", map[string]string{"name": "张三", "email": "zs@example.com"}},
		{"full-width slash and space", "／contact　add　name=A　email=a@example.com", map[string]string{"name": "A", "email": "a@example.com"}},
		{"other Unicode spaces", "/contact\u00a0add\u2003name=A\u2009email=a@example.com", map[string]string{"name": "A", "email": "a@example.com"}},
		{"full-width digits in phone", "/contact add name=A phone=１３８１１１１２２２２", map[string]string{"name": "A", "phone": "13811112222"}},
		{"full-width letters in email", "/contact add name=A email=ｓｏｍｅｏｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", map[string]string{"name": "A", "email": "someone@example.com"}},
		{"zero-width space", "/contact add name=A\u200b email=a@example.com", map[string]string{"name": "A", "email": "a@example.com"}},
		{"phone with +86 and dashes", "/contact add name=A phone=+86-138-1111-2222", map[string]string{"name": "A", "phone": "13811112222"}},
		{"international phone", "/contact add name=A phone=+85291234567", map[string]string{"name": "A", "phone": "+85291234567"}},
		{"email domain lower-cased", "/contact add name=A email=Some.One@Example.COM", map[string]string{"name": "A", "email": "Some.One@example.com"}},
		{"--key value flags", "/contact add --name A --email a@example.com", map[string]string{"name": "A", "email": "a@example.com"}},
		{"--key=value flags", "/contact add --name=A --email=a@example.com --systemnoc", map[string]string{"name": "A", "email": "a@example.com", "systemnoc": "true"}},
		{"phone-typed em dash flags", "/contact add —name A —email a@example.com", map[string]string{"name": "A", "email": "a@example.com"}},
		{"boolean words", "/contact add name=A email=a@example.com systemnoc=否", map[string]string{"name": "A", "email": "a@example.com", "systemnoc": "false"}},
		{"command without slash", "contact add name=A email=a@example.com", map[string]string{"name": "A", "email": "a@example.com"}},
		{"subcommand alias", "/contact create name=A email=a@example.com", map[string]string{"name": "A", "email": "a@example.com"}},
		{"full-width comma between pairs", "/contact add 姓名=孙七，手机=13700001111", map[string]string{"name": "孙七", "phone": "13700001111"}},
		{"comma and space between pairs", "/contact add name=Tom, email=tom@example.com", map[string]string{"name": "Tom", "email": "tom@example.com"}},
		{"semicolons between pairs", "/contact add name=Tom;email=tom@example.com； phone=13700001111", map[string]string{"name": "Tom", "email": "tom@example.com", "phone": "13700001111"}},
		{"enumeration comma between pairs", "/contact add 姓名=孙七、邮箱=sq@example.com", map[string]string{"name": "孙七", "email": "sq@example.com"}},
		{"trailing comma", "/contact add name=Tom email=tom@example.com,", map[string]string{"name": "Tom", "email": "tom@example.com"}},
		{"comma inside a value", "/contact add name=Tom,Jerry email=tj@example.com", map[string]string{"name": "Tom,Jerry", "email": "tj@example.com"}},
		{"comma after a quoted value", `/contact add name="Tom Lee", email=tl@example.com`, map[string]string{"name": "Tom Lee", "email": "tl@example.com"}},
		{"phone in spaced groups", "/contact add name=A phone=138 1111 3333", map[string]string{"name": "A", "phone": "13811113333"}},
		{"phone with dashes", "/contact add name=A phone=138-1111-3333", map[string]string{"name": "A", "phone": "13811113333"}},
		{"phone with dots", "/contact add name=A phone=135.4444.5555", map[string]string{"name": "A", "phone": "13544445555"}},
		{"phone with +86 and spaces", "/contact add name=A phone=+86 138 1111 3333 email=a@example.com", map[string]string{"name": "A", "phone": "13811113333", "email": "a@example.com"}},
		{"spaced phone as a flag", "/contact add --name A --phone 138 1111 3333", map[string]string{"name": "A", "phone": "13811113333"}},
		{"spaced international phone", "/contact add name=A phone=+49 170 1234 5678", map[string]string{"name": "A", "phone": "+4917012345678"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, vals, _, err := parsed(tc.text)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tc.text, err)
			}
			if cmd != add {
				t.Fatalf("command = %q, want %q", cmd, add)
			}
			if !maps.Equal(vals, tc.want) {
				t.Fatalf("values = %v, want %v", vals, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		wantKey string
		wantIn  string // in the English rendering
	}{
		{"unbalanced double quote", `/contact add name="John email=a@example.com`, "err.unclosed_quote", `"`},
		{"unbalanced corner bracket", "/contact add name=「John email=a@example.com", "err.unclosed_quote", "「"},
		{"=value without key", "/contact add =value name=A", "err.missing_key", "=value"},
		{"key= on a required key", "/contact add name= email=a@example.com", "err.missing_value", "name"},
		{"flag without value", "/contact add --name", "err.missing_value", "--name"},
		{"unknown key with suggestion", "/contact add name=A emial=a@example.com", "err.unknown_key_hint", "email"},
		{"unknown key, nothing close", "/contact add name=A colour=red", "err.unknown_key", "colour"},
		{"duplicate key", "/contact add name=A name=B email=a@example.com", "err.duplicate_key", "name"},
		{"duplicate through an alias", "/contact add name=A 姓名=B email=a@example.com", "err.duplicate_key", "name/姓名"},
		{"stray word", "/contact add name=A hello email=a@example.com", "err.extra_arg", "hello"},
		{"digits after a complete phone", "/contact add name=A phone=138 1111 2222 3333", "err.extra_arg", "3333"},
		{"unknown command", "/contcat add name=A", "err.unknown_command", "/contcat"},
		{"unknown subcommand", "/contact ad name=A", "err.unknown_command", "/contact ad"},
		{"missing subcommand", "/contact", "err.need_subcommand", "add"},
		{"no channel", "/contact add name=A", "err.need_channel", "phone, email or webhook"},
		{"name missing", "/contact add email=a@example.com", "err.required", "name"},
		{"10 KB of text", "/contact add name=" + strings.Repeat("x", 10<<10), "err.too_long", "2000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, key, err := parsed(tc.text)
			if key != tc.wantKey {
				t.Fatalf("Parse(%.60q) error key = %q (%v), want %q", tc.text, key, err, tc.wantKey)
			}
			if err != nil && !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q does not mention %q", err, tc.wantIn)
			}
		})
	}
}

func TestParseSuggestions(t *testing.T) {
	tests := []struct{ text, hint string }{
		{"/contcat add", "/contact"},
		{"/hlep", "/help"},
		{"/contact ad", "/contact add"},
		{"/contact dda", ""},
		{"/xyzzy", ""},
	}
	for _, tc := range tests {
		_, err := Parse(Commands(), tc.text)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Parse(%q) = %v, want an *Error", tc.text, err)
		}
		if e.Hint != tc.hint {
			t.Errorf("Parse(%q) hint = %q, want %q", tc.text, e.Hint, tc.hint)
		}
	}
}

func TestParseChatterAndEmpty(t *testing.T) {
	for _, text := range []string{"你好", "hello there", "name=x", `what "is this`, "谢谢！"} {
		if _, err := Parse(Commands(), text); !errors.Is(err, errNotCommand) {
			t.Errorf("Parse(%q) = %v, want errNotCommand", text, err)
		}
	}
	for _, text := range []string{"", "   ", "\u3000", "/"} {
		if _, err := Parse(Commands(), text); !errors.Is(err, errEmpty) {
			t.Errorf("Parse(%q) = %v, want errEmpty", text, err)
		}
	}
}

func TestHelpTakesTheRestAsACommand(t *testing.T) {
	c, err := Parse(Commands(), "/help contact add")
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.Name() != "help" || strings.Join(c.words, " ") != "contact add" {
		t.Fatalf("parsed %q with words %v", c.Spec.Name(), c.words)
	}
}
