package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/armsbot/armsbot/commands/catalog"
)

// The two-person rule: what BOT_APPROVAL names waits, after its preview,
// for someone other than its requester who holds "approve" and the
// command's own scope. The approval runs it, once.

// ApprovalTTL is how long a request waits for its approval by default
// (BOT_APPROVAL_TTL).
const ApprovalTTL = 30 * time.Minute

// ApprovalRule names calls that need a second person's approval: a
// command, with the values some of its keys must have, or a scope that
// the call needs (contact.force: every forced delete).
type ApprovalRule struct {
	Command string            // "group delete"; "" for a scope rule
	When    map[string]string // key -> checked value, e.g. systemnoc -> true
	Scope   string
}

func (a ApprovalRule) String() string {
	if a.Command == "" {
		return a.Scope
	}
	parts := []string{a.Command}
	for _, k := range slices.Sorted(maps.Keys(a.When)) {
		parts = append(parts, k+"="+a.When[k])
	}
	return strings.Join(parts, " ")
}

// decisions are the commands that decide requests: never held themselves.
var decisions = []string{"confirm", "cancel", "approve", "reject"}

// ParseApprovalRules reads BOT_APPROVAL: comma-separated rules, each a
// command that changes something ("group delete"), optionally with
// key=value conditions ("contact add systemnoc=true"), or a scope
// ("contact.force", also written "contact force").
func ParseApprovalRules(s string) ([]ApprovalRule, error) {
	var rules []ApprovalRule
	var problems []string
	specs := Commands()
	for part := range strings.SplitSeq(s, ",") {
		fields := strings.Fields(strings.ToLower(part))
		if len(fields) == 0 {
			continue
		}
		rule, err := parseApprovalRule(specs, fields)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		rules = append(rules, rule)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return rules, nil
}

func parseApprovalRule(specs []*Spec, fields []string) (ApprovalRule, error) {
	text := strings.Join(fields, " ")
	var spec *Spec
	for _, s := range specs {
		if len(fields) >= len(s.Path) && slices.Equal(fields[:len(s.Path)], s.Path) && (spec == nil || len(s.Path) > len(spec.Path)) {
			spec = s
		}
	}
	if spec == nil || slices.Contains(decisions, spec.Name()) {
		scope := strings.Join(fields, ".")
		if slices.Contains(Scopes, scope) && scope != "approve" {
			return ApprovalRule{Scope: scope}, nil
		}
		return ApprovalRule{}, fmt.Errorf("%q is neither a command that changes something nor a scope", text)
	}
	if !spec.Writes {
		return ApprovalRule{}, fmt.Errorf("%q: /%s changes nothing, so there is nothing to approve", text, spec.Name())
	}
	rule := ApprovalRule{Command: spec.Name(), When: map[string]string{}}
	for _, f := range fields[len(spec.Path):] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || v == "" {
			return ApprovalRule{}, fmt.Errorf("%q: %q is not key=value", text, f)
		}
		a := spec.arg(k)
		if a == nil {
			return ApprovalRule{}, fmt.Errorf("%q: /%s has no key %s", text, spec.Name(), k)
		}
		if a.Kind == KindBool {
			b, err := parseBool(v)
			if err != nil {
				return ApprovalRule{}, fmt.Errorf("%q: %s takes true or false", text, k)
			}
			v = fmt.Sprint(b)
		}
		rule.When[a.Name] = v
	}
	return rule, nil
}

// approvalRule returns the rule that holds c for approval, if any.
func (r *Runner) approvalRule(c *Call) (ApprovalRule, bool) {
	if len(r.approval) == 0 || !c.Spec.Writes || slices.Contains(decisions, c.Spec.Name()) || c.Bool("dry-run") {
		return ApprovalRule{}, false
	}
	needs := callScopes(c)
	for _, rule := range r.approval {
		switch {
		case rule.Command == "":
			for _, s := range needs {
				if Covers([]string{rule.Scope}, s) {
					return rule, true
				}
			}
		case rule.Command == c.Spec.Name():
			all := true
			for k, v := range rule.When {
				all = all && c.Has(k) && c.Get(k) == v
			}
			if all {
				return rule, true
			}
		}
	}
	return ApprovalRule{}, false
}

