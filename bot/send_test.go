package bot_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
)

func TestSendPostsASignedMessageAndPrintsTheReply(t *testing.T) {
	t.Parallel()
	listen := freeAddr(t)
	h := startBot(t, map[string]string{
		"DINGTALK_SESSION_WEBHOOK_PREFIXES": "http://" + listen + dingtalktest.SessionPath,
		"BOT_SYNC_REPLY_BUDGET":             "100ms",
	})
	env := func(k string) string {
		return map[string]string{"DINGTALK_APP_SECRET": appSecret, "BOT_ADMINS": adminID, "BOT_SEND_URL": h.base + "/dingtalk/webhook"}[k]
	}
	var out bytes.Buffer
	// On a loaded machine even this may miss the 100 ms budget: send then
	// waits for the reply on a receiver the bot may post to.
	if err := bot.Run(context.Background(), []string{"bot", "send", "--session-listen", listen, "/contact list"}, env, nil, &out, io.Discard); err != nil {
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

// send exits non-zero unless the bot did what was asked, so that it can
// gate a deploy; --expect names another outcome a check wants.
func TestSendFailsUnlessTheCommandSucceeded(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	env := func(vars ...string) func(string) string {
		m := map[string]string{"DINGTALK_APP_SECRET": appSecret, "BOT_ADMINS": adminID, "BOT_SEND_URL": h.base + "/dingtalk/webhook"}
		for i := 0; i+1 < len(vars); i += 2 {
			m[vars[i]] = vars[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		outcome string
		ok      bool
	}{
		{"a command that works", []string{"/whoami"}, env(), "ok", true},
		{"an invalid command", []string{"/contact add name=X"}, env(), "invalid", false},
		{"a refused command", []string{"/contact list"}, env("BOT_SEND_AS", "stranger"), "denied", false},
		{"a refusal expected", []string{"--expect", "denied", "/contact list"}, env("BOT_SEND_AS", "stranger"), "denied", true},
		{"any outcome accepted", []string{"--expect", "any", "/contact show 999999"}, env(), "not_found", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := bot.Run(context.Background(), append([]string{"bot", "send"}, tc.args...), tc.env, nil, &out, io.Discard)
			if (err == nil) != tc.ok {
				t.Errorf("send %v: err %v, want ok=%v\n%s", tc.args, err, tc.ok, out.String())
			}
			contains(t, "send output", out.String(), "outcome: "+tc.outcome)
			lacks(t, "send output", out.String(), "**")
		})
	}
}
