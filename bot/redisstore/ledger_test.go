package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/bot/redisstore/redistest"
	"github.com/armsbot/armsbot/commands"
)

// procs is a Redis shared by several processes' ledgers, as replicas share
// one in production.
type procs struct {
	t  *testing.T
	rd *redistest.Redis
	s  *redisstore.Store

	mu  sync.Mutex
	now time.Time // the processes' clock
}

const lease = 10 * time.Second

func newProcs(t *testing.T, opt redisstore.Options) *procs {
	t.Helper()
	s, rd := newStore(t, opt)
	return &procs{t: t, rd: rd, s: s, now: time.Now()}
}

func (p *procs) clock() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.now
}

// later lets a lease pass on the processes' clock: after it, a process that
// renewed may judge others dead.
func (p *procs) later() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = p.now.Add(lease)
}

// start is a process: a ledger that has renewed its lease once.
func (p *procs) start(name string) *redisstore.Ledger {
	p.t.Helper()
	l := redisstore.NewLedger(p.s, redisstore.LedgerOptions{Process: name, Lease: lease, WriteWindow: 3 * time.Second, Now: p.clock})
	if err := l.Renew(p.t.Context()); err != nil {
		p.t.Fatal(err)
	}
	return l
}

// kill makes a process dead as Redis sees it: its lease is gone.
func (p *procs) kill(name string) {
	p.t.Helper()
	if err := p.rd.Client.Del(p.t.Context(), p.rd.Prefix+"proc:"+name).Err(); err != nil {
		p.t.Fatal(err)
	}
}

func admit(t *testing.T, l *redisstore.Ledger, id string) redisstore.Admission {
	t.Helper()
	a, err := l.Admit(t.Context(), id, "sender", "sender", []byte(`{"id":"`+id+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var verdicts = map[redisstore.Verdict]string{redisstore.Run: "Run", redisstore.Resume: "Resume", redisstore.Busy: "Busy",
	redisstore.Delivered: "Delivered", redisstore.Carry: "Carry"}

func wantVerdict(t *testing.T, what string, a redisstore.Admission, want redisstore.Verdict) {
	t.Helper()
	if a.Verdict != want {
		t.Fatalf("%s: %s, want %s", what, verdicts[a.Verdict], verdicts[want])
	}
}

// A message's record says what every later delivery may do: stay silent
// while it runs and after its reply went out, carry a reply that could
// not be delivered (once), run again when it had no effect.
func TestAdmissionFollowsTheRecord(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	ctx := t.Context()
	a := p.start("a")
	if err := p.s.Grant(ctx, "sender", "contact"); err != nil {
		t.Fatal(err)
	}

	first := admit(t, a, "m1")
	wantVerdict(t, "first delivery", first, redisstore.Run)
	if len(first.Scopes) != 1 || first.Scopes[0] != "contact" || !first.Rate.Allowed {
		t.Errorf("first delivery read scopes %v and rate %+v", first.Scopes, first.Rate)
	}
	if string(first.Claim.Payload()) != `{"id":"m1"}` {
		t.Errorf("payload %q", first.Claim.Payload())
	}
	wantVerdict(t, "while it runs", admit(t, a, "m1"), redisstore.Busy)
	wantVerdict(t, "on another replica while it runs", admit(t, p.start("b"), "m1"), redisstore.Busy)
	if err := first.Claim.Finish(ctx, []byte("reply"), true, commands.AuditEntry{MsgID: "m1", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "after the reply went out", admit(t, a, "m1"), redisstore.Delivered)

	m2 := admit(t, a, "m2").Claim
	if err := m2.Finish(ctx, []byte(`{"reply":2}`), false, commands.AuditEntry{MsgID: "m2"}); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "while its owner delivers", admit(t, a, "m2"), redisstore.Busy)
	if err := m2.Undeliverable(ctx); err != nil {
		t.Fatal(err)
	}
	carry := admit(t, p.start("c"), "m2")
	wantVerdict(t, "after no channel took the reply", carry, redisstore.Carry)
	if string(carry.Reply) != `{"reply":2}` {
		t.Errorf("carried %q", carry.Reply)
	}
	wantVerdict(t, "after it was carried", admit(t, a, "m2"), redisstore.Delivered)

	m3 := admit(t, a, "m3").Claim
	if err := m3.Release(ctx, commands.AuditEntry{MsgID: "m3", Outcome: "busy"}); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "after release", admit(t, a, "m3"), redisstore.Run)

	got, err := p.s.Recent(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].MsgID != "m3" || got[2].MsgID != "m1" {
		t.Errorf("audit after three settles: %+v", got)
	}
}

// Deliveries of one message on two replicas at once: exactly one runs it.
func TestConcurrentAdmissionsRunOnce(t *testing.T) {
	p := newProcs(t, redisstore.Options{RatePerMin: 100})
	ledgers := []*redisstore.Ledger{p.start("a"), p.start("b")}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		runs int
	)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := ledgers[i%2].Admit(context.Background(), "same", "sender", "sender", []byte("{}"))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if a.Verdict == redisstore.Run || a.Verdict == redisstore.Resume {
				runs++
			}
		}()
	}
	wg.Wait()
	if runs != 1 {
		t.Errorf("%d of 20 concurrent deliveries ran the message, want 1", runs)
	}
}

