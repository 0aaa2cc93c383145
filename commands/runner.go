package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Message is what a handler knows of one chat message, whatever the chat
// platform's wire format.
type Message struct {
	ID             string
	SenderID       string // the stable id permissions are keyed by
	SenderNick     string
	ConversationID string
	Group          bool // a group chat: replies mask personal data
	Text           string
	Mentions       []string // ids of other people @-mentioned in the message
}

// Result is what a handler produced on success.
type Result struct {
	Text      string // markdown body in the runner's language
	ContactID string
	RequestID string
}

// Reply is the outcome of handling one message, ready to send and to log.
type Reply struct {
	Title     string
	Text      string
	Command   string // e.g. "contact add"; "" when no command was recognised
	Args      string // the arguments, masked for the audit trail
	Outcome   string // ok, invalid, denied, not_found, exists, unavailable, arms_error, error, hint
	ContactID string
	RequestID string
	Err       error // the full cause, for logs only
}

// Permissions keeps per-user scopes; the Redis store implements it.
type Permissions interface {
	Scopes(ctx context.Context, userID string) ([]string, error)
	Grant(ctx context.Context, userID, scope string) error
	// Revoke reports whether the user held the scope.
	Revoke(ctx context.Context, userID, scope string) (bool, error)
	// Holders lists every user with at least one grant.
	Holders(ctx context.Context) ([]string, error)
}

// AuditLog reads the audit trail; the Redis store implements it.
type AuditLog interface {
	// Recent returns up to n entries, newest first; only user's when set.
	Recent(ctx context.Context, n int, user string) ([]AuditEntry, error)
}

// AuditEntry is one handled message in the audit trail.
type AuditEntry struct {
	Time           time.Time
	MsgID          string
	SenderID       string
	SenderNick     string
	ConversationID string
	Command        string
	Args           string // masked
	Outcome        string
	RequestID      string // ARMS RequestId
	ContactID      string
	RequestRef     string // the bot's own request id, as in its logs
}

// Contacts is what the handlers need of ARMS; arms.Client implements it.
type Contacts interface {
	CreateContact(ctx context.Context, c Contact) (Receipt, error)
	SearchContacts(ctx context.Context, q ContactQuery) (ContactPage, error)
	// UpdateContact replaces every field of the contact c.ID.
	UpdateContact(ctx context.Context, c Contact) (Receipt, error)
	// DeleteContact returns ErrNotFound when there was nothing to delete.
	DeleteContact(ctx context.Context, id string) (Receipt, error)
}

// ContactQuery filters SearchContacts; empty fields do not filter.
type ContactQuery struct {
	IDs      []string
	Name     string
	Phone    string
	Email    string
	Page     int // 1-based
	PageSize int
}

// ContactPage is one page of search results.
type ContactPage struct {
	Contacts  []Contact
	Total     int
	Page      int
	PageSize  int
	RequestID string
}

// Receipt identifies what a successful ARMS write produced.
type Receipt struct {
	ContactID string
	RequestID string
}

// Confirmations keeps destructive actions waiting for their confirmation
// code; the Redis store implements it.
type Confirmations interface {
	// Propose keeps p under user's code for ttl; false when the code is taken.
	Propose(ctx context.Context, user, code string, p Pending, ttl time.Duration) (bool, error)
	// Take removes and returns user's pending action under code, if any.
	Take(ctx context.Context, user, code string) (Pending, bool, error)
}

// Pending is an action waiting for /confirm.
type Pending struct {
	Action    string `json:"action"` // "delete"
	ContactID string `json:"contact_id"`
	Name      string `json:"name"`
}

// ConfirmTTL is how long a confirmation code stays valid.
const ConfirmTTL = 5 * time.Minute

// Settings are the runner's own configuration.
type Settings struct {
	Lang   Lang
	Admins []string // hold every scope and cannot be revoked from chat
	// WriteConversations, when not empty, are the only conversations where
	// commands that change something may run.
	WriteConversations []string
}

// Runner parses, authorises and runs commands. It is safe for concurrent use.
type Runner struct {
	specs    []*Spec
	lang     Lang
	admins   []string
	writable []string
	perms    Permissions
	confirms Confirmations
	audit    AuditLog
	arms     Contacts
	log      *slog.Logger
}

// NewRunner wires the command set to its dependencies.
func NewRunner(s Settings, perms Permissions, confirms Confirmations, audit AuditLog, arms Contacts, log *slog.Logger) *Runner {
	return &Runner{specs: Commands(), lang: s.Lang, admins: s.Admins, writable: s.WriteConversations,
		perms: perms, confirms: confirms, audit: audit, arms: arms, log: log}
}

// Lang is the language replies are written in.
func (r *Runner) Lang() Lang { return r.lang }

