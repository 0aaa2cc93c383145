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
	listen := freeAddr(t)
	h := startBot(t, map[string]string{
		"DINGTALK_SESSION_WEBHOOK_PREFIXES": "http://" + listen + dingtalktest.SessionPath,
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
