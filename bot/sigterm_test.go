package bot_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/redisstore/redistest"
)

// The real binary gets SIGTERM while a slow create runs: it stops taking
// webhooks, the create finishes, its reply goes out, and it exits 0.
func TestSIGTERMDuringSlowCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "bot")
	build := exec.Command("go", "build", "-o", bin, "./cmd/bot")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	h := &harness{t: t, arms: armstest.NewServer(), redis: redistest.New(t), session: newDingTalk(t)}
	t.Cleanup(h.arms.Close)
	h.arms.SetLatency(2 * time.Second)
	addr := freeAddr(t)
	h.base = "http://" + addr
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"BOT_LISTEN="+addr, "DINGTALK_APP_SECRET="+appSecret, "REDIS_URL="+h.redis.URL, "BOT_REDIS_PREFIX="+h.redis.Prefix,
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+armstest.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+armstest.AccessKeySecret,
		"ARMS_ENDPOINT="+h.arms.URL, "BOT_ADMINS="+adminID, "BOT_LANG=en",
		"DINGTALK_SESSION_WEBHOOK_PREFIXES="+h.session.SessionPrefix(), "BOT_SYNC_REPLY_BUDGET=100ms")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitFor(t, func() bool {
		resp, err := http.Get(h.base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	if code, r := h.post(h.message(adminID, "/contact add name=Term email=term@example.com")); code != 200 || r.MsgType != "empty" {
		t.Fatalf("answered %d %q, want 200 empty", code, r.MsgType)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("exit code %d after SIGTERM\n%s", ee.ExitCode(), logs.String())
		}
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(25 * time.Second):
		t.Fatalf("still running 25s after SIGTERM\n%s", logs.String())
	}
	msgs := h.session.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d replies reached the sessionWebhook, want 1\n%s", len(msgs), logs.String())
	}
	contains(t, "reply after SIGTERM", msgs[0].Text, "ContactId")
	if n := len(h.arms.Contacts()); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}
}
