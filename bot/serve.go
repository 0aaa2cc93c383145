package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
)

// serve takes messages from the webhook, the stream or both until ctx
// ends, then drains in-flight work.
func serve(ctx context.Context, cfg *Config, log *slog.Logger) error {
	logConfig(log, cfg)
	a, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	if err := requirePersistence(ctx, cfg, a, log); err != nil {
		return err
	}
	v := dingtalk.NewVerifier(cfg.AppSecret, time.Now)
	o := dingtalk.Origin{CorpID: cfg.CorpID, RobotCode: cfg.RobotCode}
	var stream *dingtalk.Stream
	if cfg.Ingress != "http" {
		stream = newStream(cfg, a.metrics, log)
	}
	cards := cfg.CardTemplate != "" && cfg.AppKey != ""
	if cards && stream != nil {
		stream.HandleCards(func(ctx context.Context, c dingtalk.CardClick) dingtalk.CardAnswer {
			return a.dispatcher.Click(ctx, c)
		})
	}
	r := routes{metrics: a.metrics, scrape: cfg.MetricsListen == "", ready: []readyCheck{{"redis", a.store.Ping}, {"redis-data", a.redisData}}}
	if cfg.Ingress == "stream" {
		// With both ingresses a replica whose stream is down still takes
		// webhooks: it stays in the load balancer.
		r.ready = append(r.ready, readyCheck{"stream", func(context.Context) error {
			if !stream.Connected() {
				return errStreamDown
			}
			return nil
		}})
	}
	if cfg.Ingress != "stream" {
		r.webhook = &webhook{verify: v, origin: o, d: a.dispatcher, bodyTimeout: cfg.BodyTimeout}
	}
	if cards && cfg.Ingress == "http" {
		path := dingtalk.CardCallbackPath(cfg.AppSecret)
		r.cards = &cardRoute{path: path, origin: o, d: a.dispatcher}
		if err := registerCardRoute(ctx, a.openAPI, strings.TrimRight(cfg.PublicURL, "/")+path, cfg.AppSecret, log); err != nil {
			return err
		}
	}
	for _, w := range cfg.warnings() {
		log.Warn(w)
	}
	srv := &http.Server{
		Handler:           NewServer(log, r),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	for _, side := range []struct {
		name, addr string
		handler    http.Handler
	}{{"metrics", cfg.MetricsListen, metricsServer(a.metrics)}, {"profiler", cfg.DebugListen, debugServer()}} {
		if side.addr == "" {
			continue
		}
		stop, err := serveSide(side.name, side.addr, side.handler, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	go watchReadiness(ctx, r.ready, a.metrics)
	log.Info("listening", "addr", ln.Addr().String(), "ingress", cfg.Ingress, "lang", string(cfg.Lang), "admins", len(cfg.Admins), "sandbox", cfg.Sandbox)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	streamCtx, closeStream := context.WithCancel(context.Background())
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		if stream != nil {
			stream.Run(streamCtx, func(ctx context.Context, m dingtalk.Message) {
				if err := o.Check(&m); err != nil {
					a.metrics.webhooks.WithLabelValues("bad_origin").Inc()
					log.Warn("stream message rejected", "outcome", "bad_origin", "reason", err.Error(), "msg_id", m.MsgID)
					return // sending it again would not change its origin
				}
				a.dispatcher.Stream(ctx, &m)
			})
		}
	}()
	defer func() { closeStream(); <-streamDone }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// No new messages: the stream closes while the webhook stops taking them.
	closeStream()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("http shutdown", "err", err)
	}
	<-streamDone
	if err := a.dispatcher.Wait(sctx); err != nil {
		log.Warn("commands or replies outlived the shutdown timeout; handing them over", "err", err)
	}
	// Whatever is unfinished now goes to another replica, or to the next
	// start, with what it intended to write and any reply: it is finished
	// and answered there, never lost and never done twice.
	hctx, hcancel := context.WithTimeout(context.Background(), handOverTimeout)
	defer hcancel()
	a.dispatcher.Drain(hctx)
	log.Info("stopped")
	return nil
}

// registerCardRoute tells DingTalk where to send card clicks, retrying a
// few times: without it no click in HTTP mode would reach the bot.
func registerCardRoute(ctx context.Context, api *dingtalk.OpenAPI, url, appSecret string, log *slog.Logger) error {
	var err error
	for attempt := range 3 {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = api.RegisterCardCallback(rctx, dingtalk.CardRouteKey, url, dingtalk.CardCallbackPath(appSecret))
		cancel()
		if err == nil {
			log.Info("card callback route registered", "route_key", dingtalk.CardRouteKey)
			return nil
		}
		log.Warn("card callback route not registered yet", "attempt", attempt+1, "err", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * time.Second):
		}
	}
	return fmt.Errorf("register the card callback route at DingTalk (needed for DINGTALK_CARD_TEMPLATE_ID in HTTP mode): %w", err)
}

// handOverTimeout bounds the hand-over on shutdown, after the posts under
// way (at most dingtalk.PostTimeout) are through.
const handOverTimeout = 3 * time.Second

// requirePersistence refuses to serve against a Redis that keeps nothing
// across a restart, unless the operator said so with BOT_REDIS_EPHEMERAL:
// such a restart forgets which messages ran and every grant. Snapshots
// only, or a Redis that does not say (managed ones refuse CONFIG), get a
// warning.
func requirePersistence(ctx context.Context, cfg *Config, a *app, log *slog.Logger) error {
	if cfg.RedisURL == "" {
		return nil // the embedded store: its warning was given
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	mode, ok := a.store.Persistence(pctx)
	switch {
	case !ok:
		log.Warn("could not ask Redis whether it persists its data (CONFIG GET refused or Redis unreachable): make sure appendonly is on (README, Redis)")
	case mode == "none" && !cfg.RedisEphemeral:
		return errors.New("Redis at " + redactURL(cfg.RedisURL) + " keeps nothing across a restart (appendonly no, no snapshots): " +
			"a restart would forget which messages ran, who finishes them, and every /perm grant. " +
			"Turn appendonly on (README, Redis), or set BOT_REDIS_EPHEMERAL=true to accept that")
	case mode == "none":
		log.Warn("Redis keeps nothing across a restart (BOT_REDIS_EPHEMERAL=true): a restart forgets which messages ran and every /perm grant; the bot notices and says so")
	case mode == "snapshots":
		log.Warn("Redis keeps snapshots only: a restart loses what changed since the last one; turn appendonly on (README, Redis)")
	}
	return nil
}

// debugServer is the Go profiler, served on its own listener, never on
// the webhook's port.
func debugServer() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// serveSide serves h on its own listener at addr.
func serveSide(name, addr string, h http.Handler, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener %s: %w", name, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info(name+" listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// watchReadiness keeps armsbot_ready{check} current, so that an alert can
// say which check fails while the probe leaves it out.
func watchReadiness(ctx context.Context, checks []readyCheck, m *metrics) {
	t := time.NewTicker(readinessEvery)
	defer t.Stop()
	for {
		for _, ch := range checks {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			up := 1.0
			if ch.check(cctx) != nil {
				up = 0
			}
			cancel()
			m.ready.WithLabelValues(ch.name).Set(up)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readinessEvery is how often armsbot_ready is brought up to date.
const readinessEvery = 10 * time.Second
