package bot_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot"
	"github.com/armsbot/armsbot/bot/redisstore/redistest"
)

// Two replicas behind a load balancer share one Redis: every delivery of a
// message, on either replica, runs it at most once.
func TestTwoReplicasTakeEachMessageOnce(t *testing.T) {
	t.Parallel()
	a := startBot(t, nil)
	b := a.replica(nil)
	const messages = 10
	var wg sync.WaitGroup
	for i := range messages {
		msg := a.message(adminID, fmt.Sprintf("/contact add name=R%d email=r%d@example.com", i, i))
		for j := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep := a
				if j%2 == 1 {
					rep = b
				}
				if code, _ := rep.post(msg); code != http.StatusOK {
					t.Errorf("delivery answered %d", code)
				}
			}()
		}
	}
	wg.Wait()
	if n := len(a.creates()); n != messages {
		t.Fatalf("%d messages delivered 6 times each to two replicas made %d creates, want %d", messages, n, messages)
	}
	if n := len(a.arms.Contacts()); n != messages {
		t.Fatalf("stand-in holds %d contacts, want %d", n, messages)
	}
}

func TestRateLimitIsSharedByReplicas(t *testing.T) {
	t.Parallel()
	a := startBot(t, map[string]string{"BOT_RATE_LIMIT": "4"})
	b := a.replica(map[string]string{"BOT_RATE_LIMIT": "4"})
	for i := range 4 {
		rep := []*harness{a, b}[i%2]
		contains(t, "within the limit", rep.say("busy-1", "/whoami").Markdown.Text, "busy-1")
	}
	// The fifth command in the minute, on either replica, is refused with a
	// time to retry; further ones are refused silently.
	r := b.say("busy-1", "/whoami")
	contains(t, "limited", r.Markdown.Text, "too fast", "at most 4 a minute", "try again in")
	if code, r := a.post(a.message("busy-1", "/whoami")); code != http.StatusOK || r.MsgType != "empty" {
		t.Errorf("second refusal answered %d %q, want a silent empty", code, r.MsgType)
	}
	// Others are not affected.
	contains(t, "other user", a.say("calm-1", "/whoami").Markdown.Text, "calm-1")
}

