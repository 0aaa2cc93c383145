package bot_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot"
)

func (h *harness) get(path string) string {
	h.t.Helper()
	resp, err := http.Get(h.base + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestMetricsAfterHandledMessages(t *testing.T) {
	h := startBot(t, nil)
	h.say(adminID, "/contact add name=Met email=met@example.com")
	h.say("stranger-1", "/contact add name=X email=x@example.com")
	h.postSigned(h.body(h.message(adminID, "/help")), time.Now(), "wrong")
	m := h.get("/metrics")
	contains(t, "/metrics", m,
		`armsbot_webhooks_total{outcome="ok"} 1`,
		`armsbot_webhooks_total{outcome="denied"} 1`,
		`armsbot_webhooks_total{outcome="bad_signature"} 1`,
		`armsbot_commands_total{command="contact add",outcome="ok"} 1`,
		`armsbot_commands_total{command="contact add",outcome="denied"} 1`,
		`armsbot_arms_calls_total{action="CreateAlertContact",code=""} 1`,
		`armsbot_arms_calls_total{action="SearchAlertContact",code=""} 1`,
		`armsbot_arms_call_duration_seconds_count{action="CreateAlertContact"} 1`,
		`armsbot_reply_deliveries_total{channel="sync",outcome="ok"} 2`,
		`armsbot_queue_depth 0`,
		`armsbot_http_requests_total{code="200",host=`,
		"go_goroutines")
}

func TestSendPostsASignedMessageAndPrintsTheReply(t *testing.T) {
	listen := freeAddr(t)
	h := startBot(t, map[string]string{
		"DINGTALK_SESSION_WEBHOOK_PREFIXES": "http://" + listen + "/robot/sendBySession",
		"BOT_SYNC_REPLY_BUDGET":             "100ms",
	})
	env := func(k string) string {
		return map[string]string{"DINGTALK_APP_SECRET": appSecret, "BOT_ADMINS": adminID, "BOT_SEND_URL": h.base + "/dingtalk/webhook"}[k]
	}
	var out bytes.Buffer
	if err := bot.Run(context.Background(), []string{"bot", "send", "/contact list"}, env, nil, &out, io.Discard); err != nil {
		t.Fatalf("send: %v\n%s", err, out.String())
	}
	contains(t, "send output", out.String(), "No contacts found", "@"+adminID)

	// Asynchronous answer: send waits on its own sessionWebhook receiver.
	h.arms.SetLatency(400 * time.Millisecond)
	out.Reset()
	err := bot.Run(context.Background(), []string{"bot", "send", "--session-listen", listen, "/contact add name=Smoke email=smoke@example.com"}, env, nil, &out, io.Discard)
	if err != nil {
		t.Fatalf("async send: %v\n%s", err, out.String())
	}
	contains(t, "async send output", out.String(), "asynchronously", "ContactId")

	// A wrong secret is refused by the bot, and send says so.
	bad := func(k string) string {
		if k == "DINGTALK_APP_SECRET" {
			return "wrong"
		}
		return env(k)
	}
	err = bot.Run(context.Background(), []string{"bot", "send", "/help"}, bad, nil, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("send with a wrong secret: %v", err)
	}
}

func TestCheckAgainstStandIns(t *testing.T) {
	h := startBot(t, nil)
	vars := map[string]string{
		"REDIS_URL": h.redis.URL, "ALIBABA_CLOUD_ACCESS_KEY_ID": armstest.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": armstest.AccessKeySecret,
		"ARMS_ENDPOINT": h.arms.URL, "DINGTALK_APP_KEY": appKey, "DINGTALK_APP_SECRET": appSecret, "DINGTALK_OPENAPI_BASE": h.session.URL,
	}
	var out bytes.Buffer
	if err := bot.Run(context.Background(), []string{"bot", "check"}, func(k string) string { return vars[k] }, nil, &out, io.Discard); err != nil {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	contains(t, "check", out.String(), "ok   config", "ok   redis", "ok   arms      SearchAlertContact answered", "ok   dingtalk")
	if n := len(h.arms.Calls("CreateAlertContact")) + len(h.arms.Calls("UpdateAlertContact")) + len(h.arms.Calls("DeleteAlertContact")); n != 0 {
		t.Errorf("check changed ARMS (%d writes)", n)
	}

	vars["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = "wrong"
	vars["DINGTALK_APP_SECRET"] = "wrong"
	vars["REDIS_URL"] = "redis://127.0.0.1:1/0"
	out.Reset()
	err := bot.Run(context.Background(), []string{"bot", "check"}, func(k string) string { return vars[k] }, nil, &out, io.Discard)
	if err == nil {
		t.Fatal("check passed with bad credentials")
	}
	contains(t, "failing check", out.String(), "FAIL redis", "FAIL arms", "SignatureDoesNotMatch", "FAIL dingtalk")
	lacks(t, "failing check", out.String(), "wrong", armstest.AccessKeyID)
}

func TestVersionAndProbe(t *testing.T) {
	var out bytes.Buffer
	if err := bot.Run(context.Background(), []string{"bot", "version"}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	contains(t, "version", out.String(), "armsbot ", "commit ", "built ", "go1.")

	h := startBot(t, nil)
	if err := bot.Run(context.Background(), []string{"bot", "probe", h.base + "/healthz"}, env(nil), nil, io.Discard, io.Discard); err != nil {
		t.Errorf("probe of a healthy bot: %v", err)
	}
	if err := bot.Run(context.Background(), []string{"bot", "probe", h.base + "/nope"}, env(nil), nil, io.Discard, io.Discard); err == nil {
		t.Error("probe of a 404 passed")
	}
}
