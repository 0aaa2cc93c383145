package dispatch

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/commands"
)

// Webhook handles one delivery of m over HTTP. When the command finishes
// within the budget, its reply is the answer; otherwise the answer is
// empty and the reply goes out on the reply lane.
func (d *Dispatcher) Webhook(ctx context.Context, m *dingtalk.Message, reqID string) Answer {
	t := d.newTicket(m, viaWebhook, reqID)
	dec := d.admit(ctx, t)
	if dec.kind != admitRun {
		_, body, _ := dingtalk.OfferOf(orEmpty(dec.body)) // an answer carries text only
		return Answer{Body: body, Outcome: dec.outcome}
	}
	return d.await(ctx, t)
}

// await runs t on the command lane and waits for it within the budget.
// Whoever decides first sends the reply: the answer, if the command
// finished within the budget and the caller still waits, else the reply
// lane.
func (d *Dispatcher) await(ctx context.Context, t *ticket) Answer {
	const (
		undecided = iota
		byAnswer
		byLane
	)
	var owner atomic.Int32
	ch := make(chan result, 1)
	t.then = func(r result) {
		if owner.CompareAndSwap(undecided, byAnswer) {
			ch <- r
			return
		}
		d.finishLater(t, r)
	}
	if !d.enqueue(t) {
		r := d.busy(t)
		return Answer{Body: r.body, Outcome: Outcome(r.rep.Outcome)}
	}
	timer := time.NewTimer(d.cfg.Budget)
	defer timer.Stop()
	var r result
	select {
	case r = <-ch:
	case <-timer.C:
	case <-ctx.Done(): // the caller is gone: the reply takes another way
	}
	if r.body == nil {
		if owner.CompareAndSwap(undecided, byLane) {
			return Answer{Body: dingtalk.EmptyReply(), Outcome: Async}
		}
		r = <-ch // finished just now; it is about to be sent
	}
	if _, _, card := dingtalk.OfferOf(r.body); card {
		// A card is not an answer's to carry: it goes out on the lane.
		d.finishLater(t, r)
		return Answer{Body: dingtalk.EmptyReply(), Outcome: Async}
	}
	return Answer{Body: r.body, Outcome: Outcome(r.rep.Outcome), sent: func(ok bool) {
		if !ok {
			t.log.Warn("the caller was gone before the reply; it goes out on the reply lane")
			d.finishLater(t, r)
			return
		}
		if d.settle(t, r, true) {
			d.remindLater(t, r.rep)
		}
	}}
}

// Stream takes a message that arrived over the stream, and returns as soon
// as it is admitted and queued: the acknowledgement follows the return,
// and is a success whatever happened (whether DingTalk re-sends a frame
// acknowledged with an error is undocumented). What the sender must know
// (busy, rate-limited, a carried reply) is posted to the conversation.
func (d *Dispatcher) Stream(ctx context.Context, m *dingtalk.Message) {
	t := d.newTicket(m, viaStream, string(viaStream))
	// A frame that reached us is taken whole even when its connection ends
	// meanwhile.
	dec := d.admit(context.WithoutCancel(ctx), t)
	if dec.kind != admitRun {
		if dec.body != nil && !dingtalk.IsEmptyReply(dec.body) {
			d.notify(t, dec.body)
		}
		return
	}
	d.runLater(t)
}

// runLater runs a claimed message whose reply goes out on the reply lane:
// one that came over the stream, was parked, or was taken over. When no
// worker, queue slot or backlog place is free, a message someone waits
// for is answered "busy"; one taken over from elsewhere is handed back
// for another sweep.
func (d *Dispatcher) runLater(t *ticket) {
	t.then = func(r result) { d.finishLater(t, r) }
	if d.enqueue(t) {
		return
	}
	if t.via == viaSweep {
		t.log.Warn("no room to run a message taken over; handing it back")
		d.move(t, handOver, nil)
		return
	}
	r := d.busy(t)
	d.notify(t, r.body)
}

// busy gives back a message no worker can take: nothing happened, so a
// re-delivery may run it, and the sender is asked to send it again.
func (d *Dispatcher) busy(t *ticket) result {
	r := result{rep: d.runner.Busy()}
	r.body = t.body(r.rep)
	d.move(t, release, &r)
	return r
}

// Shell handles m synchronously, for the shell: the same admission,
// permission and command path as the webhook, with the reply returned
// instead of sent.
func (d *Dispatcher) Shell(ctx context.Context, m *dingtalk.Message) commands.Reply {
	t := d.newTicket(m, viaShell, string(viaShell))
	if dec := d.admit(ctx, t); dec.kind != admitRun {
		return dec.rep
	}
	r, ok := d.execute(t)
	if !ok {
		return commands.Reply{Outcome: string(commands.ELOST)}
	}
	d.settle(t, r, true)
	return r.rep
}
