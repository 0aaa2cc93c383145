package dispatch

import (
	"bytes"
	"context"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
)

// keepLeases renews this process's lease and sweeps for messages whose
// owner died or handed them over, thrice per lease, until ctx ends. What
// it takes over it finishes and replies to, so a message is answered even
// when DingTalk never delivers it again.
func (d *Dispatcher) keepLeases(ctx context.Context) {
	tick := time.NewTicker(d.cfg.Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		d.renewAndSweep(ctx)
	}
}

func (d *Dispatcher) renewAndSweep(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	if err := d.ledger.Renew(sctx); err != nil {
		d.hooks.LeaseRenewal(false)
		d.log.Warn("lease not renewed", "err", err.Error())
		return
	}
	d.hooks.LeaseRenewal(true)
	if d.draining.Load() {
		return
	}
	taken, err := d.ledger.Sweep(sctx)
	if err != nil {
		d.log.Warn("sweep for orphaned messages failed", "err", err.Error())
	}
	for _, c := range taken {
		d.adopt(c)
	}
}

// adopt finishes a message taken over by the sweep: its reply, when the
// earlier owner had it ready, goes to the reply lane; else the command
// runs.
func (d *Dispatcher) adopt(c *redisstore.Claim) {
	m, err := dingtalk.DecodeMessage(bytes.NewReader(c.Payload()))
	if err != nil {
		log := d.log.With("msg_id", c.ID(), "via", string(viaSweep))
		log.Error("a taken-over message cannot be read; giving it back", "err", err.Error())
		ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
		defer cancel()
		_ = c.HandOver(ctx)
		return
	}
	t := d.newTicket(&m, viaSweep, "takeover")
	t.claim = c
	d.hooks.Takeover("sweep")
	t.log.Info("taking over a message whose owner is gone")
	if c.Reply() != nil {
		d.finishLater(t, result{body: c.Reply(), carried: true})
		return
	}
	d.runLater(t)
}
