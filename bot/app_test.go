package bot

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/logctx"
	"github.com/armsbot/armsbot/bot/redisstore/redistest"
)

// testApp wires the bot as serve does, against a Redis for tb and an ARMS
// stand-in, and returns its HTTP handler. vars add to or override the
// settings; the app secret is "s".
func testApp(tb testing.TB, vars map[string]string, opts ...armstest.Option) (*app, http.Handler) {
	tb.Helper()
	rd := redistest.New(tb)
	srv := armstest.NewServer(opts...)
	tb.Cleanup(srv.Close)
	all := map[string]string{
		"DINGTALK_APP_SECRET": "s", "REDIS_URL": rd.URL, "BOT_REDIS_PREFIX": rd.Prefix,
		"ALIBABA_CLOUD_ACCESS_KEY_ID": armstest.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": armstest.AccessKeySecret,
		"ARMS_ENDPOINT": srv.URL,
	}
	for k, v := range vars {
		all[k] = v
	}
	cfg, err := parseConfig("serve", nil, func(k string) string { return all[k] }, io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(logctx.Handler{Handler: slog.NewJSONHandler(io.Discard, nil)}) // as in production
	a, err := build(tb.Context(), cfg, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(a.close)
	return a, NewServer(log, routes{ready: []readyCheck{{"redis", a.store.Ping}}, metrics: a.metrics, scrape: true,
		webhook: &webhook{verify: dingtalk.NewVerifier("s", time.Now), d: a.dispatcher, bodyTimeout: cfg.BodyTimeout}})
}

// serveSigned delivers a group text message from sender to h, signed with
// testApp's secret, and returns the HTTP status and body.
func serveSigned(h http.Handler, msgID, sender, text string) (int, string) {
	now := time.Now()
	m := dingtalk.NewTextMessage(msgID, sender, text, now)
	m.ConversationID = "cid"
	body, err := m.Body()
	if err != nil {
		panic(err) // a text message always encodes
	}
	return serveRaw(h, body, now, "s")
}

// serveRaw delivers body signed at the time at with secret.
func serveRaw(h http.Handler, body []byte, at time.Time, secret string) (int, string) {
	req, err := dingtalk.NewCallbackRequest(context.Background(), "/dingtalk/webhook", secret, at, body)
	if err != nil {
		panic(err) // a constant path always parses
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}
