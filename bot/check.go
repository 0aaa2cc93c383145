package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/armsbot/armsbot/arms"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// warnPersistence tells an operator whose Redis would forget the bot's
// state in a restart; the guarantees that need it are in the README.
func warnPersistence(ctx context.Context, store *redisstore.Store, embedded bool, stdout io.Writer) {
	const consequence = "a restart forgets which messages ran, who owns them and every /perm grant; enable appendonly (README, Redis)"
	mode, ok := store.Persistence(ctx)
	switch {
	case embedded:
		fmt.Fprintf(stdout, "warn %-9s the embedded store persists nothing and is shared with no other replica: set REDIS_URL to a Redis with appendonly on (README, Redis)\n", "redis")
	case !ok:
		fmt.Fprintf(stdout, "skip %-9s persistence unknown (CONFIG GET not allowed): make sure appendonly is on\n", "redis")
	case mode == "none":
		fmt.Fprintf(stdout, "warn %-9s persists nothing (appendonly no, no snapshots): %s; serve refuses it unless BOT_REDIS_EPHEMERAL=true\n", "redis", consequence)
	case mode == "snapshots":
		fmt.Fprintf(stdout, "warn %-9s keeps snapshots only: a restart loses what changed since the last one; enable appendonly (README, Redis)\n", "redis")
	default:
		fmt.Fprintf(stdout, "ok   %-9s persists with an append-only file\n", "redis")
	}
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
	report("config", nil, "valid: everything serve needs is set")
	for _, w := range cfg.warnings() {
		fmt.Fprintf(stdout, "warn %-9s %s\n", "config", w)
	}

	store, err := redisstore.Open(ctx, cfg.RedisURL, redisstore.Options{}, log)
	if err != nil {
		report("redis", err, "")
	} else {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := store.Ping(pctx)
		report("redis", err, "PONG from "+redactURL(cfg.RedisURL))
		if err == nil {
			warnPersistence(pctx, store, cfg.RedisURL == "", stdout)
		}
		cancel()
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
	if err == nil && !cfg.Sandbox {
		// Where the credentials come from, and whether they come: an RRSA
		// exchange that fails says so here, not as an ARMS error.
		name, cerr := client.Credentials()
		report("creds", cerr, name+": credentials issued")
	}
	if err == nil {
		actx, cancel := context.WithTimeout(ctx, 4*(cfg.ARMS.Timeout+time.Second))
		var ok string
		ok, err = checkContacts(actx, client)
		cancel()
		if err == nil {
			report("arms", nil, ok)
		}
	}
	if err != nil {
		report("arms", err, "")
	}

	if cfg.AppKey != "" {
		o := dingtalk.NewOpenAPI(cfg.OpenAPIBase, cfg.AppKey, cfg.AppSecret, cfg.RobotCode, &http.Client{Timeout: 10 * time.Second}, time.Now)
		_, err := o.AccessToken(ctx)
		report("dingtalk", err, "access token issued for "+cfg.AppKey)
	} else {
		fmt.Fprintf(stdout, "skip %-9s DINGTALK_APP_KEY not set (no OpenAPI fallback for expired sessionWebhooks)\n", "dingtalk")
	}
	if cfg.Ingress != "http" {
		checkStream(ctx, cfg, log, report)
	}
	if failed > 0 {
		return errors.New(strconv.Itoa(failed) + " check(s) failed")
	}
	return nil
}

// checkStream registers a stream connection as serve would, connects it and
// closes it again, and reports DingTalk's answer.
func checkStream(ctx context.Context, cfg *Config, log *slog.Logger, report func(string, error, string)) {
	if cfg.AppKey == "" || cfg.AppSecret == "" {
		report("stream", errors.New("BOT_INGRESS="+cfg.Ingress+" needs DINGTALK_APP_KEY and DINGTALK_APP_SECRET"), "")
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	s := dingtalk.NewStream(cfg.OpenAPIBase, cfg.AppKey, cfg.AppSecret, dingtalk.StreamOptions{}, log)
	report("stream", s.Check(sctx), "registered at "+cfg.OpenAPIBase+" and connected to the stream gateway (closed again)")
}

// checkContacts reads the configured contact family once, harmlessly, and
// in a family that verifies phones counts those ARMS will not call.
func checkContacts(ctx context.Context, client *arms.Client) (string, error) {
	t := client.Traits()
	action := map[bool]string{true: "DescribeContacts", false: "SearchAlertContact"}[t.Verification]
	page, err := client.SearchContacts(ctx, commands.ContactQuery{PageSize: 1})
	if err != nil {
		return "", err
	}
	ok := fmt.Sprintf("%s contacts (ARMS_CONTACT_API): %s answered: %d contacts (RequestId %s)", t.Family, action, page.Total, page.RequestID)
	if !t.Verification {
		return ok, nil
	}
	unverified := 0
	for p := 1; (p-1)*100 < page.Total; p++ {
		all, err := client.SearchContacts(ctx, commands.ContactQuery{Page: p, PageSize: 100})
		if err != nil {
			return "", err
		}
		for _, ct := range all.Contacts {
			if ct.Verified == commands.PhoneUnverified {
				unverified++
			}
		}
	}
	return ok + fmt.Sprintf("; %d with a phone ARMS will not call until it is verified (/contact list verified=no)", unverified), nil
}
