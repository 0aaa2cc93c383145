package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/armsbot/armsbot/commands"
)

// step is a move of a message's record.
type step int

const (
	// finish records the command's outcome with its reply, which this
	// process is about to post (delivered or undeliverable follows).
	finish step = iota
	// finishDelivered records the command's outcome; its reply went out
	// with the HTTP answer (or there is none to send).
	finishDelivered
	// delivered: the reply went out.
	delivered
	// undeliverable: no channel took the reply; a re-delivery carries it.
	undeliverable
	// release: the message had no effect; a re-delivery runs it.
	release
	// handOver: another replica's sweep finishes it, with what it intended
	// and any reply.
	handOver
	// posting: the reply may be on its way (a taker does not post it
	// again); notPosted takes that back.
	posting
	notPosted
)

// move moves t's record on by s; r is the command's result, for finish,
// finishDelivered and release, whose outcome is logged and counted. It
// reports whether this process still owns the message. When Redis cannot
// be reached, what happened stands and is recorded once Redis answers
// (tried in the background), except the posting marks, which are worth
// nothing late.
func (d *Dispatcher) move(t *ticket, s step, r *result) bool {
	c := t.claim
	var op func(ctx context.Context) error
	switch s {
	case finish:
		op = func(ctx context.Context) error { return c.Finish(ctx, r.body, false, t.audit(r.rep)) }
	case finishDelivered:
		op = func(ctx context.Context) error { return c.Finish(ctx, r.body, true, t.audit(r.rep)) }
	case delivered:
		op = c.Delivered
	case undeliverable:
		op = c.Undeliverable
	case release:
		op = func(ctx context.Context) error { return c.Release(ctx, t.audit(r.rep)) }
	case handOver:
		op = c.HandOver
	case posting, notPosted:
		ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
		defer cancel()
		var err error
		if s == posting {
			err = c.Posting(ctx)
		} else {
			err = c.NotPosted(ctx)
		}
		if err != nil && !errors.Is(err, commands.ErrLostOwnership) {
			t.log.Warn("could not mark the reply's post", "posting", s == posting, "err", err.Error())
		}
		return !errors.Is(err, commands.ErrLostOwnership)
	}
	// A reply about to be sent waits for its record a while: a process
	// that sent it unrecorded, while Redis was away, could not know
	// whether another delivery of the message, finding no record when
	// Redis came back, runs it and replies too.
	wait := time.Duration(0)
	if s == finish {
		wait = recordWait
	}
	err := d.persistWaiting(t, wait, op)
	if err == nil && (s == finish || s == finishDelivered) && len(r.rep.Rows) > 0 {
		d.auditRows(t, r.rep)
	}
	switch s {
	case finish, finishDelivered, release:
		d.logOutcome(t.log, r.rep, err)
	default:
		if err != nil && !errors.Is(err, commands.ErrLostOwnership) && !errors.Is(err, commands.ErrUnavailable) {
			t.log.Warn("record the message's progress", "step", int(s), "err", err.Error())
		}
	}
	return !errors.Is(err, commands.ErrLostOwnership)
}

// settle records how the message ended: delivered when its reply went out
// with this call, else done with the reply kept for whoever delivers it.
// A message that had no effect (Redis failed first) is released, so that a
// re-delivery can run it. It reports whether this process still owns the
// message.
func (d *Dispatcher) settle(t *ticket, r result, sent bool) bool {
	switch {
	case r.carried && sent:
		return d.move(t, delivered, nil)
	case r.carried:
		return true // recorded by the owner that made it
	case r.rep.Outcome == string(commands.EUNAVAILABLE):
		return d.move(t, release, &r)
	case sent:
		return d.move(t, finishDelivered, &r)
	}
	return d.move(t, finish, &r)
}

// recordWait is how long a reply waits for its record while Redis is
// unreachable, before it is sent unrecorded.
const recordWait = 10 * time.Second

// persist records a message's progress through op, now or, when Redis
// cannot be reached, in the background until the reply timeout.
func (d *Dispatcher) persist(t *ticket, op func(ctx context.Context) error) {
	_ = d.persistWaiting(t, 0, op)
}

// persistWaiting runs op, trying again for up to wait while Redis cannot
// be reached, then in the background; it returns the last try's outcome.
func (d *Dispatcher) persistWaiting(t *ticket, wait time.Duration, op func(ctx context.Context) error) error {
	try := func(parent context.Context) error {
		ctx, cancel := context.WithTimeout(parent, stateTimeout)
		defer cancel()
		return op(ctx)
	}
	err := try(context.Background())
	deadline := time.Now().Add(wait)
	backoff := d.cfg.RetryBase
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
		rctx, cancel := context.WithTimeout(d.run, d.cfg.ReplyTimeout)
		defer cancel()
		backoff := d.cfg.RetryBase
		for sleep(rctx, backoff) {
			err := try(rctx)
			if err == nil || !errors.Is(err, commands.ErrUnavailable) {
				t.log.Info("recorded once the state store was back", "err", fmt.Sprint(err))
				return
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		t.log.Error("could not record the message's progress: the state store stayed unavailable", "err", err.Error())
	}()
	return err
}

func (d *Dispatcher) logOutcome(log *slog.Logger, rep commands.Reply, settleErr error) {
	d.hooks.Handled(rep.Command, rep.Outcome)
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

// auditRows appends an entry for each row of a command that did many
// things (an import), after the message's own entry: the finishing owner
// does, once, for every row, those an earlier owner ran included.
func (d *Dispatcher) auditRows(t *ticket, rep commands.Reply) {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	for _, row := range rep.Rows {
		e := t.audit(commands.Reply{Command: row.Command, Args: row.Args, Outcome: row.Outcome, ContactID: row.ContactID, RequestID: row.RequestID})
		if err := d.audit.Audit(ctx, e); err != nil {
			t.log.Warn("an import row's audit entry was not written", "err", err.Error())
			return
		}
	}
}
