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
