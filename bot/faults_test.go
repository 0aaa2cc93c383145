package bot_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/bot/redisstore/redistest"
)

// restartableRedis is a Redis the test can take away and bring back with its
// data: redis-server with an append-only file when installed, else miniredis.
type restartableRedis struct {
	url     string
	restart func(down time.Duration)
}

func startRestartableRedis(t *testing.T) restartableRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		m := miniredis.RunT(t)
		t.Cleanup(redisstore.KeepRealTime(m))
		return restartableRedis{url: "redis://" + m.Addr(), restart: func(down time.Duration) {
			m.Close()
			time.Sleep(down) // the outage itself
			if err := m.Restart(); err != nil {
				t.Errorf("restart miniredis: %v", err)
			}
		}}
	}
	port := strconv.Itoa(freePort(t))
	dir := t.TempDir()
	var mu sync.Mutex
	var cmd *exec.Cmd
	start := func() {
		c := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--dir", dir, "--save", "",
			"--appendonly", "yes", "--appendfsync", "always")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		cmd = c
		mu.Unlock()
		waitFor(t, func() bool {
			conn, err := net.Dial("tcp", "127.0.0.1:"+port)
			if err == nil {
				conn.Close()
			}
			return err == nil
		})
	}
	stop := func() {
		mu.Lock()
		c := cmd
		mu.Unlock()
		_ = c.Process.Signal(os.Interrupt) // a clean shutdown writes the AOF
		_ = c.Wait()
	}
	start()
	t.Cleanup(stop)
	return restartableRedis{url: "redis://127.0.0.1:" + port + "/0", restart: func(down time.Duration) {
		stop()
		time.Sleep(down)
		start()
	}}
}