// When its owner dies, a message is taken over by the next delivery or by
// a sweep, with what the owner was about to write; the dead owner can then
// settle nothing.
func TestTakeOverAfterDeath(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	ctx := t.Context()
	a, b := p.start("a"), p.start("b")

	m1 := admit(t, a, "m1").Claim
	w := commands.Write{Action: "create", Contact: commands.Contact{Name: "Kim", Email: "kim@example.com"}}
	sendBy, err := m1.Intend(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(sendBy); d <= 0 || d > 3*time.Second {
		t.Errorf("the write must be sent within %s, want the write window", d)
	}
	admit(t, a, "m2")
	wantVerdict(t, "owner alive", admit(t, b, "m1"), redisstore.Busy)

	p.kill("a")
	wantVerdict(t, "before b has held its lease for a lease", admit(t, b, "m1"), redisstore.Busy)
	p.later()
	re := admit(t, b, "m1")
	wantVerdict(t, "re-delivery after the owner died", re, redisstore.Resume)
	prior, wait, ok := re.Claim.Prior()
	// The window is judged on Redis's clock, the intent stamped on the
	// owner's: a second's allowance covers their difference.
	if !ok || !reflect.DeepEqual(prior, w) || wait <= 0 || wait > 4*time.Second {
		t.Errorf("prior %+v (ok=%v), wait %s; want the intent and time until it can no longer land", prior, ok, wait)
	}
	if string(re.Claim.Payload()) != `{"id":"m1"}` {
		t.Errorf("payload %q", re.Claim.Payload())
	}
	swept, err := b.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(swept) != 1 || swept[0].ID() != "m2" {
		t.Fatalf("the sweep took %d messages, want m2 alone", len(swept))
	}
	if _, _, ok := swept[0].Prior(); ok {
		t.Error("m2 had no intent, yet the take-over reports one")
	}

	// The old owner, alive after all (a long pause), is fenced off.
	if _, err := m1.Intend(ctx, w); !errors.Is(err, commands.ErrLostOwnership) {
		t.Errorf("the old owner's intent: %v, want ErrLostOwnership", err)
	}
	if err := m1.Finish(ctx, nil, true, commands.AuditEntry{}); !errors.Is(err, commands.ErrLostOwnership) {
		t.Errorf("the old owner's finish: %v, want ErrLostOwnership", err)
	}
	if err := re.Claim.Finish(ctx, []byte("r"), true, commands.AuditEntry{}); err != nil {
		t.Errorf("the new owner's finish: %v", err)
	}
	wantVerdict(t, "after the new owner's reply", admit(t, a, "m1"), redisstore.Delivered)
}

// A drained process hands its messages over, with their replies: another
// replica's sweep takes them at once, without waiting for a lease.
func TestHandOver(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	ctx := t.Context()
	a, b := p.start("a"), p.start("b")
	admit(t, a, "running")
	done := admit(t, a, "done").Claim
	if err := done.Finish(ctx, []byte("the reply"), false, commands.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	if n, err := a.HandOver(ctx); err != nil || n != 2 {
		t.Fatalf("handed over %d, %v; want 2", n, err)
	}
	taken, err := b.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replies := map[string]string{}
	for _, c := range taken {
		replies[c.ID()] = string(c.Reply())
	}
	if len(replies) != 2 || replies["done"] != "the reply" || replies["running"] != "" {
		t.Errorf("taken over: %v; want both, the finished one with its reply", replies)
	}
	if again, _ := b.Sweep(ctx); len(again) != 0 {
		t.Errorf("a second sweep took %d messages again", len(again))
	}
}

// A queued or slow message stays its owner's for as long as the owner
// renews its lease, however long that is; a lease that is not renewed
// lapses.
func TestLeaseLivesWhileRenewed(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	a, b := p.start("a"), p.start("b")
	admit(t, a, "slow")
	if !p.rd.Real() {
		for range 5 {
			p.rd.Mini.FastForward(5 * time.Second)
			if err := a.Renew(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		p.later()
		wantVerdict(t, "25s later, renewed every 5s", admit(t, b, "slow"), redisstore.Busy)
		p.rd.Mini.FastForward(11 * time.Second)
		wantVerdict(t, "11s after the last renewal", admit(t, b, "slow"), redisstore.Resume)
		return
	}
	ttl := p.rd.Client.PTTL(t.Context(), p.rd.Prefix+"proc:a").Val()
	if ttl <= 9*time.Second || ttl > 10*time.Second {
		t.Errorf("the lease lasts %s, want 10s", ttl)
	}
}

// Adds of one person are serialised: a second message waits for the
// first, and a message never holds part of what it needs while waiting.
func TestSerialize(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	ctx := t.Context()
	a := p.start("a")
	m1, m2, m3 := admit(t, a, "m1").Claim, admit(t, a, "m2").Claim, admit(t, a, "m3").Claim
	if err := m1.Serialize(ctx, "email:kim@example.com"); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- m2.Serialize(context.Background(), "phone:13811112222", "email:kim@example.com") }()

	// m2 waits for the email, without keeping the phone from m3.
	takeAndRelease(t, m3, "phone:13811112222")
	stillWaiting(t, got, "m2 got the email while m1 held it")
	if err := m1.Finish(ctx, nil, true, commands.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	returns(t, got, "m2 did not get the email after m1 settled")
	// The locks name no phone number or address in Redis.
	keys := p.rd.Client.Keys(ctx, p.rd.Prefix+"lock:*").Val()
	for _, k := range keys {
		for _, leak := range []string{"kim", "138111"} {
			if strings.Contains(k, leak) {
				t.Errorf("lock key %s shows what it locks", k)
			}
		}
	}
}

// A lock that lapsed (its owner's lease stopped being renewed long enough
// for another message to take it) stops the write: nothing may be sent,
// and no intent is left for a take-over to misread.
func TestIntentNeedsTheLocks(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	ctx := t.Context()
	a := p.start("a")
	m1 := admit(t, a, "m1").Claim
	if err := m1.Serialize(ctx, "email:kim@example.com"); err != nil {
		t.Fatal(err)
	}
	keys := p.rd.Client.Keys(ctx, p.rd.Prefix+"lock:*").Val()
	if len(keys) != 1 {
		t.Fatalf("%d lock keys, want 1", len(keys))
	}
	p.rd.Client.Set(ctx, keys[0], "m9:1", time.Minute) // another message's now
	_, err := m1.Intend(ctx, commands.Write{Action: "create"})
	if !errors.Is(err, commands.ErrUnavailable) {
		t.Fatalf("intent without the lock: %v, want ErrUnavailable", err)
	}
	p.kill("a")
	b := p.start("b")
	p.later()
	re := admit(t, b, "m1")
	if _, _, ok := re.Claim.Prior(); ok {
		t.Error("an intent that was not acted on is left for a take-over")
	}
}

// An intent that holds values takes them as Serialize does (all or none,
// waiting for another message, taking over its own earlier owner's) and
// records the intent only once they are held; on a single Redis and on a
// Cluster alike.
func TestIntendHolds(t *testing.T) {
	onEachTopology(t, func(t *testing.T, p *procs) {
		ctx := t.Context()
		a := p.start("a")
		m1, m2, m3 := admit(t, a, "m1").Claim, admit(t, a, "m2").Claim, admit(t, a, "m3").Claim
		if _, err := m1.Intend(ctx, commands.Write{Action: "create"}, "email:kim@example.com"); err != nil {
			t.Fatal(err)
		}
		locks := p.rd.Client.Keys(ctx, p.rd.Prefix+"lock:*").Val()
		if len(locks) != 1 {
			t.Fatalf("%d lock keys after the intent, want 1", len(locks))
		}
		// The lock outlives the write even if renewals stop.
		if ttl := p.rd.Client.PTTL(ctx, locks[0]).Val(); ttl <= lease {
			t.Errorf("the lock lives %v, want more than the lease %v", ttl, lease)
		}

		// While m1 holds the email, m2 records nothing and holds
		// nothing: it waits until its context ends.
		brief, cancelBrief := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancelBrief()
		if _, err := m2.Intend(brief, commands.Write{Action: "create"}, "phone:13811112222", "email:kim@example.com"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("m2's intent while m1 held the email: %v, want a wait until its deadline", err)
		}
		got := make(chan error, 1)
		go func() {
			_, err := m2.Intend(context.Background(), commands.Write{Action: "create"}, "phone:13811112222", "email:kim@example.com")
			got <- err
		}()
		// m2 waits for the email, without keeping the phone from m3 and
		// without recording an intent it cannot act on.
		takeAndRelease(t, m3, "phone:13811112222")
		stillWaiting(t, got, "m2 recorded its intent while m1 held the email")
		if i := p.rd.Client.HGet(ctx, p.rd.Prefix+"msg:m2", "i").Val(); i != "" {
			t.Errorf("m2 recorded %s while waiting", i)
		}
		if err := m1.Finish(ctx, nil, true, commands.AuditEntry{}); err != nil {
			t.Fatal(err)
		}
		returns(t, got, "m2 did not record its intent after m1 settled")

		// m2's process dies: the next owner of m2 takes its locks over.
		p.kill("a")
		b := p.start("b")
		p.later()
		re := admit(t, b, "m2")
		wantVerdict(t, "m2 after its owner died", re, redisstore.Resume)
		if w, _, ok := re.Claim.Prior(); !ok || w.Action != "create" {
			t.Fatalf("the new owner sees %+v, %v; want the create", w, ok)
		}
		short2, cancel2 := context.WithTimeout(ctx, 2*time.Second)
		defer cancel2()
		if _, err := re.Claim.Intend(short2, commands.Write{Action: "create"}, "phone:13811112222", "email:kim@example.com"); err != nil {
			t.Fatalf("the new owner of m2 could not take m2's locks: %v", err)
		}
		if err := re.Claim.Finish(ctx, nil, true, commands.AuditEntry{}); err != nil {
			t.Fatal(err)
		}
		// Once every message settled, the values are free at once.
		takeAndRelease(t, admit(t, b, "m9").Claim, "phone:13811112222")
		takeAndRelease(t, admit(t, b, "m10").Claim, "email:kim@example.com")
	})
}

// The rate limit counts each message once, however often it is delivered,
// and tells the sender once per window.
func TestRateLimitCountsMessagesOnce(t *testing.T) {
	p := newProcs(t, redisstore.Options{RatePerMin: 2})
	a := p.start("a")
	var got []redisstore.Admission
	for _, id := range []string{"r1", "r1", "r2", "r2", "r3", "r4"} {
		got = append(got, admit(t, a, id))
	}
	if !got[0].Rate.Allowed || !got[2].Rate.Allowed {
		t.Fatalf("the first two messages were limited: %+v, %+v", got[0].Rate, got[2].Rate)
	}
	if got[1].Verdict != redisstore.Busy || got[3].Verdict != redisstore.Busy {
		t.Errorf("re-deliveries: %s, %s", verdicts[got[1].Verdict], verdicts[got[3].Verdict])
	}
	r3, r4 := got[4].Rate, got[5].Rate
	if r3.Allowed || r4.Allowed || !r3.Notify || r4.Notify || r3.RetryAfter <= 0 {
		t.Errorf("third and fourth: %+v, %+v; want both limited, the first told when to retry", r3, r4)
	}
}

// A message is counted once, when it is new to the ledger: a re-delivery
// after it settled costs the sender nothing either, and the limit keeps
// one key per sender, which expires.
func TestRateLimitCountsOnlyNewMessages(t *testing.T) {
	p := newProcs(t, redisstore.Options{RatePerMin: 2})
	a := p.start("a")
	ctx := t.Context()
	for _, id := range []string{"s1", "s2"} {
		if got := admit(t, a, id); !got.Rate.Allowed {
			t.Fatalf("%s limited", id)
		}
		if again := admit(t, a, id); again.Verdict != redisstore.Busy {
			t.Fatalf("a second delivery of %s: %s, want Busy", id, verdicts[again.Verdict])
		}
	}
	// Re-deliveries, on another replica, are not counted.
	b := p.start("b")
	for range 3 {
		if got := admit(t, b, "s1"); got.Verdict != redisstore.Busy {
			t.Fatalf("s1 delivered again: %s, want Busy", verdicts[got.Verdict])
		}
	}
	keys := p.rd.Client.Keys(ctx, p.rd.Prefix+"rl:*").Val()
	if len(keys) != 1 {
		t.Fatalf("rate keys %v, want one for the sender", keys)
	}
	if ttl := p.rd.Client.PTTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("the sender's rate key lives %v, want until the sender is allowed a burst again", ttl)
	}
	if got := admit(t, a, "s3"); got.Rate.Allowed {
		t.Error("a third new message within the minute was allowed")
	}
}

// Records of a version before the ledger are honoured during an upgrade.
func TestLegacyRecords(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	ctx := t.Context()
	a := p.start("a")
	for id, v := range map[string]string{"old-running": "processing", "old-done": "delivered", "old-undelivered": `done:{"reply":"old"}`} {
		p.rd.Client.Set(ctx, p.rd.Prefix+"msg:"+id, v, time.Hour)
	}
	wantVerdict(t, "processing", admit(t, a, "old-running"), redisstore.Busy)
	wantVerdict(t, "delivered", admit(t, a, "old-done"), redisstore.Delivered)
	wantCarriedOnce(t, a, "old-undelivered", `{"reply":"old"}`)
	if _, err := a.Sweep(ctx); err != nil {
		t.Errorf("a sweep over older records: %v", err)
	}
}

// A process that lost track of its own record (its admission's answer
// was lost) takes it up again when the message is delivered again.
func TestOwnRecordLostTrackOfIsResumed(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	before := p.start("a")
	admit(t, before, "m1")
	after := p.start("a") // the same process, without the memory of m1
	wantVerdict(t, "re-delivery", admit(t, after, "m1"), redisstore.Resume)
}

// Right after an outage of Redis every lease has lapsed, the living's too:
// no process is taken for dead until the judge has renewed its own lease
// for a whole lease, as every living process then has.
func TestNobodyIsJudgedDeadRightAfterAnOutage(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	a := p.start("a")
	admit(t, a, "m1")
	p.kill("a") // its lease lapsed while Redis was away
	b := p.start("b")
	wantVerdict(t, "a delivery as Redis comes back", admit(t, b, "m1"), redisstore.Busy)
	if taken, _ := b.Sweep(t.Context()); len(taken) != 0 {
		t.Errorf("a sweep as Redis comes back took %d messages", len(taken))
	}
	if err := a.Renew(t.Context()); err != nil { // a lives, and renews
		t.Fatal(err)
	}
	p.later()
	wantVerdict(t, "a lease later, a renewed", admit(t, b, "m1"), redisstore.Busy)
	p.kill("a") // and now a is dead
	wantVerdict(t, "a lease later, a dead", admit(t, b, "m1"), redisstore.Resume)
}

// A message is in the in-flight index (where sweeps find the orphans) from
// its admission until its reply is out, and settling it leaves nothing for
// a lock to trip over, even when it lost the record to another process; on
// a single Redis, where one script does each step, and on a Cluster alike.
func TestSettleLeavesNothingBehind(t *testing.T) {
	onEachTopology(t, func(t *testing.T, p *procs) {
		ctx := t.Context()
		a := p.start("a")
		// The index's marker (a member no message id can be) is not a message.
		inflight := func() []string {
			return slices.DeleteFunc(p.rd.Client.ZRange(ctx, p.rd.Prefix+"inflight", 0, -1).Val(), func(id string) bool { return strings.HasPrefix(id, "\x00") })
		}

		m1 := admit(t, a, "m1").Claim
		if got := inflight(); len(got) != 1 || got[0] != "m1" {
			t.Errorf("in flight once admitted: %v, want [m1]", got)
		}
		if _, err := m1.Intend(ctx, commands.Write{Action: "create"}, "email:kim@example.com", "phone:13811112222"); err != nil {
			t.Fatal(err)
		}
		if err := m1.Finish(ctx, []byte("reply"), false, commands.AuditEntry{MsgID: "m1"}); err != nil {
			t.Fatal(err)
		}
		// Once the reply is ready, the write is over: the values are free.
		takeAndRelease(t, admit(t, a, "m8").Claim, "email:kim@example.com")
		takeAndRelease(t, admit(t, a, "m9").Claim, "phone:13811112222")
		if got := inflight(); !slices.Contains(got, "m1") {
			t.Errorf("in flight before its reply went out: %v, want m1 among them", got)
		}
		if err := m1.Delivered(ctx); err != nil {
			t.Fatal(err)
		}
		// The next renewal takes every message settled since off the
		// index, in one command.
		if err := a.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		if got := inflight(); len(got) != 0 {
			t.Errorf("in flight after its reply went out: %v, want none", got)
		}

		// m2 lost its record to another process: it may not settle it,
		// but its locks and its place in the index go all the same.
		m2 := admit(t, a, "m2").Claim
		if err := m2.Serialize(ctx, "email:lee@example.com"); err != nil {
			t.Fatal(err)
		}
		setOwner(t, p, "m2", "b")
		if err := m2.Finish(ctx, nil, true, commands.AuditEntry{}); !errors.Is(err, commands.ErrLostOwnership) {
			t.Fatalf("settling a record another process owns: %v, want ErrLostOwnership", err)
		}
		if err := a.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		if got := inflight(); len(got) != 0 {
			t.Errorf("in flight: %v, want none", got)
		}
		if n := p.rd.Client.XLen(ctx, p.rd.Prefix+"audit").Val(); n != 4 {
			t.Errorf("%d audit entries, want 4 (m1's, m2's and the two releases)", n)
		}
	})
}

// A busy process settles thousands of messages between two renewals; the
// renewal takes them all off the index, in commands small enough that
// Redis, which runs each command whole, keeps answering everyone else.
func TestRenewTakesSettledOffInBites(t *testing.T) {
	onEachTopology(t, func(t *testing.T, p *procs) {
		ctx := t.Context()
		a := p.start("a")
		const settled = 600
		for i := range settled {
			id := "m" + strconv.Itoa(i)
			c := admit(t, a, id).Claim
			if err := c.Finish(ctx, []byte("reply"), false, commands.AuditEntry{MsgID: id}); err != nil {
				t.Fatal(err)
			}
			if err := c.Delivered(ctx); err != nil {
				t.Fatal(err)
			}
		}
		biggest := &largestZRem{}
		p.rd.Client.AddHook(biggest)
		if err := a.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		left := slices.DeleteFunc(p.rd.Client.ZRange(ctx, p.rd.Prefix+"inflight", 0, -1).Val(), func(id string) bool { return strings.HasPrefix(id, "\x00") })
		if len(left) != 0 {
			t.Errorf("%d settled messages still in flight after the renewal", len(left))
		}
		if n := biggest.members.Load(); n == 0 || n > 256 {
			t.Errorf("the renewal's largest ZREM took %d members off the index, want 1 to 256", n)
		}
	})
}

// largestZRem notes the most members one ZREM sent through the client
// named.
type largestZRem struct{ members atomic.Int64 }

func (h *largestZRem) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *largestZRem) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.note(cmd)
		return next(ctx, cmd)
	}
}
func (h *largestZRem) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.note(c)
		}
		return next(ctx, cmds)
	}
}
func (h *largestZRem) note(cmd redis.Cmder) {
	if strings.EqualFold(cmd.Name(), "zrem") {
		n := int64(len(cmd.Args()) - 2)
		for {
			old := h.members.Load()
			if n <= old || h.members.CompareAndSwap(old, n) {
				return
			}
		}
	}
}

