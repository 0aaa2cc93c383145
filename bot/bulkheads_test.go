package bot_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
)

// The bulkheads on the real binary: a reply endpoint that fails stops no
// command, a burst waits instead of being refused, a quiet Stream
// connection stays up, and a slow reply endpoint or a drain never posts a
// reply twice.
//
// ARMSBOT_SOAK=1 runs the scenarios at the length the issue that asked
// for them gives (a 60 s reply outage, 5 minutes of a quiet stream with a
// 30 s watchdog); without it they are shorter, with the same assertions.

func soak() bool { return os.Getenv("ARMSBOT_SOAK") == "1" }

// door gives h's bot a sessionWebhook behind a door that can refuse
// connections, and returns the env that allows it.
func (h *harness) door(env map[string]string) (*dingtalktest.Door, map[string]string) {
	h.t.Helper()
	d, err := h.session.OpenDoor()
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(d.Shut)
	out := map[string]string{"DINGTALK_SESSION_WEBHOOK_PREFIXES": h.session.SessionPrefix() + "," + d.Prefix()}
	for k, v := range env {
		out[k] = v
	}
	return d, out
}

// senders makes n add messages whose replies go through d.
func (h *harness) senders(d *dingtalktest.Door, prefix string, n int) []*sender {
	var out []*sender
	for i := range n {
		s := h.sender(fmt.Sprintf("/contact add name=%s%d email=%s%d@example.com", prefix, i, strings.ToLower(prefix), i))
		s.m.SessionWebhook = d.SessionURL(randomID("sess-"))
		out = append(out, s)
	}
	return out
}

// deliverAll delivers every sender's message to p at once.
func deliverAll(p *harness, ss []*sender) {
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() { defer wg.Done(); s.deliver(p) }()
	}
	wg.Wait()
}

