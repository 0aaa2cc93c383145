package commands

import (
	"context"
	"strings"
)

// Kind says how an argument's text is checked and normalised.
type Kind int

const (
	KindString Kind = iota
	KindName
	KindBool
	KindInt
	KindPhone
	KindEmail
	KindWebhook
	KindCommand // the rest of the words name a command (for /help)
)

// Arg declares one key a command accepts.
type Arg struct {
	Name       string   // canonical key, as shown in help
	Aliases    []string // other spellings accepted (ARMS names, Chinese)
	Kind       Kind
	Required   bool
	Positional bool // given as a bare word after the command, e.g. a ContactId
	Clearable  bool // key= with an empty value means "remove this"
	Example    string
	Help       string // catalog key of the one-line description
}

// Spec declares a command once; parsing, validation, help, error messages
// and audit records are all derived from it.
type Spec struct {
	Path    []string // words after the slash, e.g. {"contact", "add"}
	Aliases []string // other spellings of the last word
	Summary string   // catalog key
	Scope   string   // permission needed; "" means anyone
	Mutates bool     // changes ARMS
	Args    []Arg
	Example string
	Run     func(r *Runner, ctx context.Context, c *Call) (Result, error)
}

// Name is the command as people type it, without the slash.
func (s *Spec) Name() string { return strings.Join(s.Path, " ") }

// Usage renders the one-line synopsis.
func (s *Spec) Usage() string {
	var b strings.Builder
	b.WriteString("/" + s.Name())
	for _, a := range s.Args {
		var part string
		switch {
		case a.Kind == KindCommand:
			part = "<command>"
		case a.Positional:
			part = "<" + a.Name + ">"
		case a.Kind == KindBool:
			part = a.Name + "=true|false"
		default:
			part = a.Name + "=<" + a.Name + ">"
		}
		if !a.Required {
			part = "[" + part + "]"
		}
		b.WriteString(" " + part)
	}
	return b.String()
}

func (s *Spec) arg(key string) *Arg {
	for i := range s.Args {
		a := &s.Args[i]
		if a.Positional {
			continue
		}
		if a.Name == key {
			return a
		}
		for _, al := range a.Aliases {
			if al == key {
				return a
			}
		}
	}
	return nil
}

func (s *Spec) positional() []*Arg {
	var out []*Arg
	for i := range s.Args {
		if s.Args[i].Positional {
			out = append(out, &s.Args[i])
		}
	}
	return out
}

// keyNames lists every spelling of every key, for suggestions.
func (s *Spec) keyNames() []string {
	var out []string
	for _, a := range s.Args {
		if a.Positional {
			continue
		}
		out = append(out, a.Name)
		out = append(out, a.Aliases...)
	}
	return out
}

// Group aliases: other spellings of the first word of multi-word commands.
var groupAliases = map[string][]string{
	"contact": {"contacts", "联系人"},
}

// Commands returns the bot's command set. Adding a command is one entry here
// plus its handler.
func Commands() []*Spec {
	return []*Spec{
		{
			Path:    []string{"help"},
			Aliases: []string{"h", "?", "帮助"},
			Summary: "summary.help",
			Args:    []Arg{{Name: "command", Kind: KindCommand, Positional: true, Help: "arg.command", Example: "contact add"}},
			Example: "/help contact add",
			Run:     (*Runner).help,
		},
		{
			Path:    []string{"contact", "add"},
			Aliases: []string{"create", "new", "添加", "新增"},
			Summary: "summary.contact.add",
			Scope:   "contact.add",
			Mutates: true,
			Args: []Arg{
				{Name: "name", Aliases: []string{"contactname", "姓名", "名字"}, Kind: KindName, Required: true, Example: "JohnDoe", Help: "arg.name"},
				{Name: "phone", Aliases: []string{"phonenum", "mobile", "手机", "电话"}, Kind: KindPhone, Example: "13811112222", Help: "arg.phone"},
				{Name: "email", Aliases: []string{"mail", "邮箱"}, Kind: KindEmail, Example: "someone@example.com", Help: "arg.email"},
				{Name: "webhook", Aliases: []string{"dingrobotwebhookurl", "dingrobot", "robot", "钉钉", "机器人"}, Kind: KindWebhook, Example: "https://oapi.dingtalk.com/robot/send?access_token=...", Help: "arg.webhook"},
				{Name: "systemnoc", Aliases: []string{"system_noc", "系统通知"}, Kind: KindBool, Example: "true", Help: "arg.systemnoc"},
			},
			Example: "/contact add name=JohnDoe email=someone@example.com phone=13811112222 systemnoc=true",
			Run:     (*Runner).contactAdd,
		},
	}
}