// setOwner makes process owner the owner of message id's record, as a
// take-over by it would.
func setOwner(t *testing.T, p *procs, id, owner string) {
	t.Helper()
	key := p.rd.Prefix + "msg:" + id
	v := p.rd.Client.Get(t.Context(), key).Val()
	f := strings.SplitN(v, "|", 6)
	if len(f) != 6 {
		t.Fatalf("record %q", v)
	}
	f[4] = owner
	p.rd.Client.Set(t.Context(), key, strings.Join(f, "|"), redis.KeepTTL)
}

// takeAndRelease takes value for c, which must not have to wait long, and
// gives it back.
func takeAndRelease(t *testing.T, c *redisstore.Claim, value string) {
	t.Helper()
	short, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := c.Serialize(short, value); err != nil {
		t.Fatalf("%s could not take %s while another message waited: %v", c.ID(), value, err)
	}
	if err := c.Release(t.Context(), commands.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
}

// stillWaiting fails with what when the waiting call has returned.
func stillWaiting(t *testing.T, got <-chan error, what string) {
	t.Helper()
	select {
	case err := <-got:
		t.Fatalf("%s: %v", what, err)
	default:
	}
}

// returns fails with what unless the waiting call returns, without an
// error, within a few seconds.
func returns(t *testing.T, got <-chan error, what string) {
	t.Helper()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal(what)
	}
}

