package bot

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// stateStore is the shared state the dispatcher needs: claims for
// de-duplication, the rate limit and the audit trail.
type stateStore interface {
	Claim(ctx context.Context, msgID string) (redisstore.ClaimState, []byte, error)
	Release(ctx context.Context, msgID string) error
	Allow(ctx context.Context, user string) (redisstore.RateDecision, error)
	Settle(ctx context.Context, msgID string, release bool, reply []byte, e commands.AuditEntry) error
	Audit(ctx context.Context, e commands.AuditEntry) error
}

// dispatcher takes a verified, decoded message through de-duplication, the
// rate limit and the command runner, and gets the reply out. The webhook
// and the shell share it.
type dispatcher struct {
	state      stateStore
	runner     *commands.Runner
	sender     *sessionSender
	log        *slog.Logger
	now        func() time.Time
	budget     time.Duration // how long the webhook waits before answering "empty"
	cmdTimeout time.Duration // how long a command may run in all
	ratePerMin int
	inflight   sync.WaitGroup
}

// stateTimeout bounds each step on the shared state, so that a Redis outage
// costs the webhook seconds, not minutes.
const stateTimeout = 3 * time.Second

var emptyBody = mustJSON(emptyReply)

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only for values built in this package
	}
	return b
}

func replyBody(rep commands.Reply, m *inbound) []byte {
	return mustJSON(markdownReply(rep.Title, rep.Text, m.SenderStaffID))
}

// entry starts the message's audit record; the outcome is filled in later.
func (d *dispatcher) entry(m *inbound, reqID string) commands.AuditEntry {
	e := commands.AuditEntry{
		Time: d.now(), MsgID: m.MsgID, SenderID: m.userID(), SenderNick: m.SenderNick,
		ConversationID: m.ConversationID, RequestRef: reqID,
	}
	if m.MsgType == "text" {
		e.Command, e.Args = commands.Describe(CleanText(m.Text.Content))
	} else {
		e.Args = "[" + m.MsgType + "]"
	}
	return e
}

func withReply(e commands.AuditEntry, rep commands.Reply) commands.AuditEntry {
	if rep.Command != "" {
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
func (d *dispatcher) admit(ctx context.Context, log *slog.Logger, m *inbound, e commands.AuditEntry) admission {
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
		if err := d.state.Audit(sctx, e); err != nil {
			log.Warn("audit of a duplicate failed", "err", err.Error())
		}
		log.Info("message handled", "outcome", "duplicate", "done", state == redisstore.Done)
		if state == redisstore.Done && len(prev) > 0 {
			return admission{body: prev, outcome: "duplicate"} // the same reply again
		}
		return admission{body: emptyBody, outcome: "duplicate"}
	}
	dec, err := d.state.Allow(sctx, m.userID())
	if err != nil {
		if rerr := d.state.Release(sctx, m.MsgID); rerr != nil {
			log.Warn("release claim", "err", rerr.Error())
		}
		rep := d.runner.Unavailable(err)
		log.Error("message handled", "outcome", rep.Outcome, "err", err.Error())
		return admission{body: replyBody(rep, m), outcome: rep.Outcome, reply: &rep}
	}
	if !dec.Allowed {
		rep := d.runner.RateLimited(d.ratePerMin, dec.RetryAfter)
		body := emptyBody
		if dec.Notify {
			body = replyBody(rep, m)
		}
		d.settle(sctx, log, m, e, rep, body)
		return admission{body: body, outcome: rep.Outcome, reply: &rep}
	}
	return admission{run: true}
}

// dispatch handles m. When the command finishes within the budget, its reply
// is the HTTP answer; otherwise the answer is "empty" and the reply is
// posted to the sessionWebhook when ready.
func (d *dispatcher) dispatch(ctx context.Context, m *inbound, reqID string) ([]byte, string) {
	log := d.log.With("msg_id", m.MsgID, "sender", m.userID(), "conversation", m.ConversationID, "request_id", reqID)
	e := d.entry(m, reqID)
	if a := d.admit(ctx, log, m, e); !a.run {
		return a.body, a.outcome
	}

	type done struct {
		rep  commands.Reply
		body []byte
	}
	ch := make(chan done, 1)
	d.inflight.Add(1)
	// The command outlives the HTTP request when it is slow, so it gets its
	// own deadline rather than the request's.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cmdTimeout)
	go func() {
		defer d.inflight.Done()
		defer cancel()
		rep := d.run(cctx, m)
		body := replyBody(rep, m)
		d.settle(cctx, log, m, e, rep, body)
		ch <- done{rep, body}
	}()

	t := time.NewTimer(d.budget)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.body, r.rep.Outcome
	case <-t.C:
		d.inflight.Add(1)
		go func() {
			defer d.inflight.Done()
			r := <-ch
			d.deliverLater(log, m, r.body)
		}()
		return emptyBody, "async"
	}
}

func (d *dispatcher) run(ctx context.Context, m *inbound) commands.Reply {
	if m.MsgType != "text" {
		return d.runner.TextOnly()
	}
	return d.runner.Handle(ctx, commands.Message{
		ID:             m.MsgID,
		SenderID:       m.userID(),
		SenderNick:     m.SenderNick,
		ConversationID: m.ConversationID,
		Group:          m.group(),
		Text:           CleanText(m.Text.Content),
		Mentions:       m.mentions(),
	})
}

// settle records the outcome and logs it. The claim is kept (with the reply,
// for re-deliveries) once a command ran, and given back when the state store
// failed before anything happened, so that a re-delivery can retry.
func (d *dispatcher) settle(ctx context.Context, log *slog.Logger, m *inbound, e commands.AuditEntry, rep commands.Reply, body []byte) {
	release := rep.Outcome == string(commands.EUNAVAILABLE)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
	defer cancel()
	err := d.state.Settle(sctx, m.MsgID, release, body, withReply(e, rep))

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

// deliverLater posts a slow command's reply to the sessionWebhook.
func (d *dispatcher) deliverLater(log *slog.Logger, m *inbound, body []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := d.sender.send(ctx, m.SessionWebhook, body)
	switch {
	case err == errForbiddenWebhook:
		log.Error("reply not delivered: sessionWebhook not allowed", "err", err.Error())
	case err != nil:
		log.Error("reply not delivered", "channel", "session", "err", err.Error())
	default:
		log.Info("reply delivered", "channel", "session")
	}
}

// wait blocks until every in-flight command and delayed reply is done or
// ctx ends.
func (d *dispatcher) wait(ctx context.Context) error {
	ch := make(chan struct{})
	go func() { d.inflight.Wait(); close(ch) }()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runOnce handles m synchronously, for the shell: the same claim, rate
// limit, permission and command path as the webhook, with the reply
// returned instead of sent.
func (d *dispatcher) runOnce(ctx context.Context, m *inbound) commands.Reply {
	log := d.log.With("msg_id", m.MsgID, "sender", m.userID())
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
	d.settle(cctx, log, m, e, rep, replyBody(rep, m))
	return rep
}
