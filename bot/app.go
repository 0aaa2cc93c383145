package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/armsbot/armsbot/arms"
	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dispatch"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// app is the wired bot, shared by serve and shell.
type app struct {
	metrics    *metrics
	store      *redisstore.Store
	ledger     *redisstore.Ledger
	dispatcher *dispatch.Dispatcher
	openAPI    *dingtalk.OpenAPI
	closers    []func()
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// build wires the core to its adapters as cfg says: the Redis store, the
// ARMS client (or the sandbox stand-in), DingTalk's reply channels, and the
// dispatcher with its lanes, renewing its lease and sweeping.
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
		WriteWindow: cfg.ARMS.Timeout, VerifyAuto: cfg.VerifyAuto, Approval: cfg.Approval, ApprovalTTL: cfg.ApprovalTTL,
		ImportMax: cfg.ImportMax},
		commands.Ports{Permissions: a.store, Confirmations: a.store, Approvals: a.store, Audit: a.store, Contacts: client, Groups: client, Planner: client,
			Directory: dingtalk.NewDirectory(cfg.OAPIBase, cfg.AppKey, cfg.AppSecret, httpClient, time.Now),
			Verifier:  client, Owners: a.store, Policies: client, Robots: client}, log)
	ledger := redisstore.NewLedger(store, redisstore.LedgerOptions{
		Process: processID(), Lease: cfg.Lease, WriteWindow: cfg.ARMS.Timeout, Log: log,
	})
	a.ledger = ledger
	openAPI := dingtalk.NewOpenAPI(cfg.OpenAPIBase, cfg.AppKey, cfg.AppSecret, cfg.RobotCode, httpClient, time.Now)
	a.openAPI = openAPI
	var cards *dispatch.Cards
	if cfg.CardTemplate != "" && openAPI.Configured() {
		cards = &dispatch.Cards{API: openAPI, Store: store, TemplateID: cfg.CardTemplate}
		if cfg.Ingress == "http" {
			// Without the stream, clicks come to the registered route.
			cards.RouteKey = dingtalk.CardRouteKey
		}
	}
	var files dispatch.Files
	if openAPI.Configured() {
		files = openAPI
	}
	a.dispatcher = dispatch.New(dispatch.Config{
		Workers: cfg.Workers, Queue: cfg.QueueSize, Backlog: cfg.Backlog,
		ReplyWorkers: cfg.ReplyWorkers, ReplyQueue: cfg.ReplyQueue,
		Budget: cfg.SyncBudget, CommandTimeout: cfg.CommandTimeout, Lease: cfg.Lease, ReplyTimeout: cfg.ReplyTimeout,
		RatePerMin: cfg.RateLimit, RemindEvery: cfg.VerifyRemind,
	}, dispatch.Deps{
		Ledger: ledger, Audit: a.store, Runner: runner, Reminders: a.store, Cards: cards, Files: files, Log: log, Hooks: a.metrics.dispatchHooks(),
		Session: dingtalk.NewSessionClient(httpClient, cfg.SessionPrefixes),
		OpenAPI: openAPI,
	})
	a.metrics.lanes(a.dispatcher.Stats)
	a.closers = append(a.closers, a.dispatcher.Stop)
	a.dispatcher.Start()
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
		return c, func() {}, nil // a plain-http endpoint is among cfg.warnings()
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
