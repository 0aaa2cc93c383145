package dispatch_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dispatch"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// adds sends n /contact add messages over the stream, and returns them.
func (r *rig) adds(prefix string, n int) []*dingtalk.Message {
	var out []*dingtalk.Message
	for i := range n {
		m := r.message(boss, fmt.Sprintf("/contact add name=%s%d email=%s%d@example.com", prefix, i, prefix, i))
		r.d.Stream(r.t.Context(), m)
		out = append(out, m)
	}
	return out
}

// oneReplyEach checks that every message got exactly one reply containing
// want.
func (r *rig) oneReplyEach(ms []*dingtalk.Message, want string) {
	r.t.Helper()
	for _, m := range ms {
		if got := r.replies(m); len(got) != 1 || !strings.Contains(got[0], want) {
			r.t.Errorf("message %s got %d replies, want one with %q: %q", m.MsgID, len(got), want, got)
		}
	}
}

// While the reply endpoint refuses every connection, commands keep running
// on every worker; once it is back, each reply goes out once.
func TestAReplyOutageLeavesTheCommandsRunning(t *testing.T) {
	t.Parallel()
	r := newRig(t, dispatch.Config{Workers: 2, Queue: 4, Backlog: 100, ReplyWorkers: 2})
	r.door.Shut()
	ms := r.adds("Out", 12)
	eventually(t, "12 contacts created while no reply gets out", func() bool { return len(r.arms.Contacts()) == 12 })
	if n := r.dt.Count(); n != 0 {
		t.Fatalf("%d replies got out through a shut door", n)
	}
	if err := r.door.Open(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every reply delivered", func() bool { return r.deliveries("session ok") == 12 })
	if err := r.d.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.oneReplyEach(ms, "ContactId")
	if n := r.deliveries("session failed"); n != 0 {
		t.Errorf("%d replies given up", n)
	}
}

// A burst beyond the workers and the queue waits in the backlog, oldest
// first, and runs: nothing is refused while the backlog has room; beyond
// it the sender is told, in chat, that the bot is busy.
func TestABurstWaitsInTheBacklog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		backlog int
		burst   int
		busy    int
	}{
		{"within the backlog", 10, 8, 0},
		{"beyond it", 2, 8, 3}, // one running, two queued, two in the backlog
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, dispatch.Config{Workers: 1, Queue: 2, Backlog: tc.backlog})
			r.arms.SetLatency(100 * time.Millisecond)
			started := time.Now()
			ms := r.adds("Burst", tc.burst)
			eventually(t, "every message answered", func() bool {
				if r.dt.Count() >= tc.burst {
					return true
				}
				if time.Since(started) > 20*time.Second {
					t.Logf("%d answered; logs:\n%s", r.dt.Count(), r.logs)
					return true
				}
				return false
			})
			if err := r.d.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			var ran, busy []*dingtalk.Message
			for _, m := range ms {
				if rs := r.replies(m); len(rs) == 1 && strings.Contains(rs[0], "busy") {
					busy = append(busy, m)
				} else {
					ran = append(ran, m)
				}
			}
			if len(busy) != tc.busy {
				t.Errorf("%d told busy, want %d", len(busy), tc.busy)
			}
			r.oneReplyEach(ran, "ContactId")
			var order []string
			for _, c := range r.creates() {
				order = append(order, c)
			}
			var want []string
			for i, m := range ms {
				if slices.Contains(ran, m) {
					want = append(want, fmt.Sprintf("Burst%d", i))
				}
			}
			if !slices.Equal(order, want) {
				t.Errorf("ARMS got the creates in the order %v, want the oldest first: %v", order, want)
			}
		})
	}
}

// creates are the names ARMS was asked to create, in order.
func (r *rig) creates() []string {
	var out []string
	for _, c := range r.arms.Calls("CreateAlertContact") {
		out = append(out, c.Params.Get("ContactName"))
	}
	return out
}

// A reply endpoint that answers late still gets one post: one answered
// within the post timeout is delivered; one answered after it may have
// shown, and is not posted again.
func TestASlowReplyEndpointGetsOnePost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		delay time.Duration
		want  string
	}{
		{"answered after 6s", 6 * time.Second, "session ok"},
		{"answered after the post timeout", dingtalk.PostTimeout + time.Second, "session unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, dispatch.Config{})
			r.dt.SetAnswerDelay(tc.delay)
			m := r.message(boss, "/whoami")
			r.d.Stream(t.Context(), m)
			eventually(t, "the reply's post ended", func() bool { return r.deliveries(tc.want) == 1 })
			if err := r.d.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := r.replies(m); len(got) != 1 {
				t.Errorf("%d posts showed, want 1: %q", len(got), got)
			}
			if adm := r.admitAgain(m); adm.Verdict != redisstore.Delivered {
				t.Errorf("a re-delivery of the message is admitted as %v, want it delivered", adm.Verdict)
			}
		})
	}
}

// admitAgain admits a copy of m, as a re-delivery would.
func (r *rig) admitAgain(m *dingtalk.Message) redisstore.Admission {
	r.t.Helper()
	body, err := m.Body()
	if err != nil {
		r.t.Fatal(err)
	}
	adm, err := r.ledger.Admit(r.t.Context(), m.MsgID, m.UserID(), m.RateKey(), body)
	if err != nil {
		r.t.Fatal(err)
	}
	return adm
}

