package bot

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms/armstest"
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
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := build(tb.Context(), cfg, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(a.close)
	return a, NewServer(log, verifier{secret: "s", now: time.Now}, guard{}, a.store, a.dispatcher, a.metrics)
}

// serveSigned delivers a minimal group text message from sender to h,
// signed with testApp's secret, and returns the HTTP status and body.
func serveSigned(h http.Handler, msgID, sender, text string) (int, string) {
	body, _ := json.Marshal(map[string]any{
		"msgtype": "text", "msgId": msgID, "conversationType": "2", "conversationId": "cid",
		"senderStaffId": sender, "text": map[string]string{"content": " " + text},
	})
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	req := httptest.NewRequest(http.MethodPost, "/dingtalk/webhook", bytes.NewReader(body))
	req.Header.Set("timestamp", ts)
	req.Header.Set("sign", Sign(ts, "s"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}
