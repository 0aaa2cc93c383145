package commands

import (
	"errors"
	"strings"

	"github.com/armsbot/armsbot/commands/catalog"
)

// This file is the one place where an error becomes chat text.

var titles = map[Code]string{
	EINVALID:   "title.invalid",
	EFORBIDDEN: "title.denied",
	ENOTFOUND:  "title.not_found",
	ECONFLICT:  "title.exists",
}

// errorReply is the one place where an error becomes chat text. Internal
// details stay in Reply.Err for the log. What the sender typed is echoed
// inert, and masked unless the chat is positively one-to-one.
func (r *Runner) errorReply(c *Call, err error) Reply {
	l := r.lang
	rep := Reply{Outcome: string(CodeOf(err)), Err: err}
	private := c != nil && c.Msg.Private
	if c != nil && c.Spec != nil {
		rep.Command = c.Spec.Name()
	}
	var (
		e  *Error
		ae ARMSError
	)
	switch {
	case errors.Is(err, ErrLostOwnership):
		// Another process finishes the message and replies; this reply is
		// dropped.
	case errors.As(err, &e):
		rep.Title = l.T(titles[e.Code])
		lines := []string{r.problemText(e, private)}
		if len(e.Also) > 0 {
			items := []string{"- " + lines[0]}
			for _, a := range e.Also {
				items = append(items, "- "+r.problemText(a, private))
			}
			lines = []string{l.T("err.problems", len(items)), strings.Join(items, "\n")}
		}
		if e.Hint != "" {
			lines = append(lines, l.T("err.did_you_mean", e.Hint))
		}
		if e.Usage != nil {
			lines = append(lines, l.T("usage", e.Usage.Usage())) // inert: its <…> and […] are not markup
		}
		rep.Text = strings.Join(lines, "\n\n")
	case errors.Is(err, ErrUnavailable):
		rep.Title = l.T("title.error")
		rep.Text = l.T("err.unavailable")

	case errors.As(err, &ae):
		rep.Title = l.T("title.error")
		rep.Text = armsText(l, ae)
		rep.RequestID = ae.RequestID()
	default:
		rep.Title = l.T("title.error")
		rep.Text = l.T("err.internal", errorRef(c))
	}
	return rep
}

// problemText renders one problem.
func (r *Runner) problemText(e *Error, private bool) string {
	if e.Code == EFORBIDDEN && len(r.admins) == 0 && e.Key == "err.denied" {
		return r.lang.T("err.denied_nobody", r.localArgs(e, private)...)
	}
	args := r.localArgs(e, private)
	if e.Key == "err.denied" || e.Key == "err.denied_self_channels" {
		args = append(args, r.granters())
	}
	return r.lang.T(e.Key, args...)
}

// localArgs renders an error's arguments in the reply's language; the
// sender's own words are masked unless the chat is private.
func (r *Runner) localArgs(e *Error, private bool) []any {
	args := make([]any, len(e.Args))
	for i, a := range e.Args {
		switch v := a.(type) {
		case msgArg:
			// Its own arguments were made inert when it was rendered.
			a = catalog.Markdown(r.lang.T(v.key, v.args...))
		case echoed:
			if !private {
				a = MaskText(string(v))
			}
		}
		args[i] = a
	}
	return args
}

// granters names who can grant scopes: the configured admins.
func (r *Runner) granters() string {
	if len(r.admins) == 0 {
		return "BOT_ADMINS"
	}
	return strings.Join(r.admins, ", ")
}

// errorRef gives the sender something to quote to operators: the message id,
// which every log line of the message carries.
func errorRef(c *Call) string {
	if c == nil || c.Msg.ID == "" {
		return "-"
	}
	return c.Msg.ID
}

// armsText turns an ARMS failure into advice by its kind, never echoing raw
// SDK output.
func armsText(l catalog.Lang, e ARMSError) string {
	code, rid := e.ErrorCode(), e.RequestID()
	if rid == "" {
		rid = "-"
	}
	switch e.Fault() {
	case FaultNoAnswer:
		return l.T("arms.timeout")
	case FaultUnreachable:
		return l.T("arms.unreachable", e.Message())
	case FaultForbidden:
		return l.T("arms.forbidden", e.Action(), e.Action(), rid)
	case FaultThrottled:
		return l.T("arms.throttled", code, rid)
	case FaultNotActivated:
		return l.T("arms.not_open", rid)
	case FaultCredentials:
		return l.T("arms.credentials", code, rid)
	case FaultUnavailable:
		return l.T("arms.unavailable", code, rid)
	case FaultInvalid:
		return l.T("arms.invalid", code, e.Message(), rid)
	case FaultTooFrequent:
		return l.T("arms.too_frequent", rid)
	}
	return l.T("arms.other", code, e.Message(), rid)
}
