package commands

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ConfirmTTL is how long a confirmation code stays valid.
const ConfirmTTL = 5 * time.Minute

// codeAlphabet leaves out look-alikes (0/O, 1/I/L) that people mistype.
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

func newCode() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}

// takePending removes the sender's pending action named by the code: a code
// works once, and only for whoever was given it.
func (r *Runner) takePending(ctx context.Context, c *Call) (Pending, error) {
	code := c.Get("code")
	p, ok, err := r.confirms.Take(ctx, c.Msg.SenderID, code)
	if err != nil {
		return Pending{}, err
	}
	if !ok {
		return Pending{}, &Error{Code: EINVALID, Key: "confirm.unknown", Args: []any{code, int(ConfirmTTL.Minutes())}}
	}
	return p, nil
}

func (r *Runner) confirm(ctx context.Context, c *Call) (Result, error) {
	// An earlier owner of this message took the code and was deleting: the
	// code is gone, the delete is what remains to finish.
	if w, _, ok := c.Journal.Prior(); ok {
		switch w.Action {
		case "delete":
			return r.deleteContact(ctx, c, w.Contact, true)
		case "group delete":
			return r.deleteGroup(ctx, c, w.Group, true)
		case "robot delete":
			return r.deleteRobot(ctx, c, w.Robot, true)
		}
	}
	p, err := r.takePending(ctx, c)
	if err != nil {
		return Result{}, err
	}
	need, known := confirmScopes[p.Action]
	if !known {
		return Result{}, fmt.Errorf("unknown pending action %q", p.Action)
	}
	// The grant may have been revoked since the code was issued.
	if err := r.require(ctx, c, need.scope, "", need.command); err != nil {
		return Result{}, err
	}
	if p.Force {
		if err := r.require(ctx, c, "contact.force", "", need.command+" force=true"); err != nil {
			return Result{}, err
		}
	}
	// The policies may have changed since the preview: read them again,
	// just before the write.
	var (
		ch   change
		what string
	)
	switch p.Action {
	case "group delete":
		ch, what = change{group: p.GroupID}, r.lang.T("what.group", p.Name, p.GroupID)
	case "robot delete":
		ch, what = change{robot: p.RobotID}, r.lang.T("what.robot", p.Name, p.RobotID)
	default:
		ch, what = change{contact: p.ContactID}, r.lang.T("what.contact", p.Name, p.ContactID)
	}
	g, err := r.guard(ctx, c, ch, what, p.Force)
	if err != nil {
		return Result{}, err
	}
	var (
		res    Result
		groups []Group
	)
	switch p.Action {
	case "group delete":
		res, err = r.deleteGroup(ctx, c, Group{ID: p.GroupID, Name: p.Name}, false)
		res.Policies = g.affected(ReceiverGroup, p.GroupID, nil)
	case "robot delete":
		res, err = r.deleteRobot(ctx, c, Robot{ID: p.RobotID, Name: p.Name}, false)
		res.Policies = g.affected(ReceiverRobot, p.RobotID, nil)
	default:
		if len(g.policies) > 0 {
			// For the audit trail: the policies that reached it through
			// a group (best effort: the delete does not wait on it).
			groups, _ = r.groupsOf(ctx, p.ContactID)
		}
		res, err = r.deleteContact(ctx, c, Contact{ID: p.ContactID, Name: p.Name}, false)
		res.Policies = g.affected(ReceiverContact, p.ContactID, groups)
	}
	if err != nil {
		return Result{}, err
	}
	if extra := g.lines(r.lang); len(extra) > 0 {
		res.Text += "\n\n" + strings.Join(extra, "\n\n")
	}
	return res, nil
}

// deleteContact deletes ct, under its lock. Resuming an earlier owner's
// delete, "nothing to delete" means that owner deleted it.
func (r *Runner) deleteContact(ctx context.Context, c *Call, ct Contact, resumed bool) (Result, error) {
	if resumed {
		if err := r.awaitPrior(ctx, c); err != nil {
			return Result{}, err
		}
	}
	rc, sendBy, err := write(ctx, c.Journal, Write{Action: "delete", Contact: ct}, []string{contactKey(ct.ID)}, func(ctx context.Context) (Receipt, error) {
		return r.arms.DeleteContact(ctx, ct.ID)
	})
	switch {
	case sendBy.IsZero() && err != nil: // nothing was sent
		return Result{}, err
	case errors.Is(err, ErrNotFound) && !resumed:
		return Result{}, notFound(ct.ID)
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return Result{}, fmt.Errorf("delete contact %s: %w", ct.ID, err)
	}
	return Result{Text: r.lang.T("delete.done", ct.Name, ct.ID) + "\n\n" + r.lang.T("field.request_id") + ": " + rc.RequestID,
		ContactID: ct.ID, RequestID: rc.RequestID}, nil
}

func (r *Runner) cancel(ctx context.Context, c *Call) (Result, error) {
	p, err := r.takePending(ctx, c)
	if err != nil {
		return Result{}, err
	}
	if p.Action == "group delete" {
		return Result{Text: r.lang.T("group.cancel_done", p.Name, p.GroupID), GroupID: p.GroupID}, nil
	}
	if p.Action == "robot delete" {
		return Result{Text: r.lang.T("robot.cancel_done", p.Name, p.RobotID), RobotID: p.RobotID}, nil
	}
	return Result{Text: r.lang.T("cancel.done", p.Name, p.ContactID), ContactID: p.ContactID}, nil
}
