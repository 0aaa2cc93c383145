package bot_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
)

// The Stream ingress, through the official SDK against the gateway
// stand-in: DingTalk pushes messages over a WebSocket the bot opens.

func streamEnv(extra ...string) map[string]string {
	env := map[string]string{"BOT_INGRESS": "stream", "BOT_STREAM_WATCHDOG": "10s"}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

// connected waits until the replica's stream is up and it says it is ready.
func (h *harness) connected() {
	h.t.Helper()
	waitFor(h.t, func() bool { return h.status("/readyz") == http.StatusOK })
}

// push has the gateway push m, and returns the frame's messageId.
func (h *harness) push(m dingtalk.Message) string {
	h.t.Helper()
	id, err := h.session.Push(h.body(m))
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// ackOf waits for the acknowledgement of frame id.
func (h *harness) ackOf(id string) dingtalktest.Ack {
	h.t.Helper()
	var ack dingtalktest.Ack
	waitFor(h.t, func() bool {
		for _, a := range h.session.Acks() {
			if a.MessageID == id {
				ack = a
				return true
			}
		}
		return false
	})
	return ack
}

// acks counts the acknowledgements of frame id.
func acks(h *harness, id string) int {
	n := 0
	for _, a := range h.session.Acks() {
		if a.MessageID == id {
			n++
		}
	}
	return n
}

// sessionReplies are the replies posted to m's sessionWebhook.
func (h *harness) sessionReplies(m dingtalk.Message) []string {
	var out []string
	for _, r := range h.session.Messages() {
		if r.Session == sessionOf0(m) {
			out = append(out, r.Text)
		}
	}
	return out
}

// A /contact add is acknowledged at once while ARMS takes 3 s, and its
// reply arrives on the sessionWebhook.
func TestStreamAcknowledgesAtOnceAndRepliesLater(t *testing.T) {
	t.Parallel()
	h := world(t)
	b := h.launch(streamEnv())
	b.connected()
	h.arms.SetLatency(3 * time.Second)
	m := b.message(adminID, "/contact add name=Stream email=stream@example.com")
	pushed := time.Now()
	ack := b.ackOf(b.push(m))
	if ack.Code != http.StatusOK || ack.At.Sub(pushed) > time.Second {
		t.Fatalf("acknowledged with %d after %s, want 200 within 1s", ack.Code, ack.At.Sub(pushed))
	}
	waitFor(t, func() bool { return len(b.sessionReplies(m)) > 0 })
	contains(t, "reply", b.sessionReplies(m)[0], "ContactId", "@"+adminID)
	if b.status("/dingtalk/webhook") != http.StatusNotFound && b.status("/dingtalk/webhook") != http.StatusMethodNotAllowed {
		t.Error("the webhook route is served in stream mode")
	}
}

// A frame sent again, before its acknowledgement or after it, runs once
// and is answered once.
func TestStreamResentFrameRunsOnce(t *testing.T) {
	t.Parallel()
	h := world(t)
	b := h.launch(streamEnv())
	b.connected()
	h.arms.SetLatency(200 * time.Millisecond)
	h.session.SetStreamOptions(dingtalktest.StreamOptions{ResendAfter: time.Millisecond})
	m := b.message(adminID, "/contact add name=Twice email=twice@example.com")
	id := b.push(m) // re-sent by the gateway before the acknowledgement came
	b.ackOf(id)
	waitFor(t, func() bool { return len(b.sessionReplies(m)) > 0 })
	h.session.SetStreamOptions(dingtalktest.StreamOptions{})
	before := acks(h, id)
	if err := h.session.PushAgain(id, b.body(m)); err != nil { // and after it
		t.Fatal(err)
	}
	again := b.push(m) // and as a new frame
	b.ackOf(again)
	waitFor(t, func() bool { return acks(h, id) > before })
	if err := b.stop(); err != nil { // every delivery is through
		t.Fatal(err)
	}
	if n := len(h.creates()); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
	if r := b.sessionReplies(m); len(r) != 1 {
		t.Errorf("%d replies, want 1: %q", len(r), r)
	}
}

// The gateway drops the connection, or asks the bot to reconnect: the bot
// connects again and handles the next message; while it is not connected
// it says it is not ready.
func TestStreamReconnects(t *testing.T) {
	t.Parallel()
	h := world(t)
	b := h.launch(streamEnv())
	b.connected()
	waitFor(t, func() bool { return h.session.StreamConnections() == 1 }) // counted by the gateway too
	h.session.RefuseRegistrations(2)                                      // the gateway is in trouble for a while
	h.session.DropStreams()
	waitFor(t, func() bool { return b.status("/readyz") == http.StatusServiceUnavailable })
	b.connected()
	m := b.message(adminID, "/whoami")
	b.push(m)
	waitFor(t, func() bool { return len(b.sessionReplies(m)) == 1 })

	h.session.SetStreamOptions(dingtalktest.StreamOptions{DisconnectGrace: 10 * time.Second})
	opened := h.session.StreamConnectionsOpened()
	h.session.Disconnect()
	waitFor(t, func() bool { return h.session.StreamConnectionsOpened() > opened && h.session.StreamConnections() == 1 })
	b.connected()
	m = b.message(adminID, "/whoami")
	b.push(m)
	waitFor(t, func() bool { return len(b.sessionReplies(m)) == 1 })
	contains(t, "metrics", b.get("/metrics"), `armsbot_stream_registrations_total{outcome="reconnected"}`, `armsbot_stream_registrations_total{outcome="failed"} 2`)
}

// Registration refused at start (the gateway down, or the credentials
// wrong): the process keeps running and retrying, and is ready as soon as
// the gateway takes it.
func TestStreamRegistrationRefusedAtStart(t *testing.T) {
	t.Parallel()
	h := world(t)
	h.session.RefuseRegistrations(3)
	b := h.launch(streamEnv())
	if got := b.status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d before the stream connected, want 503", got)
	}
	b.connected()
	contains(t, "logs", b.logs.String(), "stream not connected; retrying", "gateway unavailable")

	bad := world(t)
	wrong := bad.launch(streamEnv("DINGTALK_APP_SECRET", "not-the-secret"))
	waitFor(t, func() bool { return strings.Count(wrong.logs.String(), "authFailed") >= 2 })
	if got := wrong.status("/healthz"); got != http.StatusOK {
		t.Errorf("/healthz = %d with wrong credentials, want the process alive", got)
	}
	if got := wrong.status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with wrong credentials, want 503", got)
	}
	lacks(t, "logs", wrong.logs.String(), "not-the-secret")
}

