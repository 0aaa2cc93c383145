package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/logctx"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// messageLedger owns every message's record from admission to delivery
// (bot/redisstore's Ledger): the dispatcher asks it what a delivery may do
// and reports through the message's Claim.
type messageLedger interface {
	Admit(ctx context.Context, id, sender, rateKey string, payload []byte) (redisstore.Admission, error)
	Renew(ctx context.Context) error
	Sweep(ctx context.Context) ([]*redisstore.Claim, error)
	HandOver(ctx context.Context) (int, error)
	Forgo(ctx context.Context, id string) error
}

// auditLog appends to the audit trail what is not settled through a claim:
// re-deliveries.
type auditLog interface {
	Audit(ctx context.Context, e commands.AuditEntry) error
}

// dispatcher takes a verified, decoded message through admission (the
// ledger's claim, the rate limit) and the command runner, and gets the
// reply out exactly once: in the HTTP answer when it is ready within the
// budget and the caller still listens, else to the sessionWebhook or the
// OpenAPI. The webhook, the sweeper and the shell share it.
type dispatcher struct {
	ledger     messageLedger
	audit      auditLog
	runner     *commands.Runner
	sender     *dingtalk.SessionClient
	openapi    *dingtalk.OpenAPI // fallback for expired sessionWebhooks; may be unconfigured
	metrics    *metrics
	log        *slog.Logger
	now        func() time.Time
	budget     time.Duration // how long the webhook waits before answering "empty"
	cmdTimeout time.Duration // how long a command may run in all
	lease      time.Duration // the ledger's lease: renewals and sweeps run thrice per lease
	ratePerMin int
	// Reply delivery retries transient failures from retryBase, doubling,
	// and gives up after replyTimeout.
	retryBase    time.Duration
	replyTimeout time.Duration

	// seen are the messages this process admitted, parked or told to send
	// again, lately: while Redis cannot be reached, a delivery of one of
	// them is a copy, whatever its age.
	seen *seenIDs
	// parked counts messages waiting for the store to come back, at most
	// maxParked.
	parked    atomic.Int64
	maxParked int

	// reminders of unverified phones, sent once per remindEvery (0: off).
	reminders   reminderStore
	remindEvery time.Duration

	jobs     chan func() // bounded queue in front of a fixed set of workers
	inflight sync.WaitGroup
	stopOnce sync.Once
	// run is cancelled when the process hands its work over on shutdown:
	// commands and deliveries still going then stop, and settle nothing.
	run      context.Context
	stopRun  context.CancelFunc
	draining atomic.Bool
}

// stateTimeout bounds each step on the shared state, so that a Redis outage
// costs the webhook seconds, not minutes.
const stateTimeout = 3 * time.Second

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

func replyBody(rep commands.Reply, m *dingtalk.Message) []byte {
	return dingtalk.MarkdownReply(rep.Title, rep.Text, m.SenderStaffID)
}

// entry starts the message's audit record; the outcome is filled in later.
func (d *dispatcher) entry(m *dingtalk.Message, reqID string) commands.AuditEntry {
	e := commands.AuditEntry{
		Time: d.now(), MsgID: m.MsgID, SenderID: m.UserID(), SenderNick: m.SenderNick,
		ConversationID: m.ConversationID, RequestRef: reqID,
	}
	if !m.IsText() {
		e.Args = "[" + m.MsgType + "]"
	}
	return e
}

// describe fills in the command of a message that is not run (a duplicate,
// a rate-limited one); run messages get it from their reply, so the text is
// parsed once on the hot path.
func (d *dispatcher) describe(e *commands.AuditEntry, m *dingtalk.Message) {
	if m.IsText() {
		e.Command, e.Args = d.runner.Describe(m.Command())
	}
}

