package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/armsbot/armsbot/commands/catalog"
)

// Settings are the runner's own configuration.
type Settings struct {
	Lang   catalog.Lang
	Admins []string // hold every scope and cannot be revoked from chat
	// WriteConversations, when not empty, are the only conversations where
	// commands that change something may run.
	WriteConversations []string
	// WriteWindow is how long after its intent an ARMS write may still be
	// sent (ARMS_TIMEOUT): what a lost record's message may have written
	// can land until then.
	WriteWindow time.Duration
	// VerifyAuto: after a contact gets a phone, the bot sends ARMS's
	// verification link itself (BOT_VERIFY_PHONES=auto); otherwise
	// /contact verify does.
	VerifyAuto bool
	// Approval names what waits for a second person (BOT_APPROVAL), for
	// ApprovalTTL (BOT_APPROVAL_TTL, default 30m).
	Approval    []ApprovalRule
	ApprovalTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// ImportMax bounds an import's rows (BOT_IMPORT_MAX, default 200).
	ImportMax int
}

// Ports are the runner's dependencies on the outside world.
type Ports struct {
	Permissions   Permissions
	Confirmations Confirmations
	Audit         AuditLog
	Contacts      Contacts
	Groups        Groups
	Planner       Planner   // what a dry run shows
	Directory     Directory // the organisation directory, for /contact add me
	Verifier      PhoneVerifier
	Owners        Owners
	Policies      Policies // where alerts go: deletes that would silence one are refused
	Robots        Robots   // IM robots (alert-management)
	Approvals     Approvals
}