// While the sessionWebhook refuses every connection, adds whose ARMS calls
// outlast the HTTP budget all reach ARMS, once each; when it is back, each
// sender gets one reply.
func TestAReplyOutageStopsNoCommand(t *testing.T) {
	t.Parallel()
	outage := 8 * time.Second
	if soak() {
		outage = 60 * time.Second
	}
	h := world(t)
	d, env := h.door(fast("BOT_REPLY_TIMEOUT", "3m", "BOT_SHUTDOWN_TIMEOUT", "5s"))
	p := h.spawn(env)
	h.arms.SetLatency(400 * time.Millisecond) // twice the HTTP budget
	d.Shut()
	shut := time.Now()
	ss := h.senders(d, "Outage", 30)
	deliverAll(p, ss)
	waitFor(t, func() bool { return len(h.creates()) == 30 })
	t.Logf("30 adds reached ARMS %s into the reply outage", time.Since(shut).Round(time.Millisecond))
	if n := h.session.Count(); n != 0 {
		t.Fatalf("%d replies got through a shut door", n)
	}
	time.Sleep(time.Until(shut.Add(outage))) // the outage itself, as long as the scenario says
	if err := d.Open(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for _, s := range ss {
		waitFor(t, func() bool { return len(s.replies()) > 0 })
	}
	t.Logf("30 replies out %s after the endpoint came back", time.Since(back).Round(time.Millisecond))
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	for i, s := range ss {
		s.oneReply(t, "ContactId")
		if n := h.createsOf(fmt.Sprintf("outage%d@example.com", i)); n != 1 {
			t.Errorf("sender %d: %d creates, want 1", i, n)
		}
	}
	contains(t, "logs", p.logs.String(), "reply not out yet; trying again")
}

// A burst beyond the workers and the queue waits in the backlog and runs:
// nobody is told the bot is busy, every message makes one contact and
// gets one reply.
func TestABurstIsParkedNotRefused(t *testing.T) {
	t.Parallel()
	h := world(t)
	p := h.spawn(fast("BOT_WORKERS", "2", "BOT_QUEUE_SIZE", "2", "BOT_BACKLOG", "100"))
	h.arms.SetLatency(100 * time.Millisecond)
	ss := make([]*sender, 24)
	for i := range ss {
		ss[i] = h.sender(fmt.Sprintf("/contact add name=Burst%d email=burst%d@example.com", i, i))
	}
	deliverAll(p, ss)
	for _, s := range ss {
		waitFor(t, func() bool { return len(s.replies()) > 0 })
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	for i, s := range ss {
		s.oneReply(t, "ContactId")
		if n := h.createsOf(fmt.Sprintf("burst%d@example.com", i)); n != 1 {
			t.Errorf("sender %d: %d creates, want 1", i, n)
		}
	}
	contains(t, "logs", p.logs.String(), "waits in the backlog")
	lacks(t, "logs", p.logs.String(), `"outcome":"busy"`)
}

// A Stream gateway that sends no frame at all keeps the bot's one
// connection, and the bot stays ready; when the gateway stops answering
// WebSocket pings, the bot connects anew, once, within the watchdog.
func TestAQuietStreamStaysConnected(t *testing.T) {
	t.Parallel()
	watchdog, quiet := 10*time.Second, 10*time.Second
	if soak() {
		watchdog, quiet = 30*time.Second, 5*time.Minute
	}
	h := world(t)
	p := h.spawn(streamEnv("BOT_STREAM_WATCHDOG", watchdog.String()))
	p.connected()
	start := time.Now()
	for time.Since(start) < quiet {
		if got := p.status("/readyz"); got != http.StatusOK {
			t.Fatalf("/readyz = %d %s into a quiet connection", got, time.Since(start).Round(time.Second))
		}
		time.Sleep(500 * time.Millisecond) // sampling readiness through the scenario's length
	}
	if n := h.session.StreamConnectionsOpened(); n != 1 {
		t.Fatalf("%d connections opened in %s of quiet, want the first kept", n, quiet)
	}
	if h.session.PingsAnswered() == 0 {
		t.Fatal("the bot never pinged the gateway: nothing judged the connection alive")
	}
	h.session.SetStreamOptions(dingtalktest.StreamOptions{IgnorePings: true})
	mute := time.Now()
	waitUpTo(t, 2*watchdog, func() bool { return h.session.StreamConnectionsOpened() == 2 })
	took := time.Since(mute)
	h.session.SetStreamOptions(dingtalktest.StreamOptions{})
	t.Logf("reconnected %s after the gateway stopped answering pings (watchdog %s)", took.Round(time.Millisecond), watchdog)
	if took > watchdog {
		t.Errorf("reconnected after %s, want within the watchdog %s", took, watchdog)
	}
	p.connected()
	pongs := h.session.PingsAnswered()
	waitFor(t, func() bool { return h.session.PingsAnswered() > pongs })
	if n := h.session.StreamConnectionsOpened(); n != 2 {
		t.Errorf("%d connections opened, want 2: one reconnect, no spurious second", n)
	}
	m := p.message(adminID, "/whoami")
	p.push(m)
	waitFor(t, func() bool { return len(p.sessionReplies(m)) == 1 })
}

// waitUpTo polls cond until it holds, for up to d.
func waitUpTo(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not timing behaviour
	}
}

// A sessionWebhook that answers after 6 s gets one post: the bot waits for
// its answer instead of posting again.
func TestASlowSessionWebhookGetsOnePost(t *testing.T) {
	t.Parallel()
	h := world(t)
	p := h.spawn(fast())
	h.arms.SetLatency(400 * time.Millisecond) // the reply goes to the sessionWebhook
	h.session.SetAnswerDelay(6 * time.Second)
	s := h.sender("/contact add name=Slow6 email=slow6@example.com")
	s.deliver(p)
	waitFor(t, func() bool { return strings.Contains(p.logs.String(), `"msg":"reply delivered"`) })
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	s.oneReply(t, "ContactId")
}

// A drain while a post is pending waits for it: the reply is posted once,
// by this process, and no other replica posts it again.
func TestADrainDuringAPendingPostPostsOnce(t *testing.T) {
	t.Parallel()
	h := world(t)
	p := h.spawn(fast("BOT_SHUTDOWN_TIMEOUT", "100ms"))
	h.arms.SetLatency(400 * time.Millisecond)
	h.session.SetAnswerDelay(3 * time.Second)
	s := h.sender("/contact add name=Drain email=drainpost@example.com")
	s.deliver(p)
	waitFor(t, func() bool { return len(s.replies()) == 1 }) // shown; its answer pending
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	contains(t, "logs", p.logs.String(), `"msg":"reply delivered"`)
	h.session.SetAnswerDelay(0)
	other := h.spawn(fast())
	s.deliver(other) // DingTalk's re-delivery, to the replica that remains
	waitFor(t, func() bool { return strings.Contains(other.logs.String(), `"outcome":"duplicate"`) })
	if err := other.stop(); err != nil {
		t.Fatal(err)
	}
	s.oneReply(t, "ContactId")
	if n := h.createsOf("drainpost@example.com"); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
}