// callScopes are the scopes c needs, none covered by another.
func callScopes(c *Call) []string {
	all := []string{c.Spec.Scope}
	for _, n := range c.Spec.Needs {
		if n.Of != nil {
			if s, _ := n.Of(c); s != "" {
				all = append(all, s)
			}
		}
	}
	var out []string
	for i, s := range all {
		if s == "" || slices.Contains(out, s) {
			continue
		}
		covered := false
		for j, o := range all {
			covered = covered || (j != i && o != s && Covers([]string{o}, s))
		}
		if !covered {
			out = append(out, s)
		}
	}
	return out
}

// Decision is what a reply asks someone to decide, by code: shown with
// buttons where DingTalk cards are set up, typed otherwise.
type Decision struct {
	Kind      string // "confirm" (by the requester) or "approval" (by someone else)
	Code      string
	Requester string
	Expires   time.Time
}

// Approval is a request waiting for a second person.
type Approval struct {
	Code    string `json:"code"`
	Command string `json:"command"` // e.g. "group delete"
	// Pending is a delete's, checked as /confirm checks it; Text the
	// command as typed, for every other command, run again on approval.
	Pending        *Pending  `json:"pending,omitempty"`
	Text           string    `json:"text,omitempty"`
	Mentions       []string  `json:"mentions,omitempty"`
	Requester      string    `json:"requester"`
	RequesterNick  string    `json:"requester_nick,omitempty"`
	ConversationID string    `json:"conversation_id,omitempty"`
	Rule           string    `json:"rule"`
	Expires        time.Time `json:"expires"`
	// Scopes are what the call needs, which an approver must hold too.
	Scopes []string `json:"scopes"`
}

// ApprovalState is where an approval stands.
type ApprovalState int

const (
	ApprovalWaiting  ApprovalState = iota
	ApprovalTaken                  // decided by this message: carry it out
	ApprovalDecided                // decided by another message
	ApprovalNotFound               // decided, withdrawn or expired
)

// Approvals keeps requests waiting for their approval, by code, across
// replicas.
type Approvals interface {
	// Request keeps a until it expires; false when its code is taken.
	Request(ctx context.Context, a Approval) (bool, error)
	// Approval returns the request under code and whether (and by which
	// message) it was decided.
	Approval(ctx context.Context, code string) (a Approval, decidedBy string, ok bool, err error)
	// Decide marks the request decided by msgID, once: it answers
	// ApprovalTaken to msgID (again, when delivered again) and
	// ApprovalDecided to any other message.
	Decide(ctx context.Context, code, msgID string) (Approval, ApprovalState, error)
}

// approvalLine is what a held request's reply says: who may decide, and
// how.
func (r *Runner) approvalLines(ctx context.Context, a Approval) []string {
	mins := max(int(a.Expires.Sub(r.clock()).Round(time.Minute).Minutes()), 1)
	scopes := catalog.Markdown("**" + strings.Join(a.Scopes, "**, **") + "**")
	lines := []string{r.lang.T("approval.how", a.Rule, scopes, mins, a.Code, a.Code, a.Code)}
	who, err := r.approvers(ctx, a)
	switch {
	case err != nil:
		r.log.WarnContext(ctx, "cannot list who may approve", "err", err)
	case len(who) == 0:
		lines = append(lines, r.lang.T("approval.nobody", scopes))
	default:
		lines = append(lines, r.lang.T("approval.who", catalog.Markdown(strings.Join(who, ", "))))
	}
	return lines
}

// approvers are the staff ids, other than the requester, that hold
// approve and the request's scope: BOT_ADMINS and holders of grants.
func (r *Runner) approvers(ctx context.Context, a Approval) ([]string, error) {
	holders, err := r.perms.Holders(ctx)
	if err != nil {
		return nil, err
	}
	var who []string
	for _, u := range append(slices.Clone(r.admins), holders...) {
		if u == a.Requester || slices.Contains(who, u) {
			continue
		}
		g, err := r.grants(ctx, u)
		if err != nil {
			return nil, err
		}
		holds := Covers(g, "approve")
		for _, s := range a.Scopes {
			holds = holds && Covers(g, s)
		}
		if holds {
			who = append(who, "`"+catalog.Inert(u)+"`")
		}
		if len(who) == 10 {
			who = append(who, "…")
			break
		}
	}
	return who, nil
}

