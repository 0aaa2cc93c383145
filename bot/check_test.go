package bot_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot"
)

func TestCheckAgainstStandIns(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	vars := map[string]string{
		"REDIS_URL": h.redis.URL, "ALIBABA_CLOUD_ACCESS_KEY_ID": armstest.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": armstest.AccessKeySecret,
		"ARMS_ENDPOINT": h.arms.URL, "DINGTALK_APP_KEY": appKey, "DINGTALK_APP_SECRET": appSecret, "DINGTALK_OPENAPI_BASE": h.session.URL,
		"BOT_INGRESS": "both",
	}
	var out bytes.Buffer
	if err := bot.Run(context.Background(), []string{"bot", "check"}, func(k string) string { return vars[k] }, nil, &out, io.Discard); err != nil {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	contains(t, "check", out.String(), "ok   config", "ok   redis", "ok   arms      legacy contacts (ARMS_CONTACT_API): SearchAlertContact answered", "ok   dingtalk", "ok   stream    registered")
	// It opened a stream connection, and closed it.
	// The gateway counts a connection once its upgrade is written, which
	// the client may see first.
	waitFor(t, func() bool { return h.session.StreamConnectionsOpened() == 1 && h.session.StreamConnections() == 0 })
	// What it says of persistence is what the Redis under test does.
	switch aof := h.redis.Client.ConfigGet(t.Context(), "appendonly").Val()["appendonly"]; {
	case !h.redis.Real(), aof == "":
		contains(t, "check", out.String(), "redis     persist")
	case aof == "yes":
		contains(t, "check", out.String(), "ok   redis     persists with an append-only file")
	default:
		contains(t, "check", out.String(), "warn redis")
	}
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
	contains(t, "failing check", out.String(), "FAIL redis", "FAIL arms", "SignatureDoesNotMatch", "FAIL dingtalk", "FAIL stream", "authFailed")
	lacks(t, "failing check", out.String(), "wrong", armstest.AccessKeyID)
}

// check refuses what serve refuses, with the same words, and warns about
// what serve warns about.
func TestCheckValidatesWhatServeNeeds(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret"}
	get := func(k string) string { return vars[k] }
	for _, cmd := range []string{"serve", "check"} {
		err := bot.Run(context.Background(), []string{"bot", cmd}, get, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "DINGTALK_APP_SECRET is required") {
			t.Errorf("bot %s without DINGTALK_APP_SECRET: %v", cmd, err)
		}
	}
	vars["BOT_INGRESS"], vars["DINGTALK_APP_SECRET"] = "stream", "s"
	if err := bot.Run(context.Background(), []string{"bot", "check"}, get, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "needs DINGTALK_APP_KEY") {
		t.Errorf("check of a stream without DINGTALK_APP_KEY: %v", err)
	}
	h := world(t)
	vars = map[string]string{"DINGTALK_APP_SECRET": "s", "REDIS_URL": h.redis.URL, "ARMS_ENDPOINT": h.arms.URL,
		"ALIBABA_CLOUD_ACCESS_KEY_ID": armstest.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": armstest.AccessKeySecret}
	var out bytes.Buffer
	if err := bot.Run(context.Background(), []string{"bot", "check"}, get, nil, &out, io.Discard); err != nil {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	contains(t, "check", out.String(), "warn config    BOT_ADMINS is empty", "warn config    ARMS_ENDPOINT uses plain http")
}