// Runner parses, authorises and runs commands. It is safe for concurrent use.
type Runner struct {
	specs       []*Spec
	lang        catalog.Lang
	admins      []string
	writable    []string
	perms       Permissions
	confirms    Confirmations
	audit       AuditLog
	arms        Contacts
	groups      Groups
	planner     Planner
	directory   Directory
	verifier    PhoneVerifier
	owners      Owners
	policies    Policies
	robots      Robots
	window      time.Duration // Settings.WriteWindow
	autoLink    bool          // Settings.VerifyAuto
	approval    []ApprovalRule
	approvalTTL time.Duration
	approvals   Approvals
	now         func() time.Time
	importMax   int
	log         *slog.Logger
	// pause waits d or until ctx ends: how a handler waits for an earlier
	// write to become visible. Tests replace it.
	pause func(ctx context.Context, d time.Duration) error
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// NewRunner wires the command set to its dependencies.
func NewRunner(s Settings, p Ports, log *slog.Logger) *Runner {
	return &Runner{specs: Commands(), lang: s.Lang, admins: s.Admins, writable: s.WriteConversations,
		perms: p.Permissions, confirms: p.Confirmations, audit: p.Audit, arms: p.Contacts, groups: p.Groups,
		planner: p.Planner, directory: p.Directory, verifier: p.Verifier, owners: p.Owners, policies: p.Policies, robots: p.Robots,
		window: s.WriteWindow, autoLink: s.VerifyAuto,
		approval: s.Approval, approvalTTL: cmp.Or(s.ApprovalTTL, ApprovalTTL), approvals: p.Approvals, now: s.Now,
		importMax: cmp.Or(s.ImportMax, ImportMax),
		log:       log, pause: pause}
}

// Text is a message of the runner's catalog, for what a reply's sender
// says itself (a card's notices).
func (r *Runner) Text(key string, args ...any) string { return r.lang.T(key, args...) }

// clock is the runner's time.
func (r *Runner) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// Handle runs one message to completion and never returns without a reply.
// j is the message's journal: writes are recorded there before they are
// made, and what an earlier owner of the message recorded is reconciled
// first. A reply whose outcome is ELOST must be dropped: another process
// owns the message now.
func (r *Runner) Handle(ctx context.Context, m Message, j Journal) Reply {
	var (
		call *Call
		err  error
	)
	if rd := m.Read; rd != nil && !rd.used && rd.text == m.Text {
		rd.used, call = true, rd.call
	} else {
		call, err = Parse(r.specs, m.Text)
	}
	switch {
	case errors.Is(err, errEmpty):
		return Reply{Title: r.lang.T("title.help"), Text: r.lang.T("hint.empty"), Outcome: "hint"}
	case errors.Is(err, errNotCommand):
		return Reply{Title: r.lang.T("title.help"), Text: r.lang.T("hint.not_command"), Outcome: "hint", Args: MaskText(m.Text)}
	case err != nil:
		rep := r.errorReply(&Call{Msg: m}, err)
		rep.Args = MaskText(m.Text)
		return rep
	}
	call.Msg, call.Journal = m, j
	rep := r.run(ctx, call)
	rep.Args = call.auditArgs()
	return rep
}

func (r *Runner) run(ctx context.Context, call *Call) Reply {
	if err := r.authorize(ctx, call); err != nil {
		return r.errorReply(call, err)
	}
	if call.Spec.Writes && len(r.writable) > 0 && !slices.Contains(r.writable, call.Msg.ConversationID) {
		return r.errorReply(call, &Error{Code: EFORBIDDEN, Key: "err.conversation", Args: []any{"/" + call.Spec.Name()}})
	}
	if err := call.check(); err != nil {
		return r.errorReply(call, err)
	}
	if err := r.familyAllows(call); err != nil {
		return r.errorReply(call, err)
	}
	if err := r.authorizeNeeds(ctx, call); err != nil {
		return r.errorReply(call, err)
	}
	if err := r.resolveMentions(ctx, call); err != nil {
		return r.errorReply(call, err)
	}
	var (
		res Result
		err error
	)
	if rule, held := r.approvalRule(call); held && !call.approved {
		res, err = r.holdForApproval(ctx, call, rule)
	} else {
		res, err = call.Spec.Run(r, ctx, call)
	}
	if err != nil {
		return r.errorReply(call, err)
	}
	title := "title.ok"
	if call.Spec.Title != "" {
		title = call.Spec.Title
	}
	if res.Title != "" {
		title = res.Title
	}
	rep := Reply{
		Title:         r.lang.T(title),
		Text:          res.Text,
		Command:       call.Spec.Name(),
		Outcome:       "ok",
		ContactID:     res.ContactID,
		Contacts:      res.Contacts,
		GroupID:       res.GroupID,
		RobotID:       res.RobotID,
		RequestID:     res.RequestID,
		Policies:      res.Policies,
		VerifyPending: res.VerifyPending,
		RequestedBy:   res.RequestedBy,
		Rows:          res.Rows,
	}
	if d := call.decision; d != nil && !res.DryRun {
		rep.Decision = d
		if d.Kind == "approval" {
			// It waits for a second person, under the code.
			rep.Outcome, rep.Approval = "held", d.Code
		}
	}
	if res.DryRun {
		rep.Title, rep.Outcome = r.lang.T("title.dry_run"), "dry_run"
	}
	return rep
}

// Refusal is the reply to what cannot be run, for a reason the caller
// found (a file that cannot be read, say).
func (r *Runner) Refusal(key string, args ...any) Reply {
	return r.errorReply(nil, &Error{Code: EINVALID, Key: key, Args: args})
}

// TextOnly is the reply to pictures, voice messages and files.
func (r *Runner) TextOnly() Reply {
	return Reply{Title: r.lang.T("title.help"), Text: r.lang.T("hint.text_only"), Outcome: "hint"}
}

// NotRun is the reply to a message that waited for the bot's state store
// for wait and was never run.
func (r *Runner) NotRun(wait time.Duration) Reply {
	return Reply{Title: r.lang.T("title.error"), Text: r.lang.T("err.not_run", wait.Round(time.Second).String()), Outcome: string(EUNAVAILABLE)}
}

// Unavailable is the reply when the bot's own state store cannot be used.
func (r *Runner) Unavailable(err error) Reply {
	return r.errorReply(nil, fmt.Errorf("%w: %w", ErrUnavailable, err))
}

func (r *Runner) isAdmin(user string) bool { return user != "" && slices.Contains(r.admins, user) }

// senderGrants returns the sender's effective scopes, as read with the
// message when they were.
func (r *Runner) senderGrants(ctx context.Context, c *Call) ([]string, error) {
	if c.Msg.Grants != nil && !r.isAdmin(c.Msg.SenderID) {
		return c.Msg.Grants, nil
	}
	return r.grants(ctx, c.Msg.SenderID)
}

func (r *Runner) grants(ctx context.Context, user string) ([]string, error) {
	if r.isAdmin(user) {
		return []string{"admin"}, nil
	}
	if user == "" {
		return nil, nil
	}
	s, err := r.perms.Scopes(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("load scopes of %s: %w", user, err)
	}
	return s, nil
}

// Covers reports whether holding granted allows scope: "admin" covers all,
// and a grant covers itself and everything below it on dot boundaries
// ("contact" covers "contact.add" but not "contacts").
func Covers(granted []string, scope string) bool {
	if scope == "" {
		return true
	}
	for _, g := range granted {
		if g == "admin" || g == scope || strings.HasPrefix(scope, g+".") {
			return true
		}
	}
	return false
}

// RateLimited is the reply to a sender over the per-minute limit.
func (r *Runner) RateLimited(perMinute int, retryAfter time.Duration) Reply {
	secs := int(retryAfter.Round(time.Second).Seconds())
	return Reply{Title: r.lang.T("title.error"), Text: r.lang.T("err.rate_limited", perMinute, max(secs, 1)), Outcome: "rate_limited"}
}

// Busy is the reply when the bot's work queue is full.
func (r *Runner) Busy() Reply {
	return Reply{Title: r.lang.T("title.error"), Text: r.lang.T("err.busy"), Outcome: "busy"}
}

// Internal is the reply for a failure with no better description; ref is
// what the sender can quote to operators (the message id).
func (r *Runner) Internal(err error, ref string) Reply {
	return r.errorReply(&Call{Spec: &Spec{}, Msg: Message{ID: ref}}, err)
}
