package bot_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
)

// One contact and one reply per message, whatever dies: these run the real
// binary against real Redis (REDIS_URL) or miniredis, with time scaled down
// through configuration.

// fast are settings that make leases and deadlines short enough for tests.
func fast(extra ...string) map[string]string {
	env := map[string]string{
		"BOT_LEASE": "1s", "ARMS_TIMEOUT": "2s", "BOT_SYNC_REPLY_BUDGET": "200ms",
		"BOT_SHUTDOWN_TIMEOUT": "500ms", "BOT_RATE_LIMIT": "0",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

// sender is what one message's sender sees: the replies in the HTTP answers
// to its deliveries, and those posted to its sessionWebhook.
type sender struct {
	h       *harness
	m       dingtalk.Message
	mu      sync.Mutex
	answers []string
}

func (h *harness) sender(text string) *sender {
	return &sender{h: h, m: h.message(adminID, text)}
}

// deliver has DingTalk deliver the message (again) to replica p, which may
// be gone: DingTalk then sees a connection error.
func (s *sender) deliver(p *harness) {
	s.h.t.Helper()
	req, err := dingtalk.NewCallbackRequest(context.Background(), p.base+"/dingtalk/webhook", appSecret, time.Now(), s.h.body(s.m))
	if err != nil {
		s.h.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if r, err := dingtalk.DecodeReply([]byte(b.String())); err == nil && r.Markdown != nil {
		s.mu.Lock()
		s.answers = append(s.answers, r.Markdown.Text)
		s.mu.Unlock()
	}
}

// replies are every reply the sender has seen so far.
func (s *sender) replies() []string {
	s.mu.Lock()
	out := append([]string(nil), s.answers...)
	s.mu.Unlock()
	session := sessionOf0(s.m)
	for _, m := range s.h.session.Messages() {
		if m.Session == session {
			out = append(out, m.Text)
		}
	}
	return out
}

// waitReply waits until the sender has seen a reply.
func (s *sender) waitReply() {
	s.h.t.Helper()
	waitFor(s.h.t, func() bool { return len(s.replies()) > 0 })
}

var contactIDRE = regexp.MustCompile(`ContactId[:：]? ?\*{0,2}(\d+)`)

// exactlyOne checks that the sender got one reply, naming the one contact
// ARMS holds as created.
func (s *sender) exactlyOne(t *testing.T) {
	t.Helper()
	contacts := s.h.arms.Contacts()
	if len(contacts) != 1 {
		t.Fatalf("ARMS holds %d contacts, want 1", len(contacts))
	}
	replies := s.replies()
	if len(replies) != 1 {
		t.Fatalf("%d replies, want 1:\n%s", len(replies), strings.Join(replies, "\n---\n"))
	}
	want := fmt.Sprint(contacts[0].ContactID)
	if m := contactIDRE.FindStringSubmatch(replies[0]); m == nil || m[1] != want || !strings.Contains(replies[0], "Created alert contact") {
		t.Errorf("the reply does not say it created ContactId %s:\n%s", want, replies[0])
	}
}

// waitCreateSent waits until ARMS has the message's create in hand.
func (h *harness) waitCreateSent(n int) {
	h.t.Helper()
	waitFor(h.t, func() bool { return len(h.creates()) >= n })
}

// killDuringCreate has p receive an add and die, SIGKILLed, while ARMS
// takes its time over the create: ARMS finishes the create the dead process
// sent. The sender has seen nothing yet.
func (h *harness) killDuringCreate(p *harness, text string) *sender {
	h.t.Helper()
	h.arms.SetLatency(1500 * time.Millisecond)
	s := h.sender(text)
	sent := len(h.creates())
	s.deliver(p) // answered "empty": the create is slow
	h.waitCreateSent(sent + 1)
	p.kill()
	h.arms.SetLatency(0)
	return s
}

// Killed during a slow create, restarted, re-delivered as DingTalk does:
// the contact exists once and the sender hears once that it was created,
// whatever identifies the contact.
func TestKillDuringSlowCreate(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		for _, tc := range []struct{ name, text string }{
			{"email", "/contact add name=Kill email=kill@example.com"},
			{"phone", "/contact add name=Kill phone=13811110001"},
			{"robot only", "/contact add name=Kill webhook=https://oapi.dingtalk.com/robot/send?access_token=kill1"},
		} {
			if f == alertManagement && tc.name == "robot only" {
				continue // robots are no contacts there
			}
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := world(t)
				a := h.spawn(fast("ARMS_CONTACT_API", f.name))
				s := h.killDuringCreate(a, tc.text)

				b := h.spawn(fast("ARMS_CONTACT_API", f.name)) // the restart
				s.deliver(b)                                   // DingTalk's first re-delivery
				s.waitReply()
				s.deliver(b) // and its second
				s.exactlyOne(t)
				if n := len(h.creates()); n != 1 {
					t.Errorf("%d creates sent, want 1", n)
				}
			})
		}
	})
}

