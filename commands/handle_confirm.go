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
		if a, _, held, err := r.waitingApproval(ctx, code); err == nil && held && c.Spec.Name() == "confirm" {
			if a.Requester == c.Msg.SenderID {
				return Pending{}, &Error{Code: EFORBIDDEN, Key: "approval.self", Args: []any{code}}
			}
			return Pending{}, &Error{Code: EINVALID, Key: "approval.use_approve", Args: []any{code, code}}
		}
		return Pending{}, &Error{Code: EINVALID, Key: "confirm.unknown", Args: []any{code, int(ConfirmTTL.Minutes())}}
	}
	return p, nil
}

func (r *Runner) confirm(ctx context.Context, c *Call) (Result, error) {
	if res, ok, err := r.resumeTaken(ctx, c); ok {
		return res, err
	}
	p, err := r.takePending(ctx, c)
	if err != nil {
		return Result{}, err
	}
	// The grant may have been revoked since the code was issued.
	if err := r.mayCarryOut(ctx, c, p); err != nil {
		return Result{}, err
	}
	return r.carryOut(ctx, c, p)
}

// resumeTaken finishes what an earlier owner of this message had taken
// the code (or the approval) for: the delete or the import is what
// remains, as its journal recorded it.
func (r *Runner) resumeTaken(ctx context.Context, c *Call) (Result, bool, error) {
	w, _, ok := c.Journal.Prior()
	if !ok {
		return Result{}, false, nil
	}
	if len(w.Batch) > 0 {
		res, err := r.runImport(ctx, c, nil)
		return res, true, err
	}
	var (
		res Result
		err error
	)
	switch w.Action {
	case "delete":
		res, err = r.deleteContact(ctx, c, w.Contact, true)
	case "group delete":
		res, err = r.deleteGroup(ctx, c, w.Group, true)
	case "robot delete":
		res, err = r.deleteRobot(ctx, c, w.Robot, true)
	default:
		return Result{}, false, nil
	}
	return res, true, err
}

// mayCarryOut fails unless the sender holds what p needs now.
func (r *Runner) mayCarryOut(ctx context.Context, c *Call, p Pending) error {
	need, known := confirmScopes[p.Action]
	if !known {
		return fmt.Errorf("unknown pending action %q", p.Action)
	}
	if err := r.require(ctx, c, need.scope, "", need.command); err != nil {
		return err
	}
	if p.Force {
		return r.require(ctx, c, "contact.force", "", need.command+" force=true")
	}
	if p.Action == "import" && importHasGroups(strings.Join(p.Rows, "\n")) {
		return r.require(ctx, c, "group.write", "", need.command)
	}
	return nil
}

// carryOut makes a confirmed (or approved) delete, or import.
func (r *Runner) carryOut(ctx context.Context, c *Call, p Pending) (Result, error) {
	if p.Action == "import" {
		return r.runImport(ctx, c, p.Rows)
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
		// Not a code of the sender's: a request of theirs waiting for
		// approval is withdrawn the same way.
		if a, _, ok, aerr := r.waitingApproval(ctx, c.Get("code")); aerr == nil && ok && a.Requester == c.Msg.SenderID {
			return r.reject(ctx, c)
		}
		return Result{}, err
	}
	if p.Action == "import" {
		return Result{Text: r.lang.T("import.cancelled", len(p.Rows))}, nil
	}
	if p.Action == "group delete" {
		return Result{Text: r.lang.T("group.cancel_done", p.Name, p.GroupID), GroupID: p.GroupID}, nil
	}
	if p.Action == "robot delete" {
		return Result{Text: r.lang.T("robot.cancel_done", p.Name, p.RobotID), RobotID: p.RobotID}, nil
	}
	return Result{Text: r.lang.T("cancel.done", p.Name, p.ContactID), ContactID: p.ContactID}, nil
}
