package commands

import (
	"context"
	"fmt"
	"strings"
)

// Contact is an ARMS alert contact as this bot sees it.
type Contact struct {
	ID        string
	Name      string
	Phone     string
	Email     string
	Webhook   string // DingTalk custom-robot URL
	SystemNoc bool
}

// Validate enforces ARMS's rule that a contact has at least one channel.
func (c Contact) Validate() error {
	if c.Phone == "" && c.Email == "" && c.Webhook == "" {
		return &Error{Code: EINVALID, Key: "err.need_channel"}
	}
	return nil
}

func (r *Runner) contactAdd(ctx context.Context, c *Call) (Result, error) {
	ct := Contact{
		Name:      c.Get("name"),
		Phone:     c.Get("phone"),
		Email:     c.Get("email"),
		Webhook:   c.Get("webhook"),
		SystemNoc: c.Bool("systemnoc"),
	}
	if err := ct.Validate(); err != nil {
		err.(*Error).Usage = c.Spec
		return Result{}, err
	}
	rc, err := r.arms.CreateContact(ctx, ct)
	if err != nil {
		return Result{}, fmt.Errorf("create contact: %w", err)
	}
	ct.ID = rc.ContactID
	lines := []string{
		r.lang.T("add.created", ct.Name, ct.ID),
		strings.Join(r.contactLines(ct, c.Msg.Group), "\n"),
		r.lang.T("field.request_id") + ": " + rc.RequestID,
	}
	return Result{Text: strings.Join(lines, "\n\n"), ContactID: rc.ContactID, RequestID: rc.RequestID}, nil
}

// contactLines renders a contact's channels, masked in group chats.
func (r *Runner) contactLines(ct Contact, group bool) []string {
	l := r.lang
	var out []string
	if ct.Phone != "" {
		v := ct.Phone
		if group {
			v = MaskPhone(v)
		}
		out = append(out, "- "+l.T("field.phone")+": "+v)
	}
	if ct.Email != "" {
		v := ct.Email
		if group {
			v = MaskEmail(v)
		}
		out = append(out, "- "+l.T("field.email")+": "+v)
	}
	if ct.Webhook != "" {
		v := ct.Webhook
		if group {
			v = MaskWebhook(v)
		}
		out = append(out, "- "+l.T("field.webhook")+": "+v)
	}
	noc := l.T("no")
	if ct.SystemNoc {
		noc = l.T("yes")
	}
	out = append(out, "- "+l.T("field.systemnoc")+": "+noc)
	return out
}
