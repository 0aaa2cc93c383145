// Package bot runs the DingTalk side of armsbot: the Echo webhook server,
// the DingTalk protocol, de-duplication and dispatch to commands, and the
// local shell.
package bot

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/armsbot/armsbot/arms"
	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

const usage = `armsbot: manage Alibaba Cloud ARMS alert contacts from DingTalk.

Usage:
  bot serve [flags]            run the DingTalk webhook server
  bot shell [flags]            type commands in a local console (no DingTalk needed)
  bot send [flags] "/command"  sign a message and post it to a running bot
  bot check [flags]            check configuration, Redis, ARMS and DingTalk; changes nothing
  bot version                  print version, commit, build date and Go version
  bot probe URL                exit 0 if URL answers 200 (container health checks)

Run "bot serve -h" or "bot shell -h" for the settings; every flag can also
be given as the environment variable named in its description.
`

// Run is the whole program; main only adds signals and the exit code.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch cmd := args[1]; cmd {
	case "serve", "shell", "send", "check":
		cfg, err := parseConfig(cmd, args[2:], getenv, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("invalid configuration:\n%w", err)
		}
		switch cmd {
		case "serve":
			return serve(ctx, cfg, newLogger(stderr, cfg.LogLevel))
		case "send":
			return send(ctx, cfg, stdout)
		case "check":
			return check(ctx, cfg, stdout)
		}
		return shell(ctx, cfg, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "probe":
		// The container health check: the runtime image has no shell or curl.
		if len(args) != 3 {
			return errors.New("usage: bot probe http://127.0.0.1:8080/healthz")
		}
		return probe(ctx, args[2])
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	redisstore.RouteClientLogs(log)
	return log
}

// app is the wired bot, shared by serve and shell.
type app struct {
	metrics    *metrics
	store      *redisstore.Store
	dispatcher *dispatcher
	closers    []func()
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func build(ctx context.Context, cfg *Config, log *slog.Logger) (*app, error) {
	a := &app{metrics: newMetrics()}
	store, err := redisstore.Open(ctx, cfg.RedisURL, redisstore.Options{
		Prefix: cfg.RedisPrefix, ClaimTTL: cfg.ClaimTTL, RatePerMin: cfg.RateLimit, AuditMaxLen: int64(cfg.AuditMaxLen),
		ProcessingTTL: cfg.CommandTimeout + 5*time.Second,
	}, log)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, store.Close)
	store.Observe(a.metrics.observeRedis)
	a.store = store

	armsCfg, stopSandbox, err := armsConfig(cfg, log)
	if err != nil {
		a.close()
		return nil, err
	}
	a.closers = append(a.closers, stopSandbox)
	armsCfg.Observe = a.metrics.observeARMS
	client, err := arms.New(armsCfg, log)
	if err != nil {
		a.close()
		return nil, err
	}
	a.closers = append(a.closers, client.Close)
	httpClient := &http.Client{Timeout: 15 * time.Second}
	runner := commands.NewRunner(commands.Settings{Lang: cfg.Lang, Admins: cfg.Admins, WriteConversations: cfg.WriteConvs},
		a.store, a.store, a.store, client, log)
	a.dispatcher = &dispatcher{
		state:        a.store,
		metrics:      a.metrics,
		now:          time.Now,
		ratePerMin:   cfg.RateLimit,
		runner:       runner,
		sender:       dingtalk.NewSessionClient(httpClient, cfg.SessionPrefixes),
		openapi:      dingtalk.NewOpenAPI(cfg.OpenAPIBase, cfg.AppKey, cfg.AppSecret, httpClient, time.Now),
		retryBase:    500 * time.Millisecond,
		replyTimeout: cfg.ReplyTimeout,
		log:          log,
		budget:       cfg.SyncBudget,
		cmdTimeout:   cfg.CommandTimeout,
	}
	a.dispatcher.startWorkers(cfg.Workers, cfg.QueueSize)
	a.metrics.queueDepth(a.dispatcher)
	a.closers = append(a.closers, a.dispatcher.stopWorkers)
	return a, nil
}

// armsConfig returns the ARMS client settings; in sandbox mode it starts the
// in-process stand-in and points the client at it.
func armsConfig(cfg *Config, log *slog.Logger) (arms.Config, func(), error) {
	c := cfg.ARMS
	if !cfg.Sandbox {
		if strings.HasPrefix(c.Endpoint, "http://") {
			log.Warn("ARMS_ENDPOINT uses plain http; signed requests travel unencrypted", "endpoint", c.Endpoint)
		}
		return c, func() {}, nil
	}
	srv := armstest.NewUnstartedServer()
	url, stop, err := srv.Listen()
	if err != nil {
		return c, nil, fmt.Errorf("start ARMS sandbox: %w", err)
	}
	c.Endpoint, c.AccessKeyID, c.AccessKeySecret, c.SecurityToken, c.DefaultChain = url, armstest.AccessKeyID, armstest.AccessKeySecret, "", false
	log.Warn("SANDBOX MODE: ARMS calls go to an in-process stand-in at " + url + "; no real alert contacts are created or changed")
	return c, stop, nil
}

// serve runs the webhook server until ctx ends, then drains in-flight work.
func serve(ctx context.Context, cfg *Config, log *slog.Logger) error {
	logConfig(log, cfg)
	a, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	v := dingtalk.NewVerifier(cfg.AppSecret, time.Now)
	o := dingtalk.Origin{CorpID: cfg.CorpID, RobotCode: cfg.RobotCode}
	srv := &http.Server{
		Handler:           NewServer(log, v, o, a.store, a.dispatcher, a.metrics),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if cfg.DebugListen != "" {
		stop, err := serveDebug(cfg.DebugListen, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info("listening", "addr", ln.Addr().String(), "lang", string(cfg.Lang), "admins", len(cfg.Admins), "sandbox", cfg.Sandbox)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("http shutdown", "err", err)
	}
	if err := a.dispatcher.wait(sctx); err != nil {
		log.Error("in-flight commands did not finish before the shutdown timeout", "err", err)
	}
	log.Info("stopped")
	return nil
}

// shell reads commands line by line and prints the replies, through the
// same dispatcher the webhook uses.
func shell(ctx context.Context, cfg *Config, stdin io.Reader, stdout, stderr io.Writer) error {
	level := cfg.LogLevel
	if level < slog.LevelWarn {
		level = slog.LevelWarn // keep the console for replies
	}
	log := newLogger(stderr, level)
	if cfg.ARMS.AccessKeyID == "" || cfg.ARMS.AccessKeySecret == "" {
		cfg.Sandbox = true
	}
	if cfg.ShellAdmin {
		cfg.Admins = append(cfg.Admins, cfg.ShellUser)
	}
	a, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()

	conv := "1"
	if cfg.ShellGroup {
		conv = "2"
	}
	fmt.Fprintf(stdout, "armsbot shell: acting as %s. Type /help to start; Ctrl-D quits.\n", cfg.ShellUser)
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for n := 1; ; n++ {
		fmt.Fprint(stdout, "> ")
		if !sc.Scan() {
			fmt.Fprintln(stdout)
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		now := time.Now()
		m := dingtalk.NewTextMessage("shell-"+strconv.FormatInt(now.UnixNano(), 36)+"-"+strconv.Itoa(n), cfg.ShellUser, line, now)
		m.ConversationType, m.ConversationID = conv, "shell"
		rep := a.dispatcher.runOnce(ctx, &m)
		fmt.Fprintf(stdout, "%s\n%s\n\n", "## "+rep.Title, rep.Text)
		if ctx.Err() != nil {
			return nil
		}
	}
}
