package bot

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dispatch"
	"github.com/armsbot/armsbot/commands"
)

// metrics are the bot's Prometheus series, on a registry of their own (no
// global state), served at /metrics.
type metrics struct {
	reg        *prometheus.Registry
	webhooks   *prometheus.CounterVec
	commands   *prometheus.CounterVec
	armsCalls  *prometheus.CounterVec
	armsFaults *prometheus.CounterVec
	armsTime   *prometheus.HistogramVec
	deliveries *prometheus.CounterVec
	redisErrs  *prometheus.CounterVec
	// The ledger: messages taken over from a process that died or handed
	// them over, messages handed over on shutdown, and lease renewals.
	takeovers     *prometheus.CounterVec
	handovers     prometheus.Counter
	leaseRenewals *prometheus.CounterVec
	commandTime   *prometheus.HistogramVec
	ready         *prometheus.GaugeVec
	// Reminders of unverified phones: sent, done (verified or gone),
	// failed.
	reminders *prometheus.CounterVec
	// The Stream ingress.
	streamConnected     prometheus.Gauge
	streamRegistrations *prometheus.CounterVec
	streamFrames        *prometheus.CounterVec
	streamAck           prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "armsbot_webhooks_total", Help: "DingTalk callbacks by outcome (ok, bad_signature, bad_request, bad_origin, duplicate, rate_limited, denied, invalid, async, busy, unavailable, ...).",
		}, []string{"outcome"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "armsbot_commands_total", Help: "Commands run, by command and outcome.",
		}, []string{"command", "outcome"}),
		armsCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "armsbot_arms_calls_total", Help: "ARMS API calls by action and error code (\"\" for success, \"transport\" when no answer came).",
		}, []string{"action", "code"}),
		armsFaults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "armsbot_arms_faults_total", Help: "Failed ARMS API calls by action and what kind of failure (unavailable, unreachable, no_answer, throttled: ARMS or the way to it failed; invalid, other, too_frequent: ARMS answered no, as to a duplicate or a typo; forbidden, credentials, not_activated: the account's setup).",
		}, []string{"action", "fault"}),
		armsTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "armsbot_arms_call_duration_seconds", Help: "ARMS API call latency.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"action"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "armsbot_reply_deliveries_total", Help: "Replies by channel (sync, session, openapi) and outcome (ok; failed: given up; unknown: the post went out and no answer came, so it is not posted again).",
		}, []string{"channel", "outcome"}),
		redisErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "armsbot_redis_errors_total", Help: "Failed Redis commands, by command.",
		}, []string{"command"}),
		takeovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "armsbot_takeovers_total", Help: "Messages taken over from a process that died or handed them over, by how they were found (redelivery, sweep).",
		}, []string{"via"}),
		handovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "armsbot_handovers_total", Help: "Unfinished messages handed over to other replicas on shutdown.",
		}),
		leaseRenewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "armsbot_lease_renewals_total", Help: "Renewals of this process's lease on its messages, by outcome (ok, failed).",
		}, []string{"outcome"}),
	}
	m.commandTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "armsbot_command_duration_seconds", Help: "Time to run a command, from its parse to its reply, by command (\"none\" when no command was recognised).",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"command"})
	m.ready = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "armsbot_ready", Help: "1 while a readiness check passes (redis; redis-data; stream in stream mode), as /readyz reports it; refreshed every 10s.",
	}, []string{"check"})
	m.reminders = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "armsbot_verify_reminders_total", Help: "Reminders of phones ARMS will not call until verified, by outcome (sent, done: verified or gone, failed).",
	}, []string{"outcome"})
	m.streamConnected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "armsbot_stream_connected", Help: "1 while the DingTalk Stream connection is up (stream ingress).",
	})
	m.streamRegistrations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "armsbot_stream_registrations_total", Help: "Stream registrations by outcome (connected, reconnected, failed).",
	}, []string{"outcome"})
	m.streamFrames = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "armsbot_stream_frames_total", Help: "Stream frames by topic and outcome (ok, bad_frame, panic, closing).",
	}, []string{"topic", "outcome"})
	m.streamAck = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "armsbot_stream_ack_seconds", Help: "Time from a robot message frame's arrival to its acknowledgement.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	m.reg.MustRegister(m.webhooks, m.commands, m.armsCalls, m.armsFaults, m.armsTime, m.deliveries, m.redisErrs, m.takeovers, m.handovers, m.leaseRenewals,
		m.commandTime, m.ready, m.reminders, m.streamConnected, m.streamRegistrations, m.streamFrames, m.streamAck,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.zero()
	return m
}