// ownRedis is a redis-server of the test's own, which it can stop and
// start again (keeping nothing: --save "" --appendonly no).
type ownRedis struct {
	t    *testing.T
	bin  string
	port int
	cmd  *exec.Cmd
	URL  string
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed; this test needs a server it can stop")
	}
	r := &ownRedis{t: t, bin: bin, port: freePort(t)}
	r.URL = "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0"
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *ownRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	waitFor(r.t, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(r.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (r *ownRedis) stop() {
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// world is h's world with r for its Redis.
func (r *ownRedis) world() *harness {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(r.port)})
	r.t.Cleanup(func() { client.Close() })
	h := &harness{t: r.t, arms: armstest.NewServer(), session: newDingTalk(r.t),
		redis: &redistest.Redis{URL: r.URL, Prefix: "armsbot-own:", Client: client}}
	r.t.Cleanup(h.arms.Close)
	return h
}

// A Redis outage never turns into an ARMS call, makes /readyz 503 while
// /healthz stays 200, and heals by itself when Redis returns. Nothing that
// arrives meanwhile is told it did not run, since another replica may be
// running it: each message waits for Redis and is answered once, with its
// result; a copy of a message that ran gets an empty answer.
func TestRedisOutageAndRecovery(t *testing.T) {
	t.Parallel()
	srv := startOwnRedis(t)
	h := srv.world()
	// After the restart the bot waits out ARMS_TIMEOUT before it trusts
	// that a message admitted anew never wrote: a short one keeps the
	// test short.
	h.launch(map[string]string{"ARMS_TIMEOUT": "2s"})
	if got := h.status("/readyz"); got != http.StatusOK {
		t.Fatalf("/readyz = %d with Redis up", got)
	}
	ran := h.message(adminID, "/contact add name=Before email=before@example.com")
	if _, r := h.post(ran); !strings.Contains(r.Markdown.Text, "ContactId") {
		t.Fatalf("before the outage: %s", r.Markdown.Text)
	}

	before := len(h.arms.Calls(""))
	srv.stop()
	if code, r := h.post(ran); code != http.StatusOK || r.MsgType != "empty" {
		t.Errorf("a copy of a message that ran answered %d %q during the outage, want an empty answer", code, r.MsgType)
	}
	waiting := h.sender("/contact add name=Out email=out@example.com")
	waiting.deliver(h)
	waiting.deliver(h) // a copy, over the other ingress say
	if r := waiting.replies(); len(r) != 0 {
		t.Errorf("a message that arrived during the outage was answered at once: %q", r)
	}
	if n := len(h.arms.Calls("")); n != before {
		t.Fatalf("ARMS was called %d times while Redis was down", n-before)
	}
	if got := h.status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with Redis down, want 503", got)
	}
	if got := h.status("/healthz"); got != http.StatusOK {
		t.Errorf("/healthz = %d with Redis down, want 200", got)
	}
	// The Deployment's probe leaves Redis out: pods stay in service and
	// DingTalk keeps getting the bot's own answer.
	if got := h.status("/readyz?exclude=redis"); got != http.StatusOK {
		t.Errorf("/readyz?exclude=redis = %d with Redis down, want 200", got)
	}
	contains(t, "readyz", h.get("/readyz"), "[-]redis failed")
	// A smoke test run now fails.
	var out bytes.Buffer
	send := map[string]string{"DINGTALK_APP_SECRET": appSecret, "BOT_ADMINS": adminID, "BOT_SEND_URL": h.base + "/dingtalk/webhook",
		"BOT_SEND_WAIT": "500ms"}
	if err := bot.Run(context.Background(), []string{"bot", "send", "/whoami"}, func(k string) string { return send[k] }, nil, &out, io.Discard); err == nil {
		t.Errorf("bot send passed while Redis was down:\n%s", out.String())
	}

	srv.start() // empty: the bot notices, and keeps answering
	waitFor(t, func() bool { return h.status("/readyz?exclude=redis-data") == http.StatusOK })
	waiting.waitReply()
	waiting.deliver(h)
	waiting.oneReply(t, "Created alert contact **Out**")
	r := h.say(adminID, "/contact add name=Back email=back@example.com")
	contains(t, "after recovery", r.Markdown.Text, "ContactId")
	if n := len(h.creates()); n != 3 {
		t.Errorf("%d creates, want 3", n)
	}
}

// Redis stays away longer than BOT_REPLY_TIMEOUT: a message that waited is
// answered that it was not run, once, and a copy of it after Redis is back
// does not run.
func TestRedisOutageLongerThanTheReplyTimeout(t *testing.T) {
	t.Parallel()
	srv := startOwnRedis(t)
	h := srv.world()
	h.launch(map[string]string{"BOT_REPLY_TIMEOUT": "1s"})
	srv.stop()
	s := h.sender("/contact add name=Late email=late@example.com")
	s.deliver(h)
	s.waitReply()
	s.oneReply(t, "could not reach its state store", "was not run", "send it again")
	srv.start()
	waitFor(t, func() bool { return h.status("/readyz?exclude=redis-data") == http.StatusOK })
	waitFor(t, func() bool {
		n, _ := h.redis.Client.Exists(context.Background(), h.redis.Prefix+"msg:"+s.m.MsgID).Result()
		return n == 1
	})
	h.replica(nil).post(s.m)
	if n := len(h.creates()); n != 0 {
		t.Errorf("a message its sender was told had not run ran %d times", n)
	}
}

func (h *harness) status(path string) int {
	resp, err := http.Get(h.base + path)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond for up to 15 s: the things waited for (a server
// accepting, a connection pool redialling) have no event to wait on.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met within 15s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