// holdForApproval answers a call that a rule holds: its preview, kept
// under a fresh code for someone else to approve.
func (r *Runner) holdForApproval(ctx context.Context, c *Call, rule ApprovalRule) (Result, error) {
	a := Approval{Command: c.Spec.Name(), Requester: c.Msg.SenderID, RequesterNick: c.Msg.SenderNick,
		ConversationID: c.Msg.ConversationID, Mentions: c.Msg.Mentions, Rule: rule.String(), Scopes: callScopes(c),
		Expires: r.clock().Add(r.approvalTTL)}
	if c.Spec.Proposes {
		// A delete previews and proposes itself; its proposal becomes
		// the request (propose reads c.held).
		c.held = &a
		res, err := c.Spec.Run(r, ctx, c)
		if err != nil || res.DryRun {
			return res, err
		}
		res.Title = "title.approval"
		return res, nil
	}
	if RedactSecrets(c.Msg.Text) != c.Msg.Text {
		return Result{}, &Error{Code: EINVALID, Key: "approval.secret"}
	}
	a.Text = c.Msg.Text
	var preview Result
	if c.Spec.arg("dry-run") != nil {
		c.vals["dry-run"], c.held = "true", &a
		res, err := c.Spec.Run(r, ctx, c)
		delete(c.vals, "dry-run")
		c.held = nil
		if err != nil {
			return Result{}, err
		}
		preview = res
	}
	code, err := r.request(ctx, a)
	if err != nil {
		return Result{}, err
	}
	a.Code = code
	c.decision = &Decision{Kind: "approval", Code: code, Requester: a.Requester, Expires: a.Expires}
	lines := []string{r.lang.T("approval.held", "/"+c.Spec.Name())}
	if preview.Text != "" {
		lines = append(lines, preview.Text)
	}
	lines = append(lines, r.approvalLines(ctx, a)...)
	return Result{Title: "title.approval", Text: strings.Join(lines, "\n\n"), ContactID: preview.ContactID, Contacts: preview.Contacts,
		GroupID: preview.GroupID, RobotID: preview.RobotID}, nil
}

// waitingApproval is the request under code, if approvals are kept.
func (r *Runner) waitingApproval(ctx context.Context, code string) (Approval, string, bool, error) {
	if r.approvals == nil || code == "" {
		return Approval{}, "", false, nil
	}
	return r.approvals.Approval(ctx, code)
}

// openApproval is the request under code, unless it is gone or another
// message decided it (this one may have, before a take-over).
func (r *Runner) openApproval(ctx context.Context, c *Call, code string) (Approval, error) {
	a, decidedBy, ok, err := r.waitingApproval(ctx, code)
	switch {
	case err != nil:
		return Approval{}, err
	case !ok:
		return Approval{}, &Error{Code: ENOTFOUND, Key: "approval.unknown", Args: []any{code, int(r.approvalTTL.Minutes())}}
	case decidedBy != "" && decidedBy != c.Msg.ID:
		return Approval{}, &Error{Code: EINVALID, Key: "approval.decided", Args: []any{code}}
	}
	return a, nil
}

// request keeps a under a fresh code.
func (r *Runner) request(ctx context.Context, a Approval) (string, error) {
	for range 5 {
		a.Code = newCode()
		ok, err := r.approvals.Request(ctx, a)
		if err != nil {
			return "", err
		}
		if ok {
			return a.Code, nil
		}
	}
	return "", errors.New("no free approval code after 5 tries")
}

// approve carries out a request for its requester, once, when the sender
// is someone else who holds approve and the request's scope, and the
// requester still holds what the command needs.
func (r *Runner) approve(ctx context.Context, c *Call) (Result, error) {
	code := c.Get("code")
	a, err := r.openApproval(ctx, c, code)
	if err != nil {
		return Result{}, err
	}
	if a.Requester == c.Msg.SenderID {
		return Result{}, &Error{Code: EFORBIDDEN, Key: "approval.self", Args: []any{code}}
	}
	for _, s := range a.Scopes {
		if err := r.require(ctx, c, s, "", "/"+a.Command); err != nil {
			return Result{}, err
		}
	}
	// The requester's call, checked again as it will run: the grant may
	// have been revoked, the code's scope may not be all it needs.
	exec, err := r.requestersCall(c, a)
	if err != nil {
		return Result{}, err
	}
	if a.Pending != nil {
		if err := r.mayCarryOut(ctx, c, *a.Pending); err != nil {
			return Result{}, err
		}
		requester := *c
		requester.Msg.SenderID, requester.Msg.Grants = a.Requester, nil
		if err := r.mayCarryOut(ctx, &requester, *a.Pending); err != nil {
			return Result{}, requesterDenied(err, a)
		}
	} else {
		// The approver needs what the call needs, too.
		asApprover := *exec
		asApprover.Msg.SenderID, asApprover.Msg.Grants = c.Msg.SenderID, c.Msg.Grants
		if err := r.authorizeNeeds(ctx, &asApprover); err != nil {
			return Result{}, err
		}
		if err := r.authorize(ctx, exec); err != nil {
			return Result{}, requesterDenied(err, a)
		}
		if err := r.authorizeNeeds(ctx, exec); err != nil {
			return Result{}, requesterDenied(err, a)
		}
	}
	if _, state, err := r.approvals.Decide(ctx, code, c.Msg.ID); err != nil {
		return Result{}, err
	} else if state == ApprovalDecided {
		return Result{}, &Error{Code: EINVALID, Key: "approval.decided", Args: []any{code}}
	} else if state == ApprovalNotFound {
		return Result{}, &Error{Code: ENOTFOUND, Key: "approval.unknown", Args: []any{code, int(r.approvalTTL.Minutes())}}
	}
	var res Result
	if a.Pending != nil {
		var resumed bool
		if res, resumed, err = r.resumeTaken(ctx, c); !resumed {
			res, err = r.carryOut(ctx, c, *a.Pending)
		}
	} else {
		if err := r.resolveMentions(ctx, exec); err != nil {
			return Result{}, err
		}
		res, err = exec.Spec.Run(r, ctx, exec)
	}
	if err != nil {
		return Result{}, err
	}
	res.Text = r.lang.T("approval.done", "/"+a.Command, nick(c.Msg.SenderNick, c.Msg.SenderID), nick(a.RequesterNick, a.Requester)) + "\n\n" + res.Text
	res.RequestedBy = a.Requester
	return res, nil
}