// Killed while an add waits for a worker, its intent and locks recorded
// with its admission before it ran: the restarted replica, on
// re-delivery, creates it once and replies once, and the same for the add
// that was running.
func TestKillWhileQueued(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := world(t)
		a := h.spawn(fast("ARMS_CONTACT_API", f.name, "BOT_WORKERS", "1"))
		h.arms.SetLatency(1500 * time.Millisecond)
		first := h.sender("/contact add name=First email=first@example.com")
		queued := h.sender("/contact add name=Queued email=queued@example.com")
		first.deliver(a) // takes the only worker
		queued.deliver(a)
		h.waitCreateSent(1)
		a.kill()
		h.arms.SetLatency(0)
		b := h.spawn(fast("ARMS_CONTACT_API", f.name)) // the restart
		for _, s := range []*sender{queued, first} {
			s.deliver(b)
			s.waitReply()
			s.deliver(b)
		}
		if n := len(h.arms.Contacts()); n != 2 {
			t.Errorf("ARMS holds %d contacts, want 2", n)
		}
		for email, s := range map[string]*sender{"first@example.com": first, "queued@example.com": queued} {
			if n := h.createsOf(email); n != 1 {
				t.Errorf("%s was created %d times, want 1", email, n)
			}
			if r := s.replies(); len(r) != 1 || !strings.Contains(r[0], "Created alert contact") {
				t.Errorf("%s: %d replies, want one saying it was created:\n%s", email, len(r), strings.Join(r, "\n---\n"))
			}
		}
	})
}

// Killed with no re-delivery at all: the other replica's sweep finishes
// the message and replies on the sessionWebhook.
func TestKillWithoutRedelivery(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := world(t)
		a, c := h.spawn(fast("ARMS_CONTACT_API", f.name)), h.spawn(fast("ARMS_CONTACT_API", f.name))
		s := h.killDuringCreate(a, "/contact add name=Orphan email=orphan@example.com")
		s.waitReply()
		s.exactlyOne(t)
		contains(t, "the surviving replica's log", c.logs.String(), `"via":"sweep"`)
	})
}

// A restart alone, with no re-delivery and no other replica, also finishes
// what the dead process left.
func TestRestartFinishesWhatTheDeadProcessLeft(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := world(t)
		a := h.spawn(fast("ARMS_CONTACT_API", f.name))
		s := h.killDuringCreate(a, "/contact add name=Restart phone=13811110002")
		h.spawn(fast("ARMS_CONTACT_API", f.name))
		s.waitReply()
		s.exactlyOne(t)
	})
}

// Drained while a command outlives BOT_SHUTDOWN_TIMEOUT: the process hands
// it over and exits 0; the other replica finishes it and replies.
func TestDrainHandsOverToTheOtherReplica(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := world(t)
		a, c := h.spawn(fast("ARMS_CONTACT_API", f.name)), h.spawn(fast("ARMS_CONTACT_API", f.name))
		h.arms.SetLatency(1500 * time.Millisecond) // the create outlives the 500 ms shutdown timeout
		s := h.sender("/contact add name=Drain email=drain@example.com")
		s.deliver(a)
		h.waitCreateSent(1)
		if err := a.stop(); err != nil {
			t.Fatalf("the drained process exited with %v\n%s", err, a.logs)
		}
		contains(t, "the drained process's log", a.logs.String(), "handed unfinished messages over")
		h.arms.SetLatency(0)
		s.waitReply()
		s.exactlyOne(t)
		contains(t, "the other replica's log", c.logs.String(), "taking over a message whose owner is gone")
	})
}

