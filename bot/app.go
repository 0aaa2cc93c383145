package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/armsbot/armsbot/arms"
	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// app is the wired bot, shared by serve and shell.
type app struct {
	metrics    *metrics
	store      *redisstore.Store
	ledger     *redisstore.Ledger
	dispatcher *dispatcher
	stopLeases func() // stops renewing and sweeping; idempotent
	closers    []func()
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// build wires the core to its adapters as cfg says: the Redis store, the
// ARMS client (or the sandbox stand-in), DingTalk's reply channels, and the
// dispatcher with its workers.
func build(ctx context.Context, cfg *Config, log *slog.Logger) (*app, error) {
	a := &app{metrics: newMetrics()}
	store, err := redisstore.Open(ctx, cfg.RedisURL, redisstore.Options{
		Prefix: cfg.RedisPrefix, ClaimTTL: cfg.ClaimTTL, RatePerMin: cfg.RateLimit, AuditMaxLen: int64(cfg.AuditMaxLen),
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
	runner := commands.NewRunner(commands.Settings{Lang: cfg.Lang, Admins: cfg.Admins, WriteConversations: cfg.WriteConvs,
		WriteWindow: cfg.ARMS.Timeout, VerifyAuto: cfg.VerifyAuto},
		commands.Ports{Permissions: a.store, Confirmations: a.store, Audit: a.store, Contacts: client, Groups: client, Planner: client,
			Directory: dingtalk.NewDirectory(cfg.OAPIBase, cfg.AppKey, cfg.AppSecret, httpClient, time.Now),
			Verifier:  client, Owners: a.store}, log)
	ledger := redisstore.NewLedger(store, redisstore.LedgerOptions{
		Process: processID(), Lease: cfg.Lease, WriteWindow: cfg.ARMS.Timeout, Log: log,
	})
	a.ledger = ledger
	run, stopRun := context.WithCancel(context.Background())
	a.dispatcher = &dispatcher{
		ledger:       ledger,
		audit:        a.store,
		run:          run,
		stopRun:      stopRun,
		lease:        cfg.Lease,
		metrics:      a.metrics,
		now:          time.Now,
		ratePerMin:   cfg.RateLimit,
		runner:       runner,
		sender:       dingtalk.NewSessionClient(httpClient, cfg.SessionPrefixes),
		openapi:      dingtalk.NewOpenAPI(cfg.OpenAPIBase, cfg.AppKey, cfg.AppSecret, cfg.RobotCode, httpClient, time.Now),
		retryBase:    500 * time.Millisecond,
		replyTimeout: cfg.ReplyTimeout,
		log:          log,
		budget:       cfg.SyncBudget,
		cmdTimeout:   cfg.CommandTimeout,
		seen:         newSeen(time.Now),
		reminders:    a.store,
		remindEvery:  cfg.VerifyRemind,
		maxParked:    4 * max(cfg.QueueSize, cfg.Workers),
	}
	a.dispatcher.startWorkers(cfg.Workers, cfg.QueueSize)
	a.metrics.queueDepth(a.dispatcher)
	a.closers = append(a.closers, stopRun, a.dispatcher.stopWorkers)
	leasesCtx, stopLeases := context.WithCancel(context.Background())
	leasesDone := make(chan struct{})
	go func() { defer close(leasesDone); a.dispatcher.keepLeases(leasesCtx) }()
	remindersDone := make(chan struct{})
	go func() { defer close(remindersDone); a.dispatcher.keepReminding(leasesCtx) }()
	a.stopLeases = func() { stopLeases(); <-leasesDone; <-remindersDone }
	a.closers = append(a.closers, a.stopLeases)
	return a, nil
}

// redisData fails once Redis is known to have lost its data while this
// process ran (its start marker vanished), until the process restarts.
func (a *app) redisData(context.Context) error {
	if at, lost := a.ledger.DataLost(); lost {
		return fmt.Errorf("Redis lost its data at %s (the start marker vanished): messages handled before then may run again when re-delivered, and /perm grants are gone; restart the bot once Redis persists its data",
			at.UTC().Format(time.RFC3339))
	}
	return nil
}

// processID names this process in the ledger: the host, for whoever reads
// Redis, and a part that is new at every start.
func processID() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
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
