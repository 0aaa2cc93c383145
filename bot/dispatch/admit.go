package dispatch

import (
	"context"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// admitted is what a delivery of a message may do, whichever way it came.
type admitted int

const (
	// admitRun: the ticket holds the claim; run the message.
	admitRun admitted = iota
	// admitCopy: a copy of a message owned or answered already; nothing to
	// say.
	admitCopy
	// admitCarry: a copy that carries the reply its message never got out
	// (decision.body), and only this one.
	admitCarry
	// admitLimited: over the sender's rate limit; settled, and the sender
	// is told (decision.body) once per window.
	admitLimited
	// admitParked: Redis could not be reached; the message is admitted
	// once it is back, and answered then.
	admitParked
	// admitRefused: Redis could not be reached and no more can be parked;
	// the sender is asked to send it again (decision.body).
	admitRefused
)

// decision is the admission's outcome: what the delivery may do, what to
// say now (nil: nothing), and how the ingress counts it.
type decision struct {
	kind    admitted
	rep     commands.Reply
	body    []byte
	outcome Outcome
}

// admit decides what this delivery of t's message may do: the one
// admission for every entry point.
func (d *Dispatcher) admit(ctx context.Context, t *ticket) decision {
	adm, err := d.admitOnce(ctx, t)
	if err != nil {
		return d.blip(t, err)
	}
	if d.forgottenCopy(t, &adm) {
		return d.copy(ctx, t, adm)
	}
	switch adm.Verdict {
	case redisstore.Busy, redisstore.Delivered, redisstore.Carry:
		return d.copy(ctx, t, adm)
	}
	t.claim, t.grants = adm.Claim, adm.Scopes
	if adm.Verdict == redisstore.Run && !adm.Rate.Allowed {
		return d.rateLimited(t, adm)
	}
	if adm.Verdict == redisstore.Resume {
		d.hooks.Takeover("redelivery")
		t.log.Info("taking over a message whose owner is gone")
	}
	return decision{kind: admitRun}
}

func (d *Dispatcher) admitOnce(ctx context.Context, t *ticket) (redisstore.Admission, error) {
	payload, err := storedBody(t.m)
	if err != nil {
		return redisstore.Admission{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	return d.ledger.AdmitSpeculating(sctx, t.m.MsgID, t.m.UserID(), t.m.RateKey(), payload, d.speculate(t))
}

// speculate is what t's message will most likely write, recorded with its
// admission (commands.Runner.Speculate).
func (d *Dispatcher) speculate(t *ticket) *redisstore.Speculation {
	if !t.m.IsText() {
		return nil
	}
	read, w, hold, ok := d.runner.Speculate(commands.Message{Text: t.m.Command()})
	t.read = read // the command reads its text once
	if !ok {
		return nil
	}
	s := &redisstore.Speculation{Hold: hold}
	if w != nil {
		s.Write = *w
	}
	return s
}

// forgottenCopy notes that this process has seen t's message, and reports
// whether it is a copy of one it handled before Redis lost its data:
// admitted as new only because its record is gone. Such a copy's record
// is made anew, as delivered, and adm becomes a copy's.
func (d *Dispatcher) forgottenCopy(t *ticket, adm *redisstore.Admission) bool {
	seen := d.seen.contains(t.m.MsgID)
	d.seen.add(t.m.MsgID)
	if adm.Verdict != redisstore.Run || !seen || adm.DataLost.IsZero() {
		return false
	}
	t.log.Warn("a message this process handled before Redis lost its data was delivered again; it is not run again")
	t.claim = adm.Claim
	d.move(t, delivered, nil)
	*adm = redisstore.Admission{Verdict: redisstore.Delivered}
	return true
}

// copy audits a delivery of a message that another delivery owns or
// finished: it says nothing, or carries the reply that never got out.
func (d *Dispatcher) copy(ctx context.Context, t *ticket, adm redisstore.Admission) decision {
	t.entry.Outcome = string(Duplicate)
	t.describe(d.runner)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
	defer cancel()
	if err := d.audit.Audit(sctx, t.entry); err != nil {
		t.log.Warn("audit of a duplicate failed", "err", err.Error())
	}
	t.log.Info("message handled", "outcome", string(Duplicate), "resent", adm.Verdict == redisstore.Carry)
	if adm.Verdict == redisstore.Carry {
		return decision{kind: admitCarry, body: adm.Reply, outcome: Duplicate, rep: commands.Reply{Outcome: string(Duplicate)}}
	}
	return decision{kind: admitCopy, outcome: Duplicate, rep: commands.Reply{Outcome: string(Duplicate)}}
}

// rateLimited settles a message over the sender's limit; the sender is
// told once per window.
func (d *Dispatcher) rateLimited(t *ticket, adm redisstore.Admission) decision {
	t.describe(d.runner)
	rep := d.runner.RateLimited(d.cfg.RatePerMin, adm.Rate.RetryAfter)
	r := result{rep: rep}
	if adm.Rate.Notify {
		r.body = t.body(rep)
	}
	d.move(t, finishDelivered, &r)
	return decision{kind: admitLimited, rep: rep, body: r.body, outcome: Outcome(rep.Outcome)}
}

// blip decides for a delivery that could not be admitted: Redis is
// unreachable, so nothing says whether the message ran (another delivery
// of it may be running on another replica), and no answer may say it did
// not. Deliveries are told apart by message id, never by age: one of a
// message this process has seen (admitted, parked, answered) is a copy and
// gets an empty answer; any other is parked, also with an empty answer,
// and admitted once Redis is back, when its record says whether it runs
// here or is somebody else's. Only when too many are parked already is
// the sender asked to send it again (and it is recorded as answered, once
// Redis is back, so that no later copy runs beside the retry). The shell
// parks nothing: its user is told at once.
func (d *Dispatcher) blip(t *ticket, err error) decision {
	if t.via == viaShell {
		rep := d.runner.Unavailable(err)
		return decision{kind: admitRefused, rep: rep, outcome: Outcome(rep.Outcome)}
	}
	if d.seen.contains(t.m.MsgID) {
		t.log.Info("state store unavailable; a copy of a message this process has seen gets an empty answer", "err", err.Error())
		return decision{kind: admitCopy, outcome: Duplicate}
	}
	d.seen.add(t.m.MsgID)
	if d.parked.Add(1) > int64(d.maxParked) {
		d.parked.Add(-1)
		rep := d.runner.Unavailable(err)
		t.log.Error("message handled", "outcome", rep.Outcome, "err", err.Error(), "parked", d.maxParked)
		d.persist(t, func(ctx context.Context) error { return d.ledger.Forgo(ctx, t.m.MsgID) })
		return decision{kind: admitRefused, rep: rep, body: t.body(rep), outcome: Outcome(rep.Outcome)}
	}
	t.log.Warn("state store unavailable; the message is admitted when it is back", "err", err.Error())
	d.inflight.Add(1)
	go func() {
		defer d.inflight.Done()
		defer d.parked.Add(-1)
		d.park(t)
	}()
	return decision{kind: admitParked, outcome: Parked}
}

// park admits t's message once Redis answers again, within the reply
// timeout, and finishes it without an HTTP answer. When Redis does not
// come back in time, or the process stops first, the sender is told the
// message was not run.
func (d *Dispatcher) park(t *ticket) {
	ctx, cancel := context.WithTimeout(d.run, d.cfg.ReplyTimeout)
	defer cancel()
	backoff := d.cfg.RetryBase
	for {
		adm, err := d.admitOnce(ctx, t)
		if err == nil {
			switch adm.Verdict {
			case redisstore.Run, redisstore.Resume:
				t.claim, t.grants = adm.Claim, adm.Scopes
				d.runLater(t)
			case redisstore.Carry:
				d.notify(t, adm.Reply)
			}
			return
		}
		if !sleep(ctx, backoff) {
			t.log.Error("message not run: the state store did not come back in time", "after", d.cfg.ReplyTimeout.String(), "err", err.Error())
			rep := d.runner.NotRun(time.Since(t.m.CreateAt.Time()))
			// The last word on a message nobody else will answer: posted
			// now, even while the process stops.
			if !d.postNow(t, t.body(rep)) {
				return
			}
			d.persist(t, func(ctx context.Context) error { return d.ledger.Forgo(ctx, t.m.MsgID) })
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// orEmpty is body, or DingTalk's empty answer when there is none.
func orEmpty(body []byte) []byte {
	if body == nil {
		return dingtalk.EmptyReply()
	}
	return body
}

// storedBody is the message as its record keeps it, for whoever finishes
// it: without the robot signing secrets its text may carry, which the bot
// never keeps (a process that takes the message over asks for it again).
func storedBody(m *dingtalk.Message) ([]byte, error) {
	if red := commands.RedactSecrets(m.Text.Content); red != m.Text.Content {
		kept := *m
		kept.Text.Content = red
		return kept.Body()
	}
	return m.Body()
}