// A message that waits for a worker longer than BOT_LEASE stays its
// replica's: re-deliveries to it or to another replica do not run it again.
func TestQueuedLongerThanTheLease(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := world(t)
		a := h.spawn(fast("ARMS_CONTACT_API", f.name, "BOT_WORKERS", "1"))
		c := h.spawn(fast("ARMS_CONTACT_API", f.name))
		h.arms.SetLatency(1200 * time.Millisecond)
		first := h.sender("/contact add name=First email=first@example.com")
		queued := h.sender("/contact add name=Queued email=queued@example.com")
		first.deliver(a) // takes the only worker for 2.4 s (a search and a create)
		queued.deliver(a)
		// DingTalk re-delivers while the message waits, past the lease.
		for _, p := range []*harness{c, a, c} {
			time.Sleep(700 * time.Millisecond) // DingTalk's schedule, scaled down
			queued.deliver(p)
		}
		queued.waitReply()
		first.waitReply()
		if got := len(queued.replies()); got != 1 {
			t.Errorf("the queued message got %d replies, want 1: %q", got, queued.replies())
		}
		if creates := h.createsOf("queued@example.com"); creates != 1 {
			t.Errorf("the queued message was created %d times, want 1", creates)
		}
	})
}

// DingTalk gives up on its request before the bot answers: the reply
// still reaches the sessionWebhook, once.
func TestCallerGoneBeforeTheAnswer(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := world(t)
		a := h.spawn(fast("ARMS_CONTACT_API", f.name, "BOT_SYNC_REPLY_BUDGET", "3s"))
		h.arms.SetLatency(600 * time.Millisecond) // the reply would fit in the budget
		s := h.sender("/contact add name=Gone email=gone@example.com")
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		req, err := dingtalk.NewCallbackRequest(ctx, a.base+"/dingtalk/webhook", appSecret, time.Now(), h.body(s.m))
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatal("the bot answered before the caller gave up; the test did not test it")
		}
		s.waitReply()
		s.exactlyOne(t)
	})
}

// onePersonAddedOnce has five messages add one person at once, on the
// replicas: one creates, the others are told it exists, with its
// ContactId.
func onePersonAddedOnce(t *testing.T, h *harness, replicas []*harness) {
	t.Helper()
	h.arms.SetLatency(300 * time.Millisecond)
	var senders []*sender
	var wg sync.WaitGroup
	for i := range 5 {
		s := h.sender(fmt.Sprintf("/contact add name=Same%d email=same@example.com", i))
		senders = append(senders, s)
		wg.Add(1)
		go func() { defer wg.Done(); s.deliver(replicas[i%len(replicas)]) }()
	}
	wg.Wait()
	contacts := func() int { return len(h.arms.Contacts()) }
	for _, s := range senders {
		s.waitReply()
	}
	if n := contacts(); n != 1 {
		t.Fatalf("%d contacts for one email, want 1", n)
	}
	id := fmt.Sprint(h.arms.Contacts()[0].ContactID)
	created, exists := 0, 0
	for _, s := range senders {
		r := s.replies()
		if len(r) != 1 {
			t.Fatalf("a sender got %d replies: %q", len(r), r)
		}
		switch {
		case strings.Contains(r[0], "Created alert contact") && strings.Contains(r[0], "ContactId: **"+id+"**"):
			created++
		case strings.Contains(r[0], "already uses email") && strings.Contains(r[0], "ContactId "+id):
			exists++
		default:
			t.Errorf("unexpected reply:\n%s", r[0])
		}
	}
	if created != 1 || exists != 4 {
		t.Errorf("%d created and %d exists replies, want 1 and 4", created, exists)
	}
}