// onEachTopology runs test over a single Redis and as over Redis Cluster,
// where the store sends what a script may not touch as commands of their
// own.
func onEachTopology(t *testing.T, test func(t *testing.T, p *procs)) {
	for _, topology := range []string{"single", "cluster"} {
		t.Run(topology, func(t *testing.T) {
			p := newProcs(t, redisstore.Options{})
			if topology == "cluster" {
				redisstore.AsCluster(p.s)
			}
			test(t, p)
		})
	}
}

// lose deletes every key of the test's, as a Redis restarted without
// persistence forgets them.
func (p *procs) lose() {
	p.t.Helper()
	ctx := p.t.Context()
	keys, err := p.rd.Client.Keys(ctx, p.rd.Prefix+"*").Result()
	if err != nil {
		p.t.Fatal(err)
	}
	if len(keys) > 0 {
		if err := p.rd.Client.Del(ctx, keys...).Err(); err != nil {
			p.t.Fatal(err)
		}
	}
}

// When Redis loses its data, the ledger notices at its next renewal or
// admission, once; a running message's record is made anew instead of
// being taken for another process's; a new delivery of a message this
// process runs is not run twice; a record another delivery made in the
// meantime wins.
func TestDataLoss(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	ctx := t.Context()
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, nil))
	a := redisstore.NewLedger(p.s, redisstore.LedgerOptions{Process: "a", Lease: lease, WriteWindow: 3 * time.Second, Now: p.clock, Log: log})
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	running := admit(t, a, "m1").Claim
	other := admit(t, a, "m2").Claim
	if _, lost := a.DataLost(); lost {
		t.Fatal("data lost before anything was lost")
	}

	p.lose()
	// A new delivery of m1 finds no record; this process runs m1.
	wantVerdict(t, "a delivery of a running message whose record is gone", admit(t, a, "m1"), redisstore.Busy)
	if _, lost := a.DataLost(); !lost {
		t.Fatal("the admission did not notice that Redis lost its data")
	}
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), `"level":"ERROR","msg":"Redis lost its data`); n != 1 {
		t.Errorf("%d ERROR lines about the loss, want 1:\n%s", n, logs.String())
	}
	// m1 goes on: its intent and its settle make the record anew.
	if _, err := running.Intend(ctx, commands.Write{Action: "create", Contact: commands.Contact{Email: "a@example.com"}}, "email:a@example.com"); err != nil {
		t.Fatalf("intent after the loss: %v", err)
	}
	if err := running.Finish(ctx, []byte("reply"), true, commands.AuditEntry{MsgID: "m1"}); err != nil {
		t.Fatalf("settle after the loss: %v", err)
	}
	wantVerdict(t, "m1 after it was settled", admit(t, a, "m1"), redisstore.Delivered)

	// m2's record was made by another delivery meanwhile (another replica
	// found no record and admitted it as new): that one owns it now.
	b := p.start("b")
	fresh := admit(t, b, "m2")
	wantVerdict(t, "m2 on another replica", fresh, redisstore.Run)
	if fresh.DataLost.IsZero() {
		t.Error("b admitted m2 without saying that Redis had lost its data")
	}
	if err := other.Finish(ctx, []byte("reply"), true, commands.AuditEntry{MsgID: "m2"}); !errors.Is(err, commands.ErrLostOwnership) {
		t.Errorf("settling m2 after another delivery made its record: %v, want ErrLostOwnership", err)
	}
}

