package bot

import (
	"bytes"
	"context"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
)

// keepLeases renews this process's lease and sweeps for messages whose
// owner died or handed them over, at once and then thrice per lease, until
// ctx ends. What it takes over it finishes and replies to, so a message is
// answered even when DingTalk never delivers it again.
func (d *dispatcher) keepLeases(ctx context.Context) {
	tick := time.NewTicker(d.lease / 3)
	defer tick.Stop()
	for {
		d.renewAndSweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (d *dispatcher) renewAndSweep(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	if err := d.ledger.Renew(sctx); err != nil {
		d.metrics.leaseRenewals.WithLabelValues("failed").Inc()
		d.log.Warn("lease not renewed", "err", err.Error())
		return
	}
	d.metrics.leaseRenewals.WithLabelValues("ok").Inc()
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

// adopt finishes a message taken over by the sweep.
func (d *dispatcher) adopt(c *redisstore.Claim) {
	log := d.log.With("msg_id", c.ID(), "via", "sweep")
	m, err := dingtalk.DecodeMessage(bytes.NewReader(c.Payload()))
	if err != nil {
		log.Error("a taken-over message cannot be read; giving it back", "err", err.Error())
		ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
		defer cancel()
		_ = c.HandOver(ctx)
		return
	}
	d.metrics.takeovers.WithLabelValues("sweep").Inc()
	log.Info("taking over a message whose owner is gone")
	d.resume(log.With("sender", m.UserID(), "conversation", m.ConversationID), &m, c, nil, d.entry(&m, "takeover"))
}

// drain hands this process's unfinished messages over, on shutdown, after
// they had their time: commands and deliveries still going stop and
// settle nothing; another replica, or the next start, finishes them and
// replies.
func (d *dispatcher) drain(ctx context.Context) {
	d.draining.Store(true)
	n, err := d.ledger.HandOver(ctx)
	d.stopRun()
	if err != nil {
		d.log.Error("hand-over failed; the messages are taken over when this process's lease lapses", "err", err.Error())
		return
	}
	if n > 0 {
		d.metrics.handovers.Add(float64(n))
		d.log.Info("handed unfinished messages over to the other replicas", "messages", n)
	}
}