// Two replicas on one gateway: each message goes to one of them, and runs
// once.
func TestStreamTwoReplicas(t *testing.T) {
	t.Parallel()
	h := world(t)
	a := h.launch(streamEnv())
	b := a.replica(streamEnv())
	a.connected()
	b.connected()
	waitFor(t, func() bool { return h.session.StreamConnections() == 2 })
	var msgs []dingtalk.Message
	for i := range 10 {
		m := a.message(adminID, fmt.Sprintf("/contact add name=S%d email=s%d@example.com", i, i))
		msgs = append(msgs, m)
		id := a.push(m)
		// DingTalk re-sends to any connection; the copy may reach the other
		// replica while the first still works on the message.
		if err := h.session.PushAgain(id, a.body(m)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range msgs {
		waitFor(t, func() bool { return len(a.sessionReplies(m)) > 0 })
	}
	count := func(p *harness, outcome string) int { return strings.Count(p.logs.String(), outcome) }
	handled := func() int {
		return count(a, `"msg":"message handled"`) + count(b, `"msg":"message handled"`)
	}
	// The log line follows the reply, and each copy is logged: 20 in all.
	waitFor(t, func() bool { return handled() >= 20 })
	for _, m := range msgs {
		if r := a.sessionReplies(m); len(r) != 1 || !strings.Contains(r[0], "ContactId") {
			t.Errorf("message %s: %q", m.MsgID, r)
		}
	}
	if n := len(h.arms.Contacts()); n != 10 {
		t.Errorf("%d contacts, want 10", n)
	}
	if n := handled(); n != 20 {
		t.Errorf("%d copies handled in all, want 20", n)
	}
	if n := count(a, `"outcome":"duplicate"`) + count(b, `"outcome":"duplicate"`); n != 10 {
		t.Errorf("%d copies answered as duplicates, want 10", n)
	}
	if count(a, `"outcome":"ok"`) == 0 || count(b, `"outcome":"ok"`) == 0 {
		t.Errorf("one replica took every message; want both connections used")
	}
}

// SIGTERM closes the stream, so no new frame is taken, and drains as the
// webhook does; the process exits 0.
func TestStreamSIGTERM(t *testing.T) {
	t.Parallel()
	h := world(t)
	p := h.spawn(streamEnv())
	p.connected()
	h.arms.SetLatency(time.Second)
	m := p.message(adminID, "/contact add name=Term email=streamterm@example.com")
	p.ackOf(p.push(m))
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs)
	}
	if n := h.session.StreamConnections(); n != 0 {
		t.Errorf("%d stream connections after exit", n)
	}
	if _, err := h.session.Push(p.body(p.message(adminID, "/whoami"))); err == nil {
		t.Error("the gateway could still push to the stopped bot")
	}
	if r := p.sessionReplies(m); len(r) != 1 || !strings.Contains(r[0], "ContactId") {
		t.Errorf("the message taken before SIGTERM got %q", r)
	}
}

// Both ingresses at once: each takes messages, and a message that arrives
// through both is handled once.
func TestBothIngresses(t *testing.T) {
	t.Parallel()
	h := world(t)
	b := h.launch(streamEnv("BOT_INGRESS", "both"))
	waitFor(t, func() bool { return h.session.StreamConnections() == 1 })
	viaHTTP := b.say(adminID, "/contact add name=Web email=web@example.com")
	contains(t, "webhook reply", viaHTTP.Markdown.Text, "ContactId")

	m := b.message(adminID, "/contact add name=Both email=both@example.com")
	var wg sync.WaitGroup
	var answer reply
	wg.Add(2)
	go func() { defer wg.Done(); b.push(m) }()
	go func() { defer wg.Done(); _, answer = b.post(m) }()
	wg.Wait()
	waitFor(t, func() bool { return answer.MsgType == "markdown" || len(b.sessionReplies(m)) > 0 })
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	replies := b.sessionReplies(m)
	if answer.MsgType == "markdown" {
		replies = append(replies, answer.Markdown.Text)
	}
	if len(replies) != 1 {
		t.Errorf("the message through both ingresses got %d replies: %q", len(replies), replies)
	}
	if creates := h.createsOf("both@example.com"); creates != 1 {
		t.Errorf("it was created %d times, want 1", creates)
	}
}

// With both ingresses, a replica whose stream is down still takes webhooks,
// so it stays ready.
func TestBothIngressesReadyWithoutStream(t *testing.T) {
	t.Parallel()
	h := world(t)
	h.session.RefuseRegistrations(1000)
	b := h.launch(streamEnv("BOT_INGRESS", "both"))
	waitFor(t, func() bool { return strings.Count(b.logs.String(), "stream not connected; retrying") >= 1 })
	if got := b.status("/readyz"); got != http.StatusOK {
		t.Errorf("/readyz = %d with the webhook up and the stream down, want 200", got)
	}
	contains(t, "webhook reply", b.say(adminID, "/whoami").Markdown.Text, adminID)
}