// A message answered "temporarily unavailable" while Redis was away is
// recorded as answered when it is back: a later delivery is a duplicate.
func TestForgoneMessageIsADuplicate(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	a := p.start("a")
	if err := a.Forgo(t.Context(), "told"); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "a delivery after the outage", admit(t, a, "told"), redisstore.Delivered)
	// A record made meanwhile stands.
	running := admit(t, a, "ran")
	if err := a.Forgo(t.Context(), "ran"); err != nil {
		t.Fatal(err)
	}
	if err := running.Claim.Finish(t.Context(), []byte("reply"), true, commands.AuditEntry{MsgID: "ran"}); err != nil {
		t.Errorf("a message admitted before Forgo lost its record: %v", err)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// The admission may record what a message will most likely write, with
// its locks: an Intend of that write is then no round trip, and the
// intent is the message's like any other. A hand-over before the write was
// armed leaves no intent behind (its taker has nothing to wait for); one
// after leaves it. A message that writes something else records that.
func TestSpeculativeIntent(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	ctx := t.Context()
	create := func(email string) commands.Write {
		return commands.Write{Action: "create", Contact: commands.Contact{Name: "Kim", Email: email}}
	}
	speculate := func(l *redisstore.Ledger, id, email string) *redisstore.Claim {
		t.Helper()
		spec := &redisstore.Speculation{Write: create(email), Hold: []string{"email:" + email}}
		a, err := l.AdmitSpeculating(ctx, id, "sender", "sender", []byte(`{"id":"`+id+`"}`), spec)
		if err != nil || a.Verdict != redisstore.Run {
			t.Fatalf("admit %s: %v, %s", id, err, verdicts[a.Verdict])
		}
		return a.Claim
	}
	var trips atomic.Int64
	p.s.Observe(func(string, error) { trips.Add(1) })
	a := p.start("a")

	armed := speculate(a, "armed", "kim@example.com")
	before := trips.Load()
	if _, err := armed.Intend(ctx, create("kim@example.com"), "email:kim@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := trips.Load() - before; n != 0 {
		t.Errorf("the intent the admission recorded cost %d round trips, want 0", n)
	}
	speculate(a, "queued", "lee@example.com")
	// Another message wanting the value waits: the admission holds it.
	brief, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := admit(t, a, "other").Claim.Serialize(brief, "email:lee@example.com"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("another message took the value an admission holds: %v", err)
	}
	// Another write than the admission's is recorded, at a round trip.
	other := speculate(a, "changed", "sam@example.com")
	before = trips.Load()
	if _, err := other.Intend(ctx, create("sam.lee@example.com"), "email:sam@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := trips.Load() - before; n != 1 {
		t.Errorf("another write's intent cost %d round trips, want 1", n)
	}

	// A message that waited longer than half its window for a worker
	// records its intent anew, with a window of its own.
	late := speculate(a, "late", "lou@example.com")
	p.later()
	before = trips.Load()
	sendBy, err := late.Intend(ctx, create("lou@example.com"), "email:lou@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if n := trips.Load() - before; n != 1 {
		t.Errorf("a stale admission intent cost %d round trips, want 1 (recorded anew)", n)
	}
	if d := time.Until(sendBy); d < 2*time.Second {
		t.Errorf("the intent recorded anew leaves %s to send the write, want its whole window", d)
	}

	// Drained: a hands all over.
	if _, err := a.HandOver(ctx); err != nil {
		t.Fatal(err)
	}
	b := p.start("b")
	for id, want := range map[string]string{"armed": "kim@example.com", "changed": "sam.lee@example.com", "queued": "", "late": "lou@example.com"} {
		got := admit(t, b, id)
		if got.Verdict != redisstore.Resume {
			t.Fatalf("%s after the hand-over: %s", id, verdicts[got.Verdict])
		}
		w, _, ok := got.Claim.Prior()
		switch {
		case want == "" && ok:
			t.Errorf("%s: an intent no write followed was handed over (%+v): its taker would wait for nothing", id, w)
		case want != "" && (!ok || w.Contact.Email != want):
			t.Errorf("%s: handed over %+v (%v), want the create of %s", id, w, ok, want)
		}
	}
}

// During an upgrade the version before this one (records as hashes) runs
// beside it: its delivered and undelivered records are honoured, and a
// message of its that a dead process left is taken over, with its intent,
// and finished in this version's record.
func TestRecordsOfThePreviousVersion(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	ctx := t.Context()
	hash := func(id string, fields ...any) {
		t.Helper()
		key := p.rd.Prefix + "msg:" + id
		if err := p.rd.Client.HSet(ctx, key, fields...).Err(); err != nil {
			t.Fatal(err)
		}
		p.rd.Client.Expire(ctx, key, time.Hour)
	}
	w := commands.Write{Action: "create", Contact: commands.Contact{Name: "Old", Email: "old@example.com"}}
	intent, _ := json.Marshal(w)
	hash("old-done", "s", "delivered", "o", "", "t", 1)
	hash("old-undelivered", "s", "undelivered", "o", "", "t", 2, "r", `{"reply":"old"}`)
	hash("old-running", "s", "active", "o", "old", "t", 1, "p", `{"id":"old-running"}`, "i", intent, "ia", time.Now().UnixMilli(), "a", time.Now().UnixMilli())
	p.rd.Client.ZAdd(ctx, p.rd.Prefix+"inflight", redis.Z{Score: 1, Member: "old-running"})
	a := p.start("a")
	wantVerdict(t, "delivered", admit(t, a, "old-done"), redisstore.Delivered)
	wantCarriedOnce(t, a, "old-undelivered", `{"reply":"old"}`)
	wantVerdict(t, "its owner's lease unknown yet", admit(t, a, "old-running"), redisstore.Busy)
	p.later() // the old process is dead: no lease
	taken, err := a.Sweep(ctx)
	if err != nil || len(taken) != 1 {
		t.Fatalf("the sweep took %d messages (%v), want the old one", len(taken), err)
	}
	if got, _, ok := taken[0].Prior(); !ok || !reflect.DeepEqual(got, w) || string(taken[0].Payload()) != `{"id":"old-running"}` {
		t.Errorf("taken over with %+v (%v) and %q, want the old intent and payload", got, ok, taken[0].Payload())
	}
	if err := taken[0].Finish(ctx, nil, true, commands.AuditEntry{MsgID: "old-running"}); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "finished", admit(t, a, "old-running"), redisstore.Delivered)
}