// A drain waits for a post under way, so that the reply is recorded as
// delivered and no taker posts it again.
func TestADrainWaitsForThePostUnderWay(t *testing.T) {
	t.Parallel()
	r := newRig(t, dispatch.Config{})
	r.dt.SetAnswerDelay(2 * time.Second)
	m := r.message(boss, "/whoami")
	r.d.Stream(t.Context(), m)
	eventually(t, "the post under way", func() bool { return len(r.replies(m)) == 1 })
	r.d.Drain(t.Context())
	if n := r.deliveries("session ok"); n != 1 {
		t.Errorf("the drain returned with %d posts delivered, want the one under way", n)
	}
	other := r.sibling(dispatch.Config{})
	if adm := other.admitAgain(m); adm.Verdict != redisstore.Delivered {
		t.Errorf("after the drain the message is admitted as %v, want it delivered", adm.Verdict)
	}
	if got := r.replies(m); len(got) != 1 {
		t.Errorf("%d posts, want 1", len(got))
	}
}

// A process that takes over a message whose reply was ready posts it,
// unless the earlier owner had begun to post it: then DingTalk may show it
// already, and a duplicate is worse than a missing reply.
func TestATakerPostsAReplyOnlyIfNoPostHadBegun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		posting bool
		posts   int
	}{
		{"ready, not posted", false, 1},
		{"its post had begun", true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gone := newRig(t, dispatch.Config{})
			m := gone.message(boss, "/whoami")
			body, err := m.Body()
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			adm, err := gone.ledger.Admit(ctx, m.MsgID, m.UserID(), m.RateKey(), body)
			if err != nil || adm.Verdict != redisstore.Run {
				t.Fatalf("admit: %v, %v", adm.Verdict, err)
			}
			reply := dingtalk.MarkdownReply("Who am I", "you are "+boss, boss)
			if err := adm.Claim.Finish(ctx, reply, false, commands.AuditEntry{MsgID: m.MsgID, Outcome: "ok"}); err != nil {
				t.Fatal(err)
			}
			if tc.posting {
				if err := adm.Claim.Posting(ctx); err != nil {
					t.Fatal(err)
				}
			}
			gone.d.Stop()
			if _, err := gone.ledger.HandOver(ctx); err != nil { // as a drain cut short
				t.Fatal(err)
			}
			taker := gone.sibling(dispatch.Config{})
			want := map[bool]string{false: "session ok", true: "session unknown"}[tc.posting]
			eventually(t, "the taker finished the message", func() bool { return taker.deliveries(want) == 1 })
			if err := taker.d.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if adm := taker.admitAgain(m); adm.Verdict != redisstore.Delivered {
				t.Errorf("after the taker a re-delivery is admitted as %v, want it delivered", adm.Verdict)
			}
			if got := gone.replies(m); len(got) != tc.posts {
				t.Errorf("%d posts, want %d: %q", len(got), tc.posts, got)
			}
		})
	}
}

// A reply that finds the reply lane full is handed over, with its record,
// for a sweep to post: none is lost, none is posted twice.
func TestAFullReplyLaneLeavesRepliesToTheSweep(t *testing.T) {
	t.Parallel()
	r := newRig(t, dispatch.Config{Workers: 4, Queue: 8, Backlog: 10, ReplyWorkers: 1, ReplyQueue: 1})
	r.dt.SetAnswerDelay(200 * time.Millisecond)
	var ms []*dingtalk.Message
	for range 6 {
		m := r.message(boss, "/whoami")
		r.d.Stream(t.Context(), m)
		ms = append(ms, m)
	}
	eventually(t, "every reply posted", func() bool { return r.deliveries("session ok") == 6 })
	if err := r.d.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.oneReplyEach(ms, boss)
	if !strings.Contains(r.logs.String(), "handed over for a sweep") {
		t.Error("no reply found the lane full; the test did not test it")
	}
}

// Busy notices that find the reply lane full still reach their senders:
// nothing records a notice, so nobody else would send it.
func TestNoticesOutliveAFullReplyLane(t *testing.T) {
	t.Parallel()
	r := newRig(t, dispatch.Config{Workers: 1, Queue: 1, Backlog: 0, ReplyWorkers: 1, ReplyQueue: 1})
	r.arms.SetLatency(200 * time.Millisecond)
	r.dt.SetAnswerDelay(300 * time.Millisecond) // the one reply worker is slow
	ms := r.adds("Full", 8)
	eventually(t, "every message answered", func() bool { return r.dt.Count() >= len(ms) })
	if err := r.d.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	busy := 0
	for _, m := range ms {
		rs := r.replies(m)
		if len(rs) != 1 {
			t.Errorf("message %s got %d replies: %q", m.MsgID, len(rs), rs)
			continue
		}
		if strings.Contains(rs[0], "busy") {
			busy++
		}
	}
	if busy == 0 {
		t.Error("no message was told busy: the lane was never full")
	}
}
