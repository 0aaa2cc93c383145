package bot

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/commands/catalog"
)

// deliverLater gets a reply out when the HTTP answer could not carry it:
// to the message's sessionWebhook while it lives, else (expired, or
// errcode 300001) through the robot OpenAPI. Transient failures are retried
// with backoff until replyTimeout. It reports whether the reply got out.
func (d *dispatcher) deliverLater(log *slog.Logger, m *dingtalk.Message, body []byte) bool {
	ctx, cancel := context.WithTimeout(d.run, d.replyTimeout)
	defer cancel()
	return d.deliverWithin(ctx, log, m, body)
}

// deliverNow delivers body within a few seconds, even while the process
// stops: the last word on a message nobody else will answer.
func (d *dispatcher) deliverNow(log *slog.Logger, m *dingtalk.Message, body []byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.deliverWithin(ctx, log, m, body)
}

// deliverWithin delivers body to the message's sessionWebhook, or through
// the OpenAPI when that has expired, retrying transient failures until ctx
// ends.
func (d *dispatcher) deliverWithin(ctx context.Context, log *slog.Logger, m *dingtalk.Message, body []byte) bool {
	useSession := m.SessionUsable(d.now())
	backoff := d.retryBase
	for attempt := 1; ; attempt++ {
		channel := "session"
		var err error
		if useSession {
			err = d.sender.Send(ctx, m.SessionWebhook, body)
			if dingtalk.SessionExpired(err) {
				log.Info("sessionWebhook expired; falling back to the OpenAPI")
				useSession = false
				continue
			}
			if errors.Is(err, dingtalk.ErrForbiddenWebhook) {
				d.metrics.deliveries.WithLabelValues("session", "failed").Inc()
				log.Error("reply not delivered: sessionWebhook not allowed", "err", err.Error())
				return false
			}
		} else {
			channel = "openapi"
			if !d.openapi.Configured() {
				d.metrics.deliveries.WithLabelValues("openapi", "failed").Inc()
				log.Error("reply not delivered: the sessionWebhook has expired and DINGTALK_APP_KEY is not set for the OpenAPI fallback")
				return false
			}
			title, text, cerr := dingtalk.ReplyContent(body, m.SenderStaffID)
			if cerr != nil {
				log.Error("reply not delivered: not a markdown reply", "err", cerr.Error())
				return false
			}
			if m.SenderNick != "" {
				text += "\n\n— " + catalog.Inert(m.SenderNick) // it cannot @-mention: name the sender
			}
			err = d.openapi.SendReply(ctx, m, title, text)
		}
		if err == nil {
			d.metrics.deliveries.WithLabelValues(channel, "ok").Inc()
			log.Info("reply delivered", "channel", channel, "attempts", attempt)
			return true
		}
		if !dingtalk.Retryable(err) {
			d.metrics.deliveries.WithLabelValues(channel, "failed").Inc()
			log.Error("reply not delivered", "channel", channel, "attempts", attempt, "err", err.Error())
			return false
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			d.metrics.deliveries.WithLabelValues(channel, "failed").Inc()
			log.Error("reply not delivered: gave up", "channel", channel, "attempts", attempt, "after", d.replyTimeout.String(), "err", err.Error())
			return false
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}