// requesterDenied says that the requester, not the approver, no longer
// holds what the request needs.
func requesterDenied(err error, a Approval) error {
	var e *Error
	if errors.As(err, &e) && e.Code == EFORBIDDEN {
		return &Error{Code: EFORBIDDEN, Key: "approval.requester_denied", Args: []any{nick(a.RequesterNick, a.Requester), "/" + a.Command}, Err: err}
	}
	return err
}

// nick is how a reply names someone: their nickname, else their id.
func nick(n, id string) string { return cmp.Or(n, id) }

// requestersCall rebuilds a held command as its requester's, for this
// message (its journal records the write): nil for a delete, which is
// carried out from its Pending.
func (r *Runner) requestersCall(c *Call, a Approval) (*Call, error) {
	if a.Pending != nil {
		return nil, nil
	}
	exec, err := Parse(r.specs, a.Text)
	if err != nil {
		return nil, err
	}
	exec.Msg = Message{ID: c.Msg.ID, SenderID: a.Requester, SenderNick: a.RequesterNick, ConversationID: c.Msg.ConversationID,
		Private: c.Msg.Private, Text: a.Text, Mentions: a.Mentions, Sent: c.Msg.Sent, MayHaveRun: c.Msg.MayHaveRun}
	exec.Journal = c.Journal
	exec.approved = true
	if err := exec.check(); err != nil {
		return nil, err
	}
	return exec, nil
}

// reject drops a request: its requester (as /cancel does) or someone who
// may approve it.
func (r *Runner) reject(ctx context.Context, c *Call) (Result, error) {
	code := c.Get("code")
	a, err := r.openApproval(ctx, c, code)
	if err != nil {
		return Result{}, err
	}
	if a.Requester != c.Msg.SenderID {
		if err := r.require(ctx, c, "approve", "", "/reject"); err != nil {
			return Result{}, err
		}
		for _, s := range a.Scopes {
			if err := r.require(ctx, c, s, "", "/"+a.Command); err != nil {
				return Result{}, err
			}
		}
	}
	if _, state, err := r.approvals.Decide(ctx, code, c.Msg.ID); err != nil {
		return Result{}, err
	} else if state != ApprovalTaken {
		return Result{}, &Error{Code: EINVALID, Key: "approval.decided", Args: []any{code}}
	}
	key := "approval.rejected"
	if a.Requester == c.Msg.SenderID {
		key = "approval.withdrawn"
	}
	return Result{Title: "title.cancelled", Text: r.lang.T(key, "/"+a.Command, nick(c.Msg.SenderNick, c.Msg.SenderID), nick(a.RequesterNick, a.Requester)),
		ContactID: pendingField(a.Pending, "contact"), GroupID: pendingField(a.Pending, "group"), RobotID: pendingField(a.Pending, "robot"),
		RequestedBy: a.Requester}, nil
}

func pendingField(p *Pending, which string) string {
	if p == nil {
		return ""
	}
	switch which {
	case "contact":
		return p.ContactID
	case "group":
		return p.GroupID
	}
	return p.RobotID
}
