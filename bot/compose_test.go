package bot_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/armsbot/armsbot/bot"
)

// The compose trial works as its comment says: the bot starts with the
// trial file's settings alone (no bot.env), and bot send, run with the same
// settings inside the container, gets a contact created.
func TestComposeTrial(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	for _, f := range []string{"docker-compose.yml", "docker-compose.trial.yml"} {
		raw, err := os.ReadFile(filepath.Join("..", "deploy", f))
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Services map[string]struct{ Environment map[string]string }
		}
		if err := yaml.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		for k, v := range c.Services["bot"].Environment {
			env[k] = v
		}
	}
	h := world(t)
	// What only docker provides: the addresses.
	vars := map[string]string{"REDIS_URL": h.redis.URL, "BOT_REDIS_PREFIX": h.redis.Prefix, "BOT_REDIS_EPHEMERAL": "true"}
	for k, v := range env {
		if k != "REDIS_URL" {
			vars[k] = v
		}
	}
	vars["BOT_LISTEN"] = "127.0.0.1:0"
	h.base = ""
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs syncBuffer
	go func() {
		done <- bot.Run(ctx, []string{"bot", "serve"}, func(k string) string { return vars[k] }, nil, io.Discard, &logs)
	}()
	t.Cleanup(func() { cancel(); <-done })
	h.logs = &logs
	h.waitHealthy(done)

	vars["BOT_SEND_URL"] = h.base + "/dingtalk/webhook"
	var out bytes.Buffer
	err := bot.Run(context.Background(), []string{"bot", "send", "/contact add name=Trial email=trial@example.com"},
		func(k string) string { return vars[k] }, nil, &out, io.Discard)
	if err != nil {
		t.Fatalf("send in the trial: %v\n%s\n%s", err, out.String(), logs.String())
	}
	contains(t, "send output", out.String(), "ContactId", "outcome: ok")
	contains(t, "logs", logs.String(), "SANDBOX MODE")
}
