package commands

import (
	"context"
	"strings"
)

// help lists the commands the sender may run, or explains one command.
func (r *Runner) help(ctx context.Context, c *Call) (Result, error) {
	l := r.lang
	granted, err := r.senderGrants(ctx, c)
	if err != nil {
		return Result{}, err
	}
	if len(c.words) > 0 {
		return r.helpFor(c.words)
	}
	var items []string
	n := 0 // commands that needed a grant
	for _, s := range r.specs {
		if !Covers(granted, s.Scope) || s.Hidden || s.Name() == "help" {
			continue
		}
		if s.Scope != "" {
			n++
		}
		items = append(items, "- `/"+s.Name()+"` — "+l.T(s.Summary))
	}
	items = append(items, "- `/help` — "+l.T("summary.help"))
	lines := []string{l.T("help.header"), strings.Join(items, "\n")}
	if n == 0 {
		admins := strings.Join(r.admins, ", ")
		if admins == "" {
			admins = "BOT_ADMINS"
		}
		lines = append(lines, l.T("help.none", admins))
	}
	lines = append(lines, l.T("help.more"))
	return Result{Text: strings.Join(lines, "\n\n")}, nil
}

func (r *Runner) helpFor(words []string) (Result, error) {
	l := r.lang
	text := "/" + strings.TrimPrefix(strings.Join(words, " "), "/")
	call, err := Parse(r.specs, text)
	if err != nil {
		if e, ok := err.(*Error); ok && e.Key == "err.need_subcommand" {
			return Result{}, err
		}
		return Result{}, &Error{Code: EINVALID, Key: "help.unknown", Args: []any{short(text)}, Hint: hintOf(err)}
	}
	s := call.Spec
	lines := []string{"**/" + s.Name() + "** — " + l.T(s.Summary), l.T("usage", s.Usage())}
	var keys []string
	for _, a := range s.Args {
		req := l.T("help.optional")
		if a.Required {
			req = l.T("help.required")
		}
		line := "- `" + a.Name + "` (" + req + ") " + l.T(a.Help)
		if len(a.Aliases) > 0 {
			line += "; " + l.T("help.aliases") + ": " + strings.Join(a.Aliases, ", ")
		}
		keys = append(keys, line)
	}
	if len(keys) > 0 {
		lines = append(lines, l.T("help.keys"), strings.Join(keys, "\n"))
	}
	if s.Scope != "" {
		lines = append(lines, l.T("help.scope", s.Scope))
	}
	if len(s.Needs) > 0 {
		var also []string
		for _, n := range s.Needs {
			also = append(also, "- "+l.T(n.Doc))
		}
		lines = append(lines, l.T("help.also")+"\n"+strings.Join(also, "\n"))
	}
	lines = append(lines, l.T("example", s.Example))
	return Result{Text: strings.Join(lines, "\n\n")}, nil
}

func hintOf(err error) string {
	if e, ok := err.(*Error); ok {
		return e.Hint
	}
	return ""
}
