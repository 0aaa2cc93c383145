package bot

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// stateStore is the shared state the dispatcher needs: claims for
// de-duplication, the rate limit and the audit trail.
type stateStore interface {
	Claim(ctx context.Context, msgID string) (redisstore.ClaimState, []byte, error)
	Release(ctx context.Context, msgID string) error
	Allow(ctx context.Context, user string) (redisstore.RateDecision, error)
	Settle(ctx context.Context, msgID string, release, delivered bool, reply []byte, e commands.AuditEntry) error
	Delivered(ctx context.Context, msgID string) error
	Audit(ctx context.Context, e commands.AuditEntry) error
}

// dispatcher takes a verified, decoded message through de-duplication, the
// rate limit and the command runner, and gets the reply out. The webhook
// and the shell share it.
type dispatcher struct {
	state      stateStore
	runner     *commands.Runner
	sender     *dingtalk.SessionClient
	openapi    *dingtalk.OpenAPI // fallback for expired sessionWebhooks; may be unconfigured
	metrics    *metrics
	log        *slog.Logger
	now        func() time.Time
	budget     time.Duration // how long the webhook waits before answering "empty"
	cmdTimeout time.Duration // how long a command may run in all
	ratePerMin int
	// Reply delivery retries transient failures from retryBase, doubling,
	// and gives up after replyTimeout.
	retryBase    time.Duration
	replyTimeout time.Duration

	jobs     chan func() // bounded queue in front of a fixed set of workers
	inflight sync.WaitGroup
	stopOnce sync.Once
}

// stateTimeout bounds each step on the shared state, so that a Redis outage
// costs the webhook seconds, not minutes.
const stateTimeout = 3 * time.Second

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
	e.Outcome, e.RequestID, e.ContactID = rep.Outcome, rep.RequestID, rep.ContactID
	return e
}

// admission is what a delivery may do after claim and rate limit.
type admission struct {
	run     bool   // this delivery runs the command
	body    []byte // otherwise, the HTTP answer
	outcome string
	reply   *commands.Reply // the reply behind body, when there is one
}

// admit claims the message and counts it against the sender's rate limit.
// Nothing reaches ARMS unless both succeed.
func (d *dispatcher) admit(ctx context.Context, log *slog.Logger, m *dingtalk.Message, e commands.AuditEntry) admission {
	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	state, prev, err := d.state.Claim(sctx, m.MsgID)
	if err != nil {
		rep := d.runner.Unavailable(err)
		log.Error("message handled", "outcome", rep.Outcome, "err", err.Error())
		return admission{body: replyBody(rep, m), outcome: rep.Outcome, reply: &rep}
	}
	if state != redisstore.Fresh {
		e.Outcome = "duplicate"
		d.describe(&e, m)
		if err := d.state.Audit(sctx, e); err != nil {
			log.Warn("audit of a duplicate failed", "err", err.Error())
		}
		log.Info("message handled", "outcome", "duplicate", "resent", state == redisstore.Undelivered)
		if state == redisstore.Undelivered && len(prev) > 0 {
			// The first reply never got out; this delivery carries it.
			if err := d.state.Delivered(sctx, m.MsgID); err != nil {
				log.Warn("mark delivered", "err", err.Error())
			}
			return admission{body: prev, outcome: "duplicate"}
		}
		return admission{body: dingtalk.EmptyReply(), outcome: "duplicate"}
	}
	dec, err := d.state.Allow(sctx, m.UserID())
	if err != nil {
		if rerr := d.state.Release(sctx, m.MsgID); rerr != nil {
			log.Warn("release claim", "err", rerr.Error())
		}
		rep := d.runner.Unavailable(err)
		log.Error("message handled", "outcome", rep.Outcome, "err", err.Error())
		return admission{body: replyBody(rep, m), outcome: rep.Outcome, reply: &rep}
	}
	if !dec.Allowed {
		d.describe(&e, m)
		rep := d.runner.RateLimited(d.ratePerMin, dec.RetryAfter)
		body := dingtalk.EmptyReply()
		if dec.Notify {
			body = replyBody(rep, m)
		}
		d.settle(sctx, log, m, e, rep, body, true)
		return admission{body: body, outcome: rep.Outcome, reply: &rep}
	}
	return admission{run: true}
}