// Messages flow while Redis restarts, ARMS throttles and fails, every
// message is delivered twice, to two replicas, and one replica (the real
// binary) is killed with SIGKILL. Afterwards every message has exactly one
// result reply, there is one contact per add message, and no goroutine is
// left behind. ARMSBOT_FAULT_MESSAGES sets the volume (CI runs the
// default).
func TestFaultsUnderLoad(t *testing.T) {
	t.Parallel()
	messages := 60
	if v, err := strconv.Atoi(os.Getenv("ARMSBOT_FAULT_MESSAGES")); err == nil && v > 0 {
		messages = v
	}
	baseline := runtime.NumGoroutine()

	rr := startRestartableRedis(t)
	opts, _ := redis.ParseURL(rr.url)
	client := redis.NewClient(opts)
	defer client.Close()
	h := &harness{t: t, arms: armstest.NewServer(armstest.WithMaxContacts(10 * messages)), session: newDingTalk(t),
		redis: &redistest.Redis{URL: rr.url, Prefix: "armsbot-faults:", Client: client}}
	defer h.arms.Close()
	senders := make([]string, 8)
	for i := range senders {
		senders[i] = fmt.Sprintf("load-%d", i)
	}
	env := map[string]string{
		"BOT_ADMINS": strings.Join(senders, ","), "BOT_RATE_LIMIT": "100000", "BOT_SYNC_REPLY_BUDGET": "300ms",
		"BOT_COMMAND_TIMEOUT": "10s", "BOT_WORKERS": "64", "ARMS_CLIENTS": "32",
		"BOT_LEASE": "1s", "ARMS_TIMEOUT": "2s",
	}
	a := h.launch(env)
	b := h.spawn(env)
	h.arms.SetLatency(20 * time.Millisecond)

	type delivery struct {
		msgID string
		code  int
		r     reply
	}
	var (
		mu        sync.Mutex
		delivered []delivery
		wg        sync.WaitGroup
		sessionOf = map[string]string{} // session -> msgId
		msgs      []dingtalk.Message
	)
	send := func(rep *harness, m dingtalk.Message) {
		defer wg.Done()
		code, r, err := rep.tryPost(m)
		if err != nil {
			code = 0 // a replica that is gone: DingTalk sees a connection error
		}
		mu.Lock()
		delivered = append(delivered, delivery{m.MsgID, code, r})
		mu.Unlock()
	}
	// The last few messages before the kill go to b alone, while ARMS is
	// slow: b owns them, and they are waiting on ARMS when it dies (no
	// reply between being sent and being recorded).
	killAt := 5 * messages / 6 // after Redis is back
	for i := range messages {
		m := a.message(senders[i%len(senders)], fmt.Sprintf("/contact add name=F%d email=f%d@example.com", i, i))
		msgs = append(msgs, m)
		sessionOf[sessionOf0(m)] = m.MsgID
		switch i {
		case messages / 10:
			h.arms.Fail("", "Throttling.User", http.StatusBadRequest, 3)
		case messages / 5:
			// Long enough to outlast go-redis's own redialling (about 1 s).
			wg.Add(1)
			go func() { defer wg.Done(); rr.restart(2 * time.Second) }()
		case 2 * messages / 5:
			h.arms.Fail("CreateAlertContact", "InternalError", http.StatusInternalServerError, 1)
			h.arms.Fail("SearchAlertContact", "ServiceUnavailable", http.StatusServiceUnavailable, 3)
		case killAt - 4:
			h.arms.SetLatency(time.Second)
			time.Sleep(500 * time.Millisecond) // b's earlier commands settle
		case killAt:
			time.Sleep(300 * time.Millisecond) // b's last commands reach ARMS
			b.kill()
			h.arms.SetLatency(20 * time.Millisecond)
		}
		if i >= killAt-4 && i < killAt {
			wg.Add(1)
			go send(b, m)
		} else {
			wg.Add(2)
			go send(a, m)
			go send(b, m)
		}
		time.Sleep(70 * time.Millisecond) // pacing the flow, not waiting for a result
	}
	wg.Wait()

	// What got no result is sent again: DingTalk re-delivers a message it
	// got no answer for, and a sender told "temporarily unavailable" sends
	// the command again, as a new message (the one told so is answered).
	result := func(r reply) bool {
		return r.MsgType == "markdown" && !strings.Contains(r.Markdown.Text, "temporarily unavailable")
	}
	toldUnavailable := func(id string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range delivered {
			if d.msgID == id && strings.Contains(d.r.Markdown.Text, "temporarily unavailable") {
				return true
			}
		}
		return false
	}
	attempts := map[string][]string{} // the first message's id -> every message sent for it
	for _, m := range msgs {
		attempts[m.MsgID] = []string{m.MsgID}
	}
	waitFor(t, func() bool {
		pending := 0
		for i, m := range msgs {
			got := false
			mu.Lock()
			for _, d := range delivered {
				if slices.Contains(attempts[msgs[i].MsgID], d.msgID) && result(d.r) {
					got = true
				}
			}
			mu.Unlock()
			for _, s := range h.session.Messages() {
				if slices.Contains(attempts[msgs[i].MsgID], sessionOf[s.Session]) {
					got = true
				}
			}
			if got {
				continue
			}
			pending++
			ids := attempts[msgs[i].MsgID]
			last := m
			if toldUnavailable(ids[len(ids)-1]) {
				last = a.message(m.SenderStaffID, m.Text.Content)
				sessionOf[sessionOf0(last)] = last.MsgID
				attempts[msgs[i].MsgID] = append(ids, last.MsgID)
			} else if len(ids) > 1 {
				continue // the sender's retry is under way
			}
			wg.Add(1)
			go send(a, last)
		}
		wg.Wait()
		return pending == 0
	})
	if err := a.stop(); err != nil {
		t.Errorf("replica a stopped with %v", err)
	}

	// The faults did meet the flow: some deliveries found Redis gone, and
	// ARMS calls were retried.
	unavailable := strings.Count(a.logs.String()+b.logs.String(), "state store unavailable")
	if unavailable == 0 {
		t.Error("no delivery met the Redis outage; the test did not test it")
	}
	if n := len(h.arms.Calls("CreateAlertContact")); n <= messages {
		t.Errorf("%d creates for %d messages: the injected failures were not met", n, messages)
	}
	t.Logf("%d deliveries, %d met the Redis outage, %d ARMS calls", len(delivered), unavailable, len(h.arms.Calls("")))

	// Exactly one result reply per command, by HTTP answer or
	// sessionWebhook: on the message itself, or on the sender's retry of a
	// message told "temporarily unavailable".
	results := map[string]int{}
	for _, d := range delivered {
		if d.code != http.StatusOK && d.code != 0 {
			t.Errorf("a delivery of %s answered HTTP %d", d.msgID, d.code)
		}
		if result(d.r) {
			results[d.msgID]++
			if !strings.Contains(d.r.Markdown.Text, "ContactId") {
				t.Errorf("%s: result without a ContactId:\n%s", d.msgID, d.r.Markdown.Text)
			}
		}
	}
	for _, s := range h.session.Messages() {
		results[sessionOf[s.Session]]++
	}
	for _, m := range msgs {
		n := 0
		for _, id := range attempts[m.MsgID] {
			n += results[id]
		}
		if n != 1 {
			t.Errorf("message %s (and its retries %v) got %d result replies, want 1", m.MsgID, attempts[m.MsgID][1:], n)
			for _, d := range delivered {
				if slices.Contains(attempts[m.MsgID], d.msgID) {
					t.Logf("  delivery: %s %d %s %q", d.msgID, d.code, d.r.MsgType, d.r.Markdown.Text)
				}
			}
			for _, sm := range h.session.Messages() {
				if slices.Contains(attempts[m.MsgID], sessionOf[sm.Session]) {
					t.Logf("  session: %q", sm.Text)
				}
			}
			for _, line := range strings.Split(a.logs.String()+b.logs.String(), "\n") {
				if strings.Contains(line, m.MsgID) && !strings.Contains(line, "arms call") {
					t.Logf("  log: %s", line)
				}
			}
		}
	}
	if n := len(h.arms.Contacts()); n != messages {
		t.Errorf("%d contacts for %d add messages", n, messages)
	}
	contains(t, "the surviving replica's log", a.logs.String(), "taking over a message whose owner is gone")
	for _, logs := range []string{a.logs.String(), b.logs.String()} {
		if strings.Contains(logs, "panic") {
			t.Errorf("a replica panicked:\n%s", logs)
		}
	}

	// Everything the bots started has stopped.
	client.Close()
	h.arms.Close()
	http.DefaultClient.CloseIdleConnections()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= baseline+3 })
}

func sessionOf0(m dingtalk.Message) string {
	u := m.SessionWebhook
	return u[strings.LastIndex(u, "=")+1:]
}
