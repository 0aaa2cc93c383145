package commands

import (
	"context"
	"errors"

	"github.com/armsbot/armsbot/commands/catalog"
)

// What the configured contact family can hold, and phone verification:
// in ARMS's Alert Management family, ARMS calls and texts only a number
// whose owner opened ARMS's verification link.

// familyAllows refuses keys the configured contact family has no place
// for, each with what to do instead.
func (r *Runner) familyAllows(c *Call) error {
	t := r.arms.Traits()
	var problems []*Error
	if c.Get("webhook") != "" && !t.Robots && c.Spec.Path[0] != "robot" {
		problems = append(problems, invalid(nil, "family.webhook", t.Family))
	}
	if c.Has("systemnoc") && !t.SystemNoc {
		problems = append(problems, invalid(nil, "family.systemnoc", t.Family))
	}
	if c.Has("fallback") && !t.Fallback {
		problems = append(problems, invalid(nil, "family.fallback", t.Family))
	}
	if c.Has("verified") && !t.Verification {
		problems = append(problems, invalid(nil, "family.verify", t.Family))
	}
	if c.Spec.Path[0] == "robot" && !t.IMRobots {
		problems = append(problems, invalid(nil, "family.robot", t.Family))
	}
	if len(problems) == 0 {
		return nil
	}
	first := problems[0]
	first.Usage, first.Also = c.Spec, problems[1:]
	return first
}

// newPhone follows a write that gave the contact ct (its id set) a new
// phone: in a family that verifies phones, the number is not verified
// yet, the link goes out unless BOT_VERIFY_PHONES=manual, and the line
// returned says so. pending is the contact to remind about.
func (r *Runner) newPhone(ctx context.Context, c *Call, ct *Contact) (line, pending string) {
	if !r.arms.Traits().Verification || ct.Phone == "" {
		return "", ""
	}
	ct.Verified = PhoneUnverified
	if !r.autoLink || r.verifier == nil {
		return r.lang.T("verify.manual", ct.ID), ct.ID
	}
	if _, err := r.verifier.SendVerification(ctx, ct.ID, ct.Phone); err != nil {
		r.log.Warn("verification link not sent", "contact_id", ct.ID, "err", LogText(err))
		fail := r.errorReply(c, err)
		return r.lang.T("verify.send_failed", catalog.Markdown(fail.Text), ct.ID), ct.ID
	}
	return r.lang.T("verify.sent", r.shown("phone", ct.Phone, !c.Msg.Private)), ct.ID
}

// contactVerify sends the contact's phone ARMS's verification link again.
// It takes contact.update, or the contact being the sender's own (added
// with /contact add me or @them).
func (r *Runner) contactVerify(ctx context.Context, c *Call) (Result, error) {
	id := c.Get("id")
	if err := r.require(ctx, c, "contact.update", "", "/contact verify"); err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Code != EFORBIDDEN || e.Key != "err.denied" || r.owners == nil {
			return Result{}, err
		}
		owner, oerr := r.owners.Owner(ctx, id)
		if oerr != nil {
			return Result{}, oerr
		}
		if owner != c.Msg.SenderID {
			e.Key = "err.denied_verify"
			return Result{}, e
		}
	}
	if t := r.arms.Traits(); !t.Verification || r.verifier == nil {
		return Result{}, invalid(nil, "family.verify", t.Family)
	}
	ct, err := r.find(ctx, id)
	switch {
	case err != nil:
		return Result{}, err
	case ct.Phone == "":
		return Result{}, invalid(nil, "verify.no_phone", ct.Name, ct.ID)
	case ct.Verified == PhoneVerified:
		return Result{Text: r.lang.T("verify.already", ct.Name, ct.ID, r.shown("phone", ct.Phone, !c.Msg.Private)), ContactID: ct.ID}, nil
	}
	rc, err := r.verifier.SendVerification(ctx, ct.ID, ct.Phone)
	if err != nil {
		return Result{}, err
	}
	text := r.lang.T("verify.sent_for", ct.Name, ct.ID, r.shown("phone", ct.Phone, !c.Msg.Private)) + "\n\n" +
		r.lang.T("field.request_id") + ": " + rc.RequestID
	return Result{Text: text, ContactID: ct.ID, RequestID: rc.RequestID, VerifyPending: ct.ID}, nil
}

// verification is how a reply shows what ARMS says of a phone.
func (r *Runner) verification(v Verification) string {
	switch v {
	case PhoneVerified:
		return " (" + r.lang.T("verify.state_yes") + ")"
	case PhoneUnverified:
		return " (" + r.lang.T("verify.state_no") + ")"
	}
	return ""
}

// Reminder is the reminder, for the sender of m in m's conversation, that
// contact id's phone is still not verified. remind is false, and there is
// nothing to say, when it no longer needs reminding: it is verified, has
// no phone, or is gone.
func (r *Runner) Reminder(ctx context.Context, id string, m Message) (rep Reply, remind bool, err error) {
	ct, err := r.find(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Reply{}, false, nil
	case err != nil:
		return Reply{}, true, err
	case ct.Phone == "" || ct.Verified != PhoneUnverified:
		return Reply{}, false, nil
	}
	text := r.lang.T("verify.reminder", ct.Name, ct.ID, r.shown("phone", ct.Phone, !m.Private), ct.ID)
	return Reply{Title: r.lang.T("title.reminder"), Text: text, Command: "contact verify", Outcome: "reminder", ContactID: ct.ID}, true, nil
}