func withReply(e commands.AuditEntry, rep commands.Reply) commands.AuditEntry {
	if rep.Command != "" || rep.Args != "" {
		e.Command, e.Args = rep.Command, rep.Args
	}
	e.Outcome, e.RequestID, e.ContactID, e.Contacts, e.GroupID = rep.Outcome, rep.RequestID, rep.ContactID, rep.Contacts, rep.GroupID
	return e
}

// answer is what the webhook says to DingTalk. When it carries a reply,
// sent must be told whether it reached a live connection: only then is
// the reply delivered; otherwise it goes out another way.
type answer struct {
	body    []byte
	outcome string
	sent    func(ok bool)
}

func (a answer) report(ok bool) {
	if a.sent != nil {
		a.sent(ok)
	}
}

// dispatch handles one delivery of m. When the command finishes within the
// budget, its reply is the HTTP answer; otherwise the answer is "empty" and
// the reply is posted to the sessionWebhook when ready.
func (d *dispatcher) dispatch(ctx context.Context, m *dingtalk.Message, reqID string) answer {
	log := d.log.With("msg_id", m.MsgID, "sender", m.UserID(), "conversation", m.ConversationID, "request_id", reqID)
	e := d.entry(m, reqID)
	adm, err := d.admit(ctx, m)
	if err != nil {
		return d.blip(log, m, e, err)
	}
	if d.forgottenCopy(log, m, &adm) {
		return d.duplicate(ctx, log, m, e, adm)
	}
	switch adm.Verdict {
	case redisstore.Busy, redisstore.Delivered, redisstore.Carry:
		return d.duplicate(ctx, log, m, e, adm)
	}
	if adm.Verdict == redisstore.Run && !adm.Rate.Allowed {
		return d.rateLimited(ctx, log, m, e, adm)
	}
	if adm.Verdict == redisstore.Resume {
		d.metrics.takeovers.WithLabelValues("redelivery").Inc()
		log.Info("taking over a message whose owner is gone")
	}
	return d.start(ctx, log, m, adm.Claim, adm.Scopes, e)
}

