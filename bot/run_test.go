package bot_test

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/armsbot/armsbot/bot"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// What the README promises a newcomer: no Redis, no credentials, a ContactId.
func TestShellCreatesAContactInTheSandbox(t *testing.T) {
	t.Parallel()
	in := strings.NewReader("/help\n/contact add name=JohnDoe email=someone@example.com phone=13811112222 systemnoc=true\n")
	var out, errOut bytes.Buffer
	if err := bot.Run(context.Background(), []string{"bot", "shell"}, env(nil), in, &out, &errOut); err != nil {
		t.Fatalf("shell: %v\n%s", err, errOut.String())
	}
	if !regexp.MustCompile(`ContactId：\d+`).MatchString(out.String()) {
		t.Errorf("shell output has no ContactId:\n%s", out.String())
	}
	contains(t, "shell output", out.String(), "/contact add", "13811112222", "in-process ARMS stand-in", "in-memory store")
	// Replies read as text, not markdown; the console has no log lines
	// when nothing is wrong.
	lacks(t, "shell output", out.String(), "**", "## ", `{"time"`)
	if errOut.Len() != 0 {
		t.Errorf("the console got log lines with nothing wrong:\n%s", errOut.String())
	}
}

// In group mode the shell shows what a group sees: masked.
func TestShellInGroupModeMasks(t *testing.T) {
	t.Parallel()
	in := strings.NewReader("/contact add name=G phone=13755556666 email=someone@example.com\n")
	var out bytes.Buffer
	if err := bot.Run(context.Background(), []string{"bot", "shell", "--group"}, env(map[string]string{"BOT_LANG": "en"}), in, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	contains(t, "shell output", out.String(), "137∗∗∗∗6666", "so∗∗∗@example.com", "@shell-admin")
	lacks(t, "shell output", out.String(), "13755556666", "someone@")
}

func TestShellAsAnotherUserIsDenied(t *testing.T) {
	t.Parallel()
	in := strings.NewReader("/contact add name=X email=x@example.com\n")
	var out, errOut bytes.Buffer
	err := bot.Run(context.Background(), []string{"bot", "shell", "--user", "someone", "--admin=false"},
		env(map[string]string{"BOT_LANG": "en", "BOT_ADMINS": "boss"}), in, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "shell output", out.String(), "Permission denied", "boss")
}

func TestConfigProblemsAreListedTogether(t *testing.T) {
	t.Parallel()
	var errOut bytes.Buffer
	err := bot.Run(context.Background(), []string{"bot", "serve"}, env(map[string]string{
		"ARMS_TIMEOUT":          "soon",
		"BOT_LANG":              "fr",
		"BOT_DEDUPE_TTL":        "10m",
		"ARMS_ENDPOINT":         "127.0.0.1:9000",
		"BOT_SYNC_REPLY_BUDGET": "-1s",
	}), nil, &errOut, &errOut)
	if err == nil {
		t.Fatal("serve started with an invalid configuration")
	}
	for _, want := range []string{"DINGTALK_APP_SECRET is required", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ARMS_TIMEOUT", "BOT_LANG", "BOT_DEDUPE_TTL", "ARMS_ENDPOINT", "BOT_SYNC_REPLY_BUDGET"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

// The stream's settings are checked at start like the rest.
func TestStreamConfigProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"BOT_INGRESS": "websocket"}, `BOT_INGRESS="websocket" must be http, stream or both`},
		{map[string]string{"BOT_INGRESS": "stream", "DINGTALK_APP_SECRET": "s"}, "BOT_INGRESS=stream needs DINGTALK_APP_KEY and DINGTALK_APP_SECRET"},
		{map[string]string{"BOT_INGRESS": "both", "DINGTALK_APP_KEY": "k"}, "BOT_INGRESS=both needs DINGTALK_APP_KEY and DINGTALK_APP_SECRET"},
		{map[string]string{"BOT_INGRESS": "stream", "BOT_STREAM_WATCHDOG": "9s"}, "BOT_STREAM_WATCHDOG"},
	} {
		err := bot.Run(context.Background(), []string{"bot", "serve"}, env(tc.vars), nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to say %q", tc.vars, err, tc.want)
		}
	}
}

func TestServeHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := bot.Run(context.Background(), []string{"bot", "serve", "-h"}, env(nil), nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"BOT_LISTEN", "DINGTALK_APP_SECRET", "DINGTALK_SESSION_WEBHOOK_PREFIXES", "REDIS_URL", "BOT_REDIS_PREFIX",
		"BOT_DEDUPE_TTL", "BOT_ADMINS", "BOT_LANG", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
		"ALIBABA_CLOUD_SECURITY_TOKEN", "ARMS_REGION", "ARMS_ENDPOINT", "ARMS_TIMEOUT", "ARMS_CLIENTS",
		"BOT_SYNC_REPLY_BUDGET", "BOT_COMMAND_TIMEOUT", "BOT_SHUTDOWN_TIMEOUT", "BOT_LOG_LEVEL", "BOT_SANDBOX"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("serve -h does not mention %s", v)
		}
	}
}

func TestUnknownSubcommand(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := bot.Run(context.Background(), []string{"bot", "srve"}, env(nil), nil, &out, &out); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
	contains(t, "usage", out.String(), "bot serve", "bot shell")
}