// zero creates the series whose labels are known in advance at 0, so that
// every metric the alerts and the dashboard use exists from the start and
// increase() sees the first event.
func (m *metrics) zero() {
	for _, o := range []string{"ok", "bad_signature", "bad_request", "bad_origin", "duplicate", "rate_limited", "denied", "invalid", "async", "busy", "unavailable", "parked"} {
		m.webhooks.WithLabelValues(o)
	}
	for _, ch := range []string{"sync", "session", "openapi"} {
		for _, o := range []string{"ok", "failed", "unknown"} {
			m.deliveries.WithLabelValues(ch, o)
		}
	}
	for _, a := range []string{"CreateAlertContact", "SearchAlertContact", "UpdateAlertContact", "DeleteAlertContact",
		"CreateOrUpdateContact", "DescribeContacts", "DeleteContact", "SendTTSVerifyLink"} {
		m.armsCalls.WithLabelValues(a, "")
		m.armsTime.WithLabelValues(a)
		m.armsFaults.WithLabelValues(a, string(commands.FaultUnavailable))
	}
	m.redisErrs.WithLabelValues("pipeline")
	m.takeovers.WithLabelValues("redelivery")
	m.takeovers.WithLabelValues("sweep")
	m.leaseRenewals.WithLabelValues("ok")
	m.leaseRenewals.WithLabelValues("failed")
	for _, o := range []string{"connected", "reconnected", "failed"} {
		m.streamRegistrations.WithLabelValues(o)
	}
	m.streamFrames.WithLabelValues(dingtalk.BotMessageTopic, "ok")
	m.commandTime.WithLabelValues("none")
	for _, o := range []string{"sent", "done", "failed"} {
		m.reminders.WithLabelValues(o)
	}
}

// observeARMS is handed to the arms client.
func (m *metrics) observeARMS(action, code string, fault commands.Fault, d time.Duration) {
	m.armsCalls.WithLabelValues(action, code).Inc()
	m.armsTime.WithLabelValues(action).Observe(d.Seconds())
	if fault != "" {
		m.armsFaults.WithLabelValues(action, string(fault)).Inc()
	}
}

// dispatchHooks reports the dispatcher's events in the metrics.
func (m *metrics) dispatchHooks() dispatch.Hooks {
	return dispatch.Hooks{
		Handled: func(command, outcome string) { m.commands.WithLabelValues(commandLabel(command), outcome).Inc() },
		CommandTime: func(command string, d time.Duration) {
			m.commandTime.WithLabelValues(commandLabel(command)).Observe(d.Seconds())
		},
		Delivery:   func(channel, outcome string) { m.deliveries.WithLabelValues(channel, outcome).Inc() },
		Takeover:   func(via string) { m.takeovers.WithLabelValues(via).Inc() },
		HandedOver: func(n int) { m.handovers.Add(float64(n)) },
		LeaseRenewal: func(ok bool) {
			m.leaseRenewals.WithLabelValues(map[bool]string{true: "ok", false: "failed"}[ok]).Inc()
		},
		Reminder: func(outcome string) { m.reminders.WithLabelValues(outcome).Inc() },
	}
}

// lanes exposes the depths of the dispatcher's lanes, as stats reports
// them.
func (m *metrics) lanes(stats func() dispatch.Stats) {
	gauge := func(name, help string, f func(dispatch.Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f(stats())) })
	}
	m.reg.MustRegister(
		gauge("armsbot_queue_depth", "Commands waiting for a worker, in memory and in the backlog.", func(s dispatch.Stats) int { return s.Waiting }),
		gauge("armsbot_queue_capacity", "Commands that may wait for a worker in memory (BOT_QUEUE_SIZE); beyond it they wait in the backlog shared by all replicas (BOT_BACKLOG).", func(s dispatch.Stats) int { return s.Queue }),
		gauge("armsbot_backlog_waiting", "Commands this replica holds that wait counted in the shared backlog.", func(s dispatch.Stats) int { return s.Backlogged }),
		gauge("armsbot_reply_queue_depth", "Replies waiting for a reply worker.", func(s dispatch.Stats) int { return s.Replies }),
		gauge("armsbot_reply_queue_capacity", "Replies that may wait for a reply worker (BOT_REPLY_QUEUE); beyond it a reply is handed over for a sweep to post.", func(s dispatch.Stats) int { return s.ReplyQueue }),
		gauge("armsbot_reply_retries_pending", "Replies waiting to be tried again after a failed post.", func(s dispatch.Stats) int { return s.Retrying }),
	)
}

// commandLabel is a command's name as a label: one of the command set's.
func commandLabel(name string) string {
	if name == "" {
		return "none"
	}
	return name
}

// observeRedis is told of every round trip to Redis and counts the failed
// ones by command.
func (m *metrics) observeRedis(op string, err error) {
	if err != nil {
		m.redisErrs.WithLabelValues(op).Inc()
	}
}