// wantCarriedOnce checks that a delivery of message id carries its
// undelivered reply, and that the next one finds it delivered.
func wantCarriedOnce(t *testing.T, l *redisstore.Ledger, id, reply string) {
	t.Helper()
	c := admit(t, l, id)
	wantVerdict(t, "undelivered", c, redisstore.Carry)
	if string(c.Reply) != reply {
		t.Errorf("carried %q, want %q", c.Reply, reply)
	}
	wantVerdict(t, "carried once", admit(t, l, id), redisstore.Delivered)
}

// A message's two scripts go by their SHA1: when Redis has forgotten them
// (a restart, SCRIPT FLUSH) between its admission and its settle, or
// before an admission, each is sent whole and the message goes on.
func TestScriptsForgottenByRedis(t *testing.T) {
	p := newProcs(t, redisstore.Options{})
	ctx := t.Context()
	a := p.start("a")
	m1 := admit(t, a, "m1").Claim
	if err := p.rd.Client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := m1.Finish(ctx, nil, true, commands.AuditEntry{MsgID: "m1"}); err != nil {
		t.Fatalf("settle after the scripts were forgotten: %v", err)
	}
	wantVerdict(t, "m1 settled", admit(t, a, "m1"), redisstore.Delivered)
	if err := p.rd.Client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "a new message after the scripts were forgotten", admit(t, a, "m2"), redisstore.Run)
	if n := p.rd.Client.XLen(ctx, p.rd.Prefix+"audit").Val(); n != 1 {
		t.Errorf("%d audit entries, want m1's alone", n)
	}
}
