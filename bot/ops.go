package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	neturl "net/url"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/armsbot/armsbot/arms"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// Stamped at build time with -ldflags "-X github.com/armsbot/armsbot/bot.version=..." (see deploy/Dockerfile).
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

func versionLine() string {
	c, d := commit, buildDate
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown"
	}
	return fmt.Sprintf("armsbot %s (commit %s, built %s, %s)", version, c, d, runtime.Version())
}

// logConfig writes the effective configuration as one log line, secrets
// reduced to whether they are set.
func logConfig(log *slog.Logger, cfg *Config) {
	set := func(s string) string {
		if s == "" {
			return "unset"
		}
		return "set"
	}
	creds := "access key " + redactID(cfg.ARMS.AccessKeyID)
	switch {
	case cfg.Sandbox:
		creds = "sandbox"
	case cfg.ARMS.DefaultChain:
		creds = "sdk default chain"
	}
	log.Info("configuration",
		"version", version, "listen", cfg.Listen, "redis", redactURL(cfg.RedisURL), "redis_prefix", cfg.RedisPrefix,
		"dedupe_ttl", cfg.ClaimTTL.String(), "lang", string(cfg.Lang), "admins", cfg.Admins,
		"arms_region", cfg.ARMS.Region, "arms_endpoint", cfg.ARMS.Endpoint, "arms_credentials", creds,
		"arms_security_token", set(cfg.ARMS.SecurityToken), "arms_timeout", cfg.ARMS.Timeout.String(), "arms_clients", cfg.ARMS.Clients,
		"dingtalk_app_secret", set(cfg.AppSecret), "dingtalk_app_key", cfg.AppKey, "openapi_base", cfg.OpenAPIBase,
		"session_webhook_prefixes", cfg.SessionPrefixes, "corp_id", cfg.CorpID, "robot_code", cfg.RobotCode,
		"allowed_conversations", cfg.WriteConvs, "sync_reply_budget", cfg.SyncBudget.String(),
		"command_timeout", cfg.CommandTimeout.String(), "reply_timeout", cfg.ReplyTimeout.String(),
		"shutdown_timeout", cfg.ShutdownTimeout.String(), "workers", cfg.Workers, "queue_size", cfg.QueueSize,
		"rate_limit", cfg.RateLimit, "audit_maxlen", cfg.AuditMaxLen)
}

// redactID keeps enough of an AccessKey id to tell keys apart.
func redactID(id string) string {
	if len(id) <= 8 {
		return "****"
	}
	return id[:4] + "****" + id[len(id)-4:]
}