// Handle runs one message to completion and never returns without a reply.
func (r *Runner) Handle(ctx context.Context, m Message) Reply {
	call, err := Parse(r.specs, m.Text)
	switch {
	case errors.Is(err, errEmpty):
		return Reply{Title: r.lang.T("title.help"), Text: r.lang.T("hint.empty"), Outcome: "hint"}
	case errors.Is(err, errNotCommand):
		return Reply{Title: r.lang.T("title.help"), Text: r.lang.T("hint.not_command"), Outcome: "hint", Args: MaskText(m.Text)}
	case err != nil:
		rep := r.errorReply(nil, err)
		rep.Args = MaskText(m.Text)
		return rep
	}
	call.Msg = m
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
	res, err := call.Spec.Run(r, ctx, call)
	if err != nil {
		return r.errorReply(call, err)
	}
	return Reply{
		Title:     r.lang.T("title.ok"),
		Text:      res.Text,
		Command:   call.Spec.Name(),
		Outcome:   "ok",
		ContactID: res.ContactID,
		RequestID: res.RequestID,
	}
}

// TextOnly is the reply to pictures, voice messages and files.
func (r *Runner) TextOnly() Reply {
	return Reply{Title: r.lang.T("title.help"), Text: r.lang.T("hint.text_only"), Outcome: "hint"}
}

// Unavailable is the reply when the bot's own state store cannot be used.
func (r *Runner) Unavailable(err error) Reply {
	return r.errorReply(nil, fmt.Errorf("%w: %w", ErrUnavailable, err))
}

func (r *Runner) isAdmin(user string) bool { return user != "" && slices.Contains(r.admins, user) }

// grants returns the sender's effective scopes; admins hold "admin".
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

func (r *Runner) authorize(ctx context.Context, c *Call) error {
	return r.require(ctx, c, c.Spec.Scope, "/"+c.Spec.Name())
}

// require fails with EFORBIDDEN unless the sender holds scope.
func (r *Runner) require(ctx context.Context, c *Call, scope, what string) error {
	if scope == "" {
		return nil
	}
	g, err := r.grants(ctx, c.Msg.SenderID)
	if err != nil {
		return err
	}
	if !Covers(g, scope) {
		return &Error{Code: EFORBIDDEN, Key: "err.denied", Args: []any{what, scope}}
	}
	return nil
}

var titles = map[Code]string{
	EINVALID:   "title.invalid",
	EFORBIDDEN: "title.denied",
	ENOTFOUND:  "title.not_found",
	ECONFLICT:  "title.exists",
}

// errorReply is the one place where an error becomes chat text. Internal
// details stay in Reply.Err for the log.
func (r *Runner) errorReply(c *Call, err error) Reply {
	l := r.lang
	rep := Reply{Outcome: string(CodeOf(err)), Err: err}
	if c != nil {
		rep.Command = c.Spec.Name()
	}
	var (
		e  *Error
		ae ARMSError
	)
	switch {
	case errors.As(err, &e):
		rep.Title = l.T(titles[e.Code])
		lines := []string{l.T(e.Key, r.localArgs(e)...)}
		if e.Code == EFORBIDDEN && len(r.admins) == 0 {
			lines[0] = l.T("err.denied_nobody", e.Args...)
		}
		if e.Hint != "" {
			lines = append(lines, l.T("err.did_you_mean", e.Hint))
		}
		if e.Usage != nil {
			lines = append(lines, l.T("usage", e.Usage.Usage()))
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

func (r *Runner) localArgs(e *Error) []any {
	args := make([]any, len(e.Args))
	for i, a := range e.Args {
		if m, ok := a.(msgArg); ok {
			a = r.lang.T(m.key, m.args...)
		}
		args[i] = a
	}
	if e.Key == "err.denied" {
		args = append(args, r.granters())
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

// armsText turns an ARMS failure into advice, never echoing raw SDK output.
func armsText(l Lang, e ARMSError) string {
	code, rid := e.ErrorCode(), e.RequestID()
	if rid == "" {
		rid = "-"
	}
	switch {
	case code == "":
		if e.Sent() {
			return l.T("arms.timeout")
		}
		return l.T("arms.unreachable", e.Message())
	case code == "Forbidden.RAM" || code == "APINotAuthorize" || strings.HasPrefix(code, "Forbidden"):
		return l.T("arms.forbidden", e.Action(), e.Action(), rid)
	case strings.HasPrefix(code, "Throttling"):
		return l.T("arms.throttled", code, rid)
	case code == "ARMSNotOpen":
		return l.T("arms.not_open", rid)
	case strings.HasPrefix(code, "InvalidAccessKeyId") || code == "SignatureDoesNotMatch" ||
		strings.HasPrefix(code, "InvalidSecurityToken"):
		return l.T("arms.credentials", code, rid)
	case e.HTTPStatus() >= 500 || code == "ServiceUnavailable" || code == "InternalError":
		return l.T("arms.unavailable", code, rid)
	case e.HTTPStatus() == 400:
		return l.T("arms.invalid", code, e.Message(), rid)
	}
	return l.T("arms.other", code, e.Message(), rid)
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
