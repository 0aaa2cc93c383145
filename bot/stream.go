package bot

import (
	"context"
	"log/slog"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
)

// newStream is the Stream ingress: DingTalk's gateway pushes robot messages
// over a WebSocket this process opens, and every one takes the webhook's
// path through the dispatcher.
func newStream(cfg *Config, m *metrics, log *slog.Logger) *dingtalk.Stream {
	registered := false
	return dingtalk.NewStream(cfg.OpenAPIBase, cfg.AppKey, cfg.AppSecret, dingtalk.StreamOptions{
		Watchdog: cfg.StreamWatchdog,
		OnConnected: func(up bool) {
			m.streamConnected.Set(map[bool]float64{true: 1, false: 0}[up])
		},
		OnRegistration: func(err error) {
			switch {
			case err != nil:
				m.streamRegistrations.WithLabelValues("failed").Inc()
			case registered:
				m.streamRegistrations.WithLabelValues("reconnected").Inc()
			default:
				registered = true
				m.streamRegistrations.WithLabelValues("connected").Inc()
			}
		},
		OnFrame: func(topic, outcome string, ack time.Duration) {
			m.streamFrames.WithLabelValues(topic, outcome).Inc()
			if topic == dingtalk.BotMessageTopic {
				m.streamAck.Observe(ack.Seconds())
			}
		},
	}, log.With("ingress", "stream"))
}

// receive takes a message that arrived over the stream, and returns as soon
// as it is admitted: DingTalk re-sends a frame that is not acknowledged in
// time, and the acknowledgement (always a success) follows the return. The
// stream cannot carry replies: they go to the sessionWebhook, or through
// the OpenAPI.
func (d *dispatcher) receive(ctx context.Context, m *dingtalk.Message, o dingtalk.Origin) {
	log := d.log.With("msg_id", m.MsgID, "sender", m.UserID(), "conversation", m.ConversationID, "via", "stream")
	if err := o.Check(m); err != nil {
		d.metrics.webhooks.WithLabelValues("bad_origin").Inc()
		log.Warn("stream message rejected", "outcome", "bad_origin", "reason", err.Error())
		return
	}
	e := d.entry(m, "stream")
	// A frame that reached us is taken whole even when its connection ends
	// meanwhile: a half-taken message would answer "unavailable" for a
	// closing socket. If the acknowledgement cannot go out, DingTalk sends
	// the message again and finds it owned or done.
	ctx = context.WithoutCancel(ctx)
	adm, err := d.admit(ctx, m)
	if err != nil {
		if a := d.blip(log, m, e, err); !dingtalk.IsEmptyReply(a.body) {
			d.later(log, m, a.body) // it ran nowhere: the sender may send it again
		}
		return
	}
	d.forgottenCopy(log, m, &adm)
	switch adm.Verdict {
	case redisstore.Busy, redisstore.Delivered, redisstore.Carry:
		if a := d.duplicate(ctx, log, m, e, adm); !dingtalk.IsEmptyReply(a.body) {
			d.later(log, m, a.body)
		}
		return
	}
	c := adm.Claim
	if adm.Verdict == redisstore.Run && !adm.Rate.Allowed {
		d.describe(&e, m)
		rep := d.runner.RateLimited(d.ratePerMin, adm.Rate.RetryAfter)
		if !adm.Rate.Notify {
			err := d.persist(log, func(ctx context.Context) error { return c.Finish(ctx, nil, true, withReply(e, rep)) })
			d.logOutcome(log, rep, err)
			return
		}
		d.inflight.Add(1)
		go func() {
			defer d.inflight.Done()
			d.finishLater(log, m, c, e, result{rep: rep, body: replyBody(rep, m)})
		}()
		return
	}
	if adm.Verdict == redisstore.Resume {
		d.metrics.takeovers.WithLabelValues("redelivery").Inc()
		log.Info("taking over a message whose owner is gone")
	}
	if !d.enqueue(func() {
		if r, ok := d.execute(log, m, c, adm.Scopes); ok {
			d.finishLater(log, m, c, e, r)
		}
	}) {
		// The acknowledgement is a success whatever happens: the sender is
		// told, in chat, to send the message again.
		rep := d.runner.Busy()
		err := d.persist(log, func(ctx context.Context) error { return c.Release(ctx, withReply(e, rep)) })
		d.logOutcome(log, rep, err)
		d.later(log, m, replyBody(rep, m))
	}
}

// later delivers a reply that needs no record (a notice, a carried reply)
// in the background.
func (d *dispatcher) later(log *slog.Logger, m *dingtalk.Message, body []byte) {
	d.inflight.Add(1)
	go func() {
		defer d.inflight.Done()
		d.deliverLater(log, m, body)
	}()
}
