package bot

import (
	"log/slog"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
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