// redactURL drops a password from a Redis URL.
func redactURL(raw string) string {
	if raw == "" {
		return "embedded"
	}
	u, err := neturl.Parse(raw)
	if err != nil {
		return "unparseable"
	}
	if _, ok := u.User.Password(); ok {
		u.User = neturl.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// send signs a real-shaped DingTalk message and posts it to a running bot,
// printing the reply: a smoke test after a deploy. When the bot answers
// asynchronously, the reply is awaited on a local sessionWebhook receiver
// (whose URL the bot must allow in DINGTALK_SESSION_WEBHOOK_PREFIXES).
func send(ctx context.Context, cfg *Config, stdout io.Writer) error {
	as := cfg.SendAs
	if as == "" && len(cfg.Admins) > 0 {
		as = cfg.Admins[0]
	}
	if as == "" {
		as = "smoke-test"
	}
	// A stand-in for DingTalk's sessionWebhook receives an asynchronous reply.
	recv, err := dingtalktest.Listen(cfg.SendListen, "", "")
	if err != nil {
		return fmt.Errorf("listen for the reply: %w", err)
	}
	defer recv.Close()
	base := cfg.SendSessionBase
	if base == "" {
		base = recv.URL
	}

	now := time.Now()
	m := dingtalk.NewTextMessage(fmt.Sprintf("bot-send-%d", now.UnixNano()), as, cfg.Text, now)
	if !cfg.ShellGroup {
		m.ConversationType = "1"
	}
	m.ConversationID, m.ConversationTitle = "cid-bot-send", "bot send"
	m.SenderCorpID, m.ChatbotCorpID, m.RobotCode = cfg.CorpID, cfg.CorpID, cfg.RobotCode
	m.SessionWebhook = base + dingtalktest.SessionPath + "?session=bot-send"
	m.SessionWebhookExpiredTime = dingtalk.MillisOf(now.Add(90 * time.Minute))
	body, err := m.Body()
	if err != nil {
		return err
	}
	req, err := dingtalk.NewCallbackRequest(ctx, cfg.SendURL, cfg.AppSecret, now, body)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", cfg.SendURL, err)
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the bot answered HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	out, err := dingtalk.DecodeReply(raw)
	if err != nil {
		return fmt.Errorf("the bot's answer is not a DingTalk reply: %w", err)
	}
	if out.MsgType == "empty" {
		fmt.Fprintf(stdout, "(the bot answers asynchronously; waiting up to %s for the reply at %s)\n", cfg.SendWait, base)
		wctx, cancel := context.WithTimeout(ctx, cfg.SendWait)
		late, ok := recv.NextContext(wctx)
		cancel()
		switch {
		case ok:
			out = dingtalk.Reply{MsgType: "markdown", Markdown: &dingtalk.Markdown{Title: late.Title, Text: late.Text}}
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			return fmt.Errorf("no reply within %s; is %s%s among the bot's DINGTALK_SESSION_WEBHOOK_PREFIXES?", cfg.SendWait, base, dingtalktest.SessionPath)
		}
	}
	if out.Markdown == nil {
		return fmt.Errorf("unexpected reply type %q", out.MsgType)
	}
	fmt.Fprintf(stdout, "## %s\n%s\n", out.Markdown.Title, out.Markdown.Text)
	return nil
}

// check verifies configuration and connectivity without changing anything.
func check(ctx context.Context, cfg *Config, stdout io.Writer) error {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	failed := 0
	report := func(name string, err error, ok string) {
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL %-9s %v\n", name, err)
			return
		}
		fmt.Fprintf(stdout, "ok   %-9s %s\n", name, ok)
	}
	report("config", nil, "valid")

	store, err := redisstore.Open(ctx, cfg.RedisURL, redisstore.Options{}, log)
	if err != nil {
		report("redis", err, "")
	} else {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := store.Ping(pctx)
		cancel()
		report("redis", err, "PONG from "+redactURL(cfg.RedisURL))
		store.Close()
	}

	armsCfg, stop, err := armsConfig(cfg, log)
	var client *arms.Client
	if err == nil {
		defer stop()
		client, err = arms.New(armsCfg, log)
	}
	if client != nil {
		defer client.Close()
	}
	if err == nil {
		actx, cancel := context.WithTimeout(ctx, cfg.ARMS.Timeout+time.Second)
		var page commands.ContactPage
		page, err = client.SearchContacts(actx, commands.ContactQuery{PageSize: 1})
		cancel()
		if err == nil {
			report("arms", nil, fmt.Sprintf("SearchAlertContact answered: %d contacts (RequestId %s)", page.Total, page.RequestID))
		}
	}
	if err != nil {
		report("arms", err, "")
	}

	if cfg.AppKey != "" {
		o := dingtalk.NewOpenAPI(cfg.OpenAPIBase, cfg.AppKey, cfg.AppSecret, &http.Client{Timeout: 10 * time.Second}, time.Now)
		_, err := o.AccessToken(ctx)
		report("dingtalk", err, "access token issued for "+cfg.AppKey)
	} else {
		fmt.Fprintf(stdout, "skip %-9s DINGTALK_APP_KEY not set (no OpenAPI fallback for expired sessionWebhooks)\n", "dingtalk")
	}
	if failed > 0 {
		return errors.New(strconv.Itoa(failed) + " check(s) failed")
	}
	return nil
}

func probe(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return nil
}

// serveDebug serves the Go profiler on its own listener, never on the
// webhook's port.
func serveDebug(addr string, log *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("BOT_DEBUG_LISTEN %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("profiler listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
