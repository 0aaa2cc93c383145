package bot_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot"
)

// A Redis that keeps nothing across a restart forgets which messages ran,
// who owns them, and every grant. serve refuses it unless the operator
// accepts it, and when it happens anyway the bot notices, says so once,
// and still answers every message once, with the one contact it made.

func TestServeRefusesARedisThatKeepsNothing(t *testing.T) {
	t.Parallel()
	srv := startOwnRedis(t)
	h := srv.world()
	vars := h.vars(nil)
	delete(vars, "BOT_REDIS_EPHEMERAL")
	cmd := exec.Command(botBinary(t), "serve")
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput() // it must end by itself
	if err == nil {
		t.Fatalf("serve started against a Redis that keeps nothing:\n%s", out)
	}
	contains(t, "serve's output", string(out), "keeps nothing across a restart", "BOT_REDIS_EPHEMERAL=true")
}

// Redis restarts, empty, while adds are in flight: each message still ends
// with one contact and one reply saying it was created, re-deliveries
// (during the creates and after) stay silent, and the log says once per
// process, as an ERROR, that Redis lost its data.
func TestRedisRestartMidCommand(t *testing.T) {
	t.Parallel()
	for _, replicas := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d replica(s)", replicas), func(t *testing.T) {
			t.Parallel()
			srv := startOwnRedis(t)
			h := srv.world()
			a := h.spawn(fast("ARMS_TIMEOUT", "5s"))
			other := a
			if replicas == 2 {
				other = h.spawn(fast("ARMS_TIMEOUT", "5s"))
			}
			h.arms.Delay("CreateAlertContact", 4*time.Second, 3) // the creates outlive the restart
			senders := []*sender{
				h.sender("/contact add name=Lost1 email=lost1@example.com"),
				h.sender("/contact add name=Lost2 phone=13811110009"),
				h.sender("/contact add name=Lost3 webhook=https://oapi.dingtalk.com/robot/send?access_token=lost3"),
			}
			for _, s := range senders {
				s.deliver(a) // answered "empty": the creates are slow
			}
			h.waitCreateSent(len(senders))
			srv.stop()
			srv.start() // empty
			if n := len(h.arms.Contacts()); n != 0 {
				t.Fatalf("the creates finished before Redis restarted (%d contacts): the test tests nothing", n)
			}
			// DingTalk delivers each message again while the creates are
			// still in flight, to either replica, and again after.
			for _, s := range senders {
				s.deliver(other)
			}
			for _, s := range senders {
				s.waitReply()
			}
			for _, s := range senders {
				s.deliver(a)
				s.deliver(other)
			}
			if n := len(h.arms.Contacts()); n != len(senders) {
				t.Errorf("ARMS holds %d contacts, want %d", n, len(senders))
			}
			for _, s := range senders {
				if len(s.replies()) != 1 {
					t.Logf("%s\nA:\n%s\nB:\n%s", s.m.MsgID, grepLines(a.logs.String(), s.m.MsgID), grepLines(other.logs.String(), s.m.MsgID))
				}
				s.oneReply(t, "Created alert contact")
			}
			logs := a.logs.String()
			if replicas == 2 {
				logs += other.logs.String()
			}
			if n := strings.Count(logs, `"level":"ERROR","msg":"Redis lost its data`); n < 1 || n > replicas {
				t.Errorf("%d ERROR lines saying Redis lost its data, want one per replica that noticed:\n%s", n, logs)
			}
			contains(t, "/readyz", a.get("/readyz"), "[-]redis-data failed: Redis lost its data")
			// The runbook's first step, inside an image without curl.
			var out bytes.Buffer
			if err := bot.Run(context.Background(), []string{"bot", "probe", a.base + "/readyz"}, env(nil), nil, &out, io.Discard); err == nil {
				t.Error("bot probe /readyz passed after Redis lost its data")
			}
			contains(t, "bot probe /readyz", out.String(), "[-]redis-data failed: Redis lost its data", "readyz check failed")
		})
	}
}

// A message answered before Redis lost its data, delivered again to the
// process that answered it, is not run again.
func TestAnsweredBeforeTheLossIsNotRunAgain(t *testing.T) {
	t.Parallel()
	srv := startOwnRedis(t)
	h := srv.world()
	a := h.spawn(fast())
	s := h.sender("/contact add name=Early email=early@example.com")
	s.deliver(a)
	s.waitReply()
	srv.stop()
	srv.start()
	waitFor(t, func() bool { return strings.Contains(a.logs.String(), "Redis lost its data") })
	s.deliver(a)
	s.oneReply(t, "Created alert contact")
	if n := h.createsOf("early@example.com"); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