// dispatch handles m. When the command finishes within the budget, its reply
// is the HTTP answer; otherwise the answer is "empty" and the reply is
// posted to the sessionWebhook when ready.
func (d *dispatcher) dispatch(ctx context.Context, m *dingtalk.Message, reqID string) ([]byte, string) {
	log := d.log.With("msg_id", m.MsgID, "sender", m.UserID(), "conversation", m.ConversationID, "request_id", reqID)
	e := d.entry(m, reqID)
	if a := d.admit(ctx, log, m, e); !a.run {
		return a.body, a.outcome
	}

	type done struct {
		rep  commands.Reply
		body []byte
	}
	// Whoever settles first decides who sends the reply: the webhook's
	// answer if the command finished within the budget, else the worker.
	const (
		undecided = iota
		inResponse
		delivered
	)
	var owner atomic.Int32
	ch := make(chan done, 1)
	ok := d.enqueue(func() {
		// The command outlives the HTTP request when it is slow, so it gets
		// its own deadline rather than the request's.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cmdTimeout)
		defer cancel()
		rep := d.run(cctx, m)
		body := replyBody(rep, m)
		inResp := owner.CompareAndSwap(undecided, inResponse)
		d.settle(cctx, log, m, e, rep, body, inResp)
		if inResp {
			ch <- done{rep, body}
			return
		}
		if d.deliverLater(log, m, rep, body) {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
			if err := d.state.Delivered(sctx, m.MsgID); err != nil {
				log.Warn("mark delivered", "err", err.Error())
			}
			cancel()
		}
	})
	if !ok {
		rep := d.runner.Busy()
		body := replyBody(rep, m)
		d.settle(ctx, log, m, e, rep, body, true)
		return body, rep.Outcome
	}

	t := time.NewTimer(d.budget)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.body, r.rep.Outcome
	case <-t.C:
		if owner.CompareAndSwap(undecided, delivered) {
			return dingtalk.EmptyReply(), "async"
		}
		r := <-ch // finished just now; it is about to be sent
		return r.body, r.rep.Outcome
	}
}

func (d *dispatcher) run(ctx context.Context, m *dingtalk.Message) (rep commands.Reply) {
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
	return d.runner.Handle(ctx, commands.Message{
		ID:             m.MsgID,
		SenderID:       m.UserID(),
		SenderNick:     m.SenderNick,
		ConversationID: m.ConversationID,
		Group:          m.Group(),
		Text:           m.Command(),
		Mentions:       m.Mentions(),
	})
}

// settle records the outcome and logs it. The claim is kept (with the reply,
// for re-deliveries) once a command ran, and given back when the state store
// failed before anything happened, so that a re-delivery can retry.
// delivered says the reply is going out with this call (in the HTTP answer),
// so re-deliveries stay silent.
func (d *dispatcher) settle(ctx context.Context, log *slog.Logger, m *dingtalk.Message, e commands.AuditEntry, rep commands.Reply, body []byte, delivered bool) {
	// Nothing happened yet for these; a re-delivery may try again.
	release := rep.Outcome == string(commands.EUNAVAILABLE) || rep.Outcome == "busy"
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
	defer cancel()
	err := d.state.Settle(sctx, m.MsgID, release, delivered, body, withReply(e, rep))
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
	if err != nil {
		attrs = append(attrs, "settle_err", err.Error())
	}
	level := slog.LevelInfo
	if rep.Outcome == string(commands.EINTERNAL) || rep.Outcome == string(commands.EUNAVAILABLE) || err != nil {
		level = slog.LevelError
	}
	log.Log(ctx, level, "message handled", attrs...)
}

// runOnce handles m synchronously, for the shell: the same claim, rate
// limit, permission and command path as the webhook, with the reply
// returned instead of sent.
func (d *dispatcher) runOnce(ctx context.Context, m *dingtalk.Message) commands.Reply {
	log := d.log.With("msg_id", m.MsgID, "sender", m.UserID())
	e := d.entry(m, "shell")
	if a := d.admit(ctx, log, m, e); !a.run {
		if a.reply != nil {
			return *a.reply
		}
		return commands.Reply{Outcome: a.outcome}
	}
	cctx, cancel := context.WithTimeout(ctx, d.cmdTimeout)
	defer cancel()
	rep := d.run(cctx, m)
	d.settle(cctx, log, m, e, rep, replyBody(rep, m), true)
	return rep
}
