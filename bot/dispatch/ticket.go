package dispatch

import (
	"log/slog"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// via is the entry point a ticket came through.
type via string

const (
	viaWebhook via = "webhook"
	viaStream  via = "stream"
	viaShell   via = "shell"
	viaSweep   via = "sweep"
	viaRemind  via = "reminder"
)

// ticket is one message's context for its whole life in this process:
// the message, its claim on the record, its log, its audit entry, and
// what becomes of its result.
type ticket struct {
	m     *dingtalk.Message
	via   via
	log   *slog.Logger
	entry commands.AuditEntry // the outcome is filled in when it ends
	// claim is this process's ownership of the message (admitted to run);
	// grants are the sender's scopes, read with it.
	claim  *redisstore.Claim
	grants []string
	// read is the command's text as the admission read it (to foretell
	// its write), which its run uses rather than reading it again.
	read *commands.Read
	// arrived orders the waiting: oldest first. A message that waited
	// longer than the reply timeout is not run.
	arrived time.Time
	// backlogged: it waits counted in the shared backlog.
	backlogged bool
	// then takes the command's result: the webhook's answer, or the reply
	// lane.
	then  func(result)
	seq   uint64 // orders tickets that arrived in the same instant
	index int    // in the command lane's heap
}

// newTicket starts a ticket for m, which came through v; ref is the HTTP
// request's id, or names the entry point.
func (d *Dispatcher) newTicket(m *dingtalk.Message, v via, ref string) *ticket {
	t := &ticket{m: m, via: v,
		log: d.log.With("msg_id", m.MsgID, "sender", m.UserID(), "conversation", m.ConversationID, "via", string(v))}
	if v == viaWebhook {
		t.log = t.log.With("request_id", ref)
	}
	t.entry = commands.AuditEntry{
		Time: d.cfg.Now(), MsgID: m.MsgID, SenderID: m.UserID(), SenderNick: m.SenderNick,
		ConversationID: m.ConversationID, RequestRef: ref,
	}
	if !m.IsText() {
		t.entry.Args = "[" + m.MsgType + "]"
	}
	t.arrived = d.cfg.Now()
	if sent := m.CreateAt.Time(); m.CreateAt != 0 && sent.Before(t.arrived) {
		t.arrived = sent
	}
	return t
}

// describe fills in the command of a message that is not run (a copy, a
// rate-limited one); run messages get it from their reply, so that the
// text is parsed once on the hot path.
func (t *ticket) describe(r *commands.Runner) {
	if t.m.IsText() {
		t.entry.Command, t.entry.Args = r.Describe(t.m.Command())
	}
}

// audit is the ticket's audit entry with rep's outcome.
func (t *ticket) audit(rep commands.Reply) commands.AuditEntry {
	e := t.entry
	if rep.Command != "" || rep.Args != "" {
		e.Command, e.Args = rep.Command, rep.Args
	}
	e.Outcome, e.RequestID, e.ContactID, e.Contacts, e.GroupID = rep.Outcome, rep.RequestID, rep.ContactID, rep.Contacts, rep.GroupID
	e.RobotID, e.Policies = rep.RobotID, rep.Policies
	e.Approval, e.RequestedBy = rep.Approval, rep.RequestedBy
	return e
}

// body renders rep as the reply to the ticket's message.
func (t *ticket) body(rep commands.Reply) []byte {
	return dingtalk.MarkdownReply(rep.Title, rep.Text, t.m.SenderStaffID)
}

// result is a command's outcome, ready to send.
type result struct {
	rep  commands.Reply
	body []byte
	// carried: the reply an earlier owner of the message had ready; this
	// process only delivers it.
	carried bool
}

// Outcome is how a delivery ended, as an ingress counts it: a command's
// outcome (ok, invalid, denied, ...) or one of the dispatcher's own.
type Outcome string

const (
	// Async: the answer is empty; the reply follows on the reply lane.
	Async Outcome = "async"
	// Parked: Redis could not be reached; the message is admitted once it
	// is back.
	Parked Outcome = "parked"
	// Duplicate: a copy of a message owned or answered already.
	Duplicate Outcome = "duplicate"
)

// Answer is what the webhook says to DingTalk. When it carries a reply,
// Report must be told whether it reached a live connection: only then is
// the reply delivered; otherwise it goes out another way.
type Answer struct {
	Body    []byte
	Outcome Outcome
	sent    func(ok bool)
}

// Report says whether the answer was written, in full, to a connection
// DingTalk still listened on.
func (a Answer) Report(ok bool) {
	if a.sent != nil {
		a.sent(ok)
	}
}

// How many message ids, and for how long, a process remembers having seen:
// DingTalk's re-deliveries and a message's copies over the other ingress
// come within minutes.
const (
	seenSize = 1 << 16
	seenTTL  = 15 * time.Minute
)

// seenIDs are message ids with when this process saw them. (The library's
// expiring cache runs a goroutine that never ends; the age is checked on
// lookup instead.)
type seenIDs struct {
	ids *lru.Cache[string, time.Time]
	now func() time.Time
}

func newSeen(now func() time.Time) *seenIDs {
	ids, _ := lru.New[string, time.Time](seenSize) // fails only for a size below 1
	return &seenIDs{ids: ids, now: now}
}

func (s *seenIDs) add(id string) { s.ids.Add(id, s.now()) }

func (s *seenIDs) contains(id string) bool {
	at, ok := s.ids.Peek(id)
	return ok && s.now().Sub(at) < seenTTL
}