func (d *dispatcher) admit(ctx context.Context, m *dingtalk.Message) (redisstore.Admission, error) {
	payload, err := m.Body()
	if err != nil {
		return redisstore.Admission{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	return d.ledger.Admit(sctx, m.MsgID, m.UserID(), m.RateKey(), payload)
}

// forgottenCopy notes that this process has seen m, and reports whether m
// is a copy of a message it handled before Redis lost its data: admitted
// as new only because its record is gone. Such a copy's record is made
// anew, as delivered, and adm becomes a duplicate's.
func (d *dispatcher) forgottenCopy(log *slog.Logger, m *dingtalk.Message, adm *redisstore.Admission) bool {
	seen := d.seen.contains(m.MsgID)
	d.seen.add(m.MsgID)
	if adm.Verdict != redisstore.Run || !seen || adm.DataLost.IsZero() {
		return false
	}
	log.Warn("a message this process handled before Redis lost its data was delivered again; it is not run again")
	c := adm.Claim
	_ = d.persist(log, func(ctx context.Context) error { return c.Delivered(ctx) })
	*adm = redisstore.Admission{Verdict: redisstore.Delivered}
	return true
}

// duplicate answers a delivery of a message that another delivery owns or
// finished: silently, or with the reply that never got out.
func (d *dispatcher) duplicate(ctx context.Context, log *slog.Logger, m *dingtalk.Message, e commands.AuditEntry, adm redisstore.Admission) answer {
	e.Outcome = "duplicate"
	d.describe(&e, m)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
	defer cancel()
	if err := d.audit.Audit(sctx, e); err != nil {
		log.Warn("audit of a duplicate failed", "err", err.Error())
	}
	log.Info("message handled", "outcome", "duplicate", "resent", adm.Verdict == redisstore.Carry)
	if adm.Verdict == redisstore.Carry {
		return answer{body: adm.Reply, outcome: "duplicate"}
	}
	return answer{body: dingtalk.EmptyReply(), outcome: "duplicate"}
}

// rateLimited settles a message over the sender's limit; the sender is
// told once per window.
func (d *dispatcher) rateLimited(ctx context.Context, log *slog.Logger, m *dingtalk.Message, e commands.AuditEntry, adm redisstore.Admission) answer {
	d.describe(&e, m)
	rep := d.runner.RateLimited(d.ratePerMin, adm.Rate.RetryAfter)
	body := dingtalk.EmptyReply()
	if adm.Rate.Notify {
		body = replyBody(rep, m)
	}
	err := d.persist(log, func(ctx context.Context) error { return adm.Claim.Finish(ctx, body, true, withReply(e, rep)) })
	d.logOutcome(log, rep, err)
	return answer{body: body, outcome: rep.Outcome}
}

// blip answers a delivery that could not be admitted: the state store is
// unreachable, so nothing says whether the message ran (another delivery
// of it may be running on another replica), and no answer may say it did
// not. Deliveries are told apart by message id, never by age: one of a
// message this process has seen (admitted, parked, answered) is a copy and
// gets an empty answer; any other is parked, also with an empty answer,
// and admitted once the store is back, when its record says whether it
// runs here or is somebody else's. Only when too many are parked already
// is the sender asked to send it again (and it is recorded as answered,
// once the store is back, so that no later copy runs beside the retry).
func (d *dispatcher) blip(log *slog.Logger, m *dingtalk.Message, e commands.AuditEntry, err error) answer {
	if d.seen.contains(m.MsgID) {
		log.Info("state store unavailable; a copy of a message this process has seen gets an empty answer", "err", err.Error())
		return answer{body: dingtalk.EmptyReply(), outcome: "duplicate"}
	}
	d.seen.add(m.MsgID)
	if d.parked.Add(1) > int64(d.maxParked) {
		d.parked.Add(-1)
		rep := d.runner.Unavailable(err)
		log.Error("message handled", "outcome", rep.Outcome, "err", err.Error(), "parked", d.maxParked)
		_ = d.persist(log, func(ctx context.Context) error { return d.ledger.Forgo(ctx, m.MsgID) })
		return answer{body: replyBody(rep, m), outcome: rep.Outcome}
	}
	log.Warn("state store unavailable; the message is admitted when it is back", "err", err.Error())
	d.inflight.Add(1)
	go func() {
		defer d.inflight.Done()
		defer d.parked.Add(-1)
		d.park(log, m, e)
	}()
	return answer{body: dingtalk.EmptyReply(), outcome: "parked"}
}

// park admits m once the store answers again, within the reply timeout, and
// finishes it asynchronously. When the store does not come back in time,
// or the process stops first, the sender is told the message was not run.
func (d *dispatcher) park(log *slog.Logger, m *dingtalk.Message, e commands.AuditEntry) {
	ctx, cancel := context.WithTimeout(d.run, d.replyTimeout)
	defer cancel()
	backoff := d.retryBase
	for {
		adm, err := d.admit(ctx, m)
		if err == nil {
			switch adm.Verdict {
			case redisstore.Run, redisstore.Resume:
				d.resume(log, m, adm.Claim, adm.Scopes, e)
			case redisstore.Carry:
				d.deliverLater(log, m, adm.Reply)
			}
			return
		}
		if !sleep(ctx, backoff) {
			log.Error("message not run: the state store did not come back in time", "after", d.replyTimeout.String(), "err", err.Error())
			rep := d.runner.NotRun(time.Since(m.CreateAt.Time()))
			body := replyBody(rep, m)
			if !d.deliverNow(log, m, body) {
				return
			}
			_ = d.persist(log, func(ctx context.Context) error { return d.ledger.Forgo(ctx, m.MsgID) })
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// result is a command's outcome, ready to send.
type result struct {
	rep  commands.Reply
	body []byte
}

// start runs a claimed message on a worker. The HTTP answer carries the
// reply when it is ready within the budget and the caller still waits;
// otherwise the worker delivers it.
func (d *dispatcher) start(ctx context.Context, log *slog.Logger, m *dingtalk.Message, c *redisstore.Claim, grants []string, e commands.AuditEntry) answer {
	// Whoever decides first sends the reply: the webhook's answer if the
	// command finished within the budget, else the worker.
	const (
		undecided = iota
		byResponse
		byWorker
	)
	var owner atomic.Int32
	ch := make(chan result, 1)
	ok := d.enqueue(func() {
		r, ok := d.execute(log, m, c, grants)
		if !ok {
			return
		}
		if owner.CompareAndSwap(undecided, byResponse) {
			ch <- r
			return
		}
		d.finishLater(log, m, c, e, r)
	})
	if !ok {
		rep := d.runner.Busy()
		body := replyBody(rep, m)
		// Nothing happened: a re-delivery may run it.
		err := d.persist(log, func(ctx context.Context) error { return c.Release(ctx, withReply(e, rep)) })
		d.logOutcome(log, rep, err)
		return answer{body: body, outcome: rep.Outcome}
	}
	t := time.NewTimer(d.budget)
	defer t.Stop()
	var r result
	select {
	case r = <-ch:
	case <-t.C:
	case <-ctx.Done(): // the caller is gone: the reply takes another way
	}
	if r.body == nil {
		if owner.CompareAndSwap(undecided, byWorker) {
			return answer{body: dingtalk.EmptyReply(), outcome: "async"}
		}
		r = <-ch // finished just now; it is about to be sent
	}
	return answer{body: r.body, outcome: r.rep.Outcome, sent: func(ok bool) {
		if !ok {
			log.Warn("the caller was gone before the reply; sending it to the sessionWebhook")
			d.finishLater(log, m, c, e, r)
			return
		}
		if d.settle(log, c, e, r, true) {
			d.remindLater(log, m, r.rep)
		}
	}}
}

// resume finishes a message this process took over, or admitted late:
// nobody waits for an HTTP answer.
func (d *dispatcher) resume(log *slog.Logger, m *dingtalk.Message, c *redisstore.Claim, grants []string, e commands.AuditEntry) {
	if !d.enqueue(func() {
		if r, ok := d.execute(log, m, c, grants); ok {
			d.finishLater(log, m, c, e, r)
		}
	}) {
		// No room: give it back for another sweep or replica to take.
		ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
		defer cancel()
		if err := c.HandOver(ctx); err != nil {
			log.Warn("hand back a message the queue had no room for", "err", err.Error())
		}
	}
}

// execute runs the command, or returns the reply an earlier owner had
// ready. ok is false when another process owns the message now.
func (d *dispatcher) execute(log *slog.Logger, m *dingtalk.Message, c *redisstore.Claim, grants []string) (result, bool) {
	if body := c.Reply(); body != nil {
		return result{rep: commands.Reply{Outcome: "resumed"}, body: body}, true
	}
	ctx, cancel := context.WithTimeout(d.run, d.cmdTimeout)
	defer cancel()
	backoff := d.retryBase
	for {
		rep := d.runCommand(ctx, m, c, grants)
		switch {
		case rep.Outcome == string(commands.ELOST):
			log.Info("another process owns the message now; it replies")
			return result{}, false
		case rep.Outcome != string(commands.EUNAVAILABLE) || d.draining.Load():
			return result{rep: rep, body: replyBody(rep, m)}, true
		}
		// The store failed before anything was written to ARMS, and this
		// process still owns the message: it runs again when the store
		// answers, rather than asking the sender to send it again.
		log.Warn("state store unavailable during the command; running it again shortly", "err", commands.LogText(rep.Err))
		if !sleep(ctx, backoff) {
			return result{rep: rep, body: replyBody(rep, m)}, true
		}
		grants = nil // read them again
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (d *dispatcher) runCommand(ctx context.Context, m *dingtalk.Message, c *redisstore.Claim, grants []string) (rep commands.Reply) {
	// A bug in one command must not take the process, and its replies to
	// everyone else, down with it: the sender gets an internal-error reply.
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("command panicked", "msg_id", m.MsgID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			rep = d.runner.Internal(fmt.Errorf("panic: %v", p), m.MsgID)
		}
	}()
	if !m.IsText() {
		return d.runner.TextOnly()
	}
	start := time.Now()
	defer func() {
		d.metrics.commandTime.WithLabelValues(commandLabel(rep.Command)).Observe(time.Since(start).Seconds())
	}()
	ctx = logctx.With(ctx, slog.String("msg_id", m.MsgID))
	msg := commands.Message{
		ID:             m.MsgID,
		SenderID:       m.UserID(),
		SenderNick:     m.SenderNick,
		ConversationID: m.ConversationID,
		Private:        m.OneToOne(),
		Text:           m.Command(),
		Mentions:       m.Mentions(),
		Grants:         grants,
		Sent:           m.CreateAt.Time(),
	}
	if lost := c.DataLost(); !lost.IsZero() {
		// Redis lost its data after this message may have been handled.
		msg.MayHaveRun = m.CreateAt == 0 || msg.Sent.Before(lost)
	}
	return d.runner.Handle(ctx, msg, c)
}

// settle records how the message ended and logs it: delivered when its
// reply went out with this call, else done with the reply kept for whoever
// delivers it. A message that had no effect (the store failed first, or
// the worker queue was full) is released, so that a re-delivery can run
// it. It reports whether this process still owns the message.
func (d *dispatcher) settle(log *slog.Logger, c *redisstore.Claim, e commands.AuditEntry, r result, delivered bool) bool {
	// A reply about to be sent waits for its record a while: a process
	// that sent it unrecorded, while Redis was away, could not know
	// whether another delivery of the message, finding no record when
	// Redis came back, runs it and replies too.
	wait := time.Duration(0)
	if !delivered {
		wait = recordWait
	}
	err := d.persistWaiting(log, wait, func(ctx context.Context) error {
		switch {
		case r.rep.Outcome == "resumed": // settled by the owner that made it
			if delivered {
				return c.Delivered(ctx)
			}
			return nil
		case r.rep.Outcome == string(commands.EUNAVAILABLE):
			return c.Release(ctx, withReply(e, r.rep))
		}
		return c.Finish(ctx, r.body, delivered, withReply(e, r.rep))
	})
	if r.rep.Outcome != "resumed" {
		d.logOutcome(log, r.rep, err)
	}
	return !errors.Is(err, commands.ErrLostOwnership)
}

// finishLater settles the message and then delivers its reply to the
// sessionWebhook or through the OpenAPI. When no channel takes it, the next
// delivery of the message carries it.
func (d *dispatcher) finishLater(log *slog.Logger, m *dingtalk.Message, c *redisstore.Claim, e commands.AuditEntry, r result) {
	if d.draining.Load() {
		return // handed over: the new owner replies
	}
	if r.rep.Outcome != "resumed" && !d.settle(log, c, e, r, false) {
		return
	}
	d.remindLater(log, m, r.rep)
	delivered := d.deliverLater(log, m, r.body)
	if d.draining.Load() && !delivered {
		return
	}
	err := d.persist(log, func(ctx context.Context) error {
		if delivered {
			return c.Delivered(ctx)
		}
		return c.Undeliverable(ctx)
	})
	if err != nil {
		log.Warn("record the reply's delivery", "delivered", delivered, "err", err.Error())
	}
}

// persist records a message's progress through op. When the store fails,
// what happened stands: it is recorded once the store answers (tried
// again in the background until the reply timeout), so that a re-delivery
// does not run the message again. It returns op's first error.
func (d *dispatcher) persist(log *slog.Logger, op func(ctx context.Context) error) error {
	return d.persistWaiting(log, 0, op)
}

// recordWait is how long a reply waits for its record while the store is
// unreachable, before it is sent unrecorded.
const recordWait = 10 * time.Second

// persistWaiting is persist that first tries again for up to wait, and
// returns the outcome of the last try.
func (d *dispatcher) persistWaiting(log *slog.Logger, wait time.Duration, op func(ctx context.Context) error) error {
	try := func(parent context.Context) error {
		ctx, cancel := context.WithTimeout(parent, stateTimeout)
		defer cancel()
		return op(ctx)
	}
	err := try(context.Background())
	deadline := time.Now().Add(wait)
	backoff := d.retryBase
	for errors.Is(err, commands.ErrUnavailable) && time.Until(deadline) > 0 && sleep(d.run, min(backoff, time.Until(deadline))) {
		err = try(d.run)
		backoff = min(2*backoff, 2*time.Second)
	}
	if err == nil || !errors.Is(err, commands.ErrUnavailable) {
		return err
	}
	d.inflight.Add(1)
	go func() {
		defer d.inflight.Done()
		rctx, cancel := context.WithTimeout(d.run, d.replyTimeout)
		defer cancel()
		backoff := d.retryBase
		for sleep(rctx, backoff) {
			err := try(rctx)
			if err == nil || !errors.Is(err, commands.ErrUnavailable) {
				log.Info("recorded once the state store was back", "err", fmt.Sprint(err))
				return
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		log.Error("could not record the message's progress: the state store stayed unavailable", "err", err.Error())
	}()
	return err
}

func (d *dispatcher) logOutcome(log *slog.Logger, rep commands.Reply, settleErr error) {
	cmd := rep.Command
	if cmd == "" {
		cmd = "none"
	}
	d.metrics.commands.WithLabelValues(cmd, rep.Outcome).Inc()
	attrs := []any{"command", rep.Command, "outcome", rep.Outcome}
	if rep.ContactID != "" {
		attrs = append(attrs, "contact_id", rep.ContactID)
	}
	if rep.RequestID != "" {
		attrs = append(attrs, "arms_request_id", rep.RequestID)
	}
	if rep.Err != nil {
		attrs = append(attrs, "err", commands.LogText(rep.Err))
	}
	if settleErr != nil {
		attrs = append(attrs, "settle_err", settleErr.Error())
	}
	level := slog.LevelInfo
	if rep.Outcome == string(commands.EINTERNAL) || rep.Outcome == string(commands.EUNAVAILABLE) || settleErr != nil {
		level = slog.LevelError
	}
	log.Log(context.Background(), level, "message handled", attrs...)
}

// runOnce handles m synchronously, for the shell: the same admission,
// permission and command path as the webhook, with the reply returned
// instead of sent.
func (d *dispatcher) runOnce(ctx context.Context, m *dingtalk.Message) commands.Reply {
	log := d.log.With("msg_id", m.MsgID, "sender", m.UserID())
	e := d.entry(m, "shell")
	adm, err := d.admit(ctx, m)
	switch {
	case err != nil:
		return d.runner.Unavailable(err)
	case adm.Verdict == redisstore.Run && !adm.Rate.Allowed:
		rep := d.runner.RateLimited(d.ratePerMin, adm.Rate.RetryAfter)
		_ = adm.Claim.Finish(ctx, nil, true, withReply(e, rep))
		return rep
	case adm.Verdict != redisstore.Run && adm.Verdict != redisstore.Resume:
		return commands.Reply{Outcome: "duplicate"}
	}
	r, ok := d.execute(log, m, adm.Claim, adm.Scopes)
	if !ok {
		return commands.Reply{Outcome: string(commands.ELOST)}
	}
	d.settle(log, adm.Claim, e, r, true)
	return r.rep
}

// sleep waits d, or reports false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
