package redisstore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/bot/redisstore/redistest"
	"github.com/armsbot/armsbot/commands"
)

const claimTTL = redisstore.MinClaimTTL

func newStore(t *testing.T, opt redisstore.Options) (*redisstore.Store, *redistest.Redis) {
	t.Helper()
	rd := redistest.New(t)
	opt.Prefix = rd.Prefix
	if opt.ClaimTTL == 0 {
		opt.ClaimTTL = claimTTL
	}
	return redisstore.New(rd.Client, opt), rd
}

func TestGrantsAndHolders(t *testing.T) {
	s, _ := newStore(t, redisstore.Options{})
	ctx := t.Context()
	for _, g := range [][2]string{{"u1", "contact"}, {"u1", "contact"}, {"u1", "audit"}, {"u2", "perm"}} {
		if err := s.Grant(ctx, g[0], g[1]); err != nil {
			t.Fatal(err)
		}
	}
	scopes, _ := s.Scopes(ctx, "u1")
	sort.Strings(scopes)
	if !slices.Equal(scopes, []string{"audit", "contact"}) {
		t.Errorf("u1 holds %v after a repeated grant", scopes)
	}
	if err := s.Grant(ctx, "u3", ""); err == nil {
		t.Error("an empty scope was granted")
	}
	held, err := s.Revoke(ctx, "u2", "perm")
	if err != nil || !held {
		t.Fatalf("revoke held scope: %v, %v", held, err)
	}
	if held, _ := s.Revoke(ctx, "u2", "perm"); held {
		t.Error("revoking twice reports the scope held")
	}
	holders, _ := s.Holders(ctx)
	if !slices.Equal(holders, []string{"u1"}) {
		t.Errorf("holders %v, want [u1]: a user's last revoke removes them", holders)
	}
}

// A pending action is taken once, and only by whoever was given its code.
func TestPendingActionsAreSingleUse(t *testing.T) {
	s, rd := newStore(t, redisstore.Options{})
	ctx := t.Context()
	p := commands.Pending{Action: "delete", ContactID: "10211", Name: "Gone"}
	if ok, err := s.Propose(ctx, "u1", "K7P2QX", p, 5*time.Minute); err != nil || !ok {
		t.Fatalf("propose: %v, %v", ok, err)
	}
	if ok, _ := s.Propose(ctx, "u1", "K7P2QX", p, 5*time.Minute); ok {
		t.Error("a taken code was handed out again")
	}
	if d := rd.Client.TTL(ctx, rd.Prefix+"confirm:u1:K7P2QX").Val(); d <= 4*time.Minute || d > 5*time.Minute {
		t.Errorf("a code lives %s, want 5 minutes", d)
	}
	if _, ok, _ := s.Take(ctx, "u2", "K7P2QX"); ok {
		t.Error("another user took the action")
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		taken []commands.Pending
	)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, ok, err := s.Take(context.Background(), "u1", "K7P2QX"); err == nil && ok {
				mu.Lock()
				taken = append(taken, got)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(taken) != 1 || !reflect.DeepEqual(taken[0], p) {
		t.Errorf("five concurrent confirms took %+v, want the action once", taken)
	}
}

func TestAuditRecent(t *testing.T) {
	s, _ := newStore(t, redisstore.Options{AuditMaxLen: 1000})
	ctx := t.Context()
	at := time.UnixMilli(1_700_000_000_000)
	for i, u := range []string{"a", "b", "a", "c"} {
		e := commands.AuditEntry{Time: at.Add(time.Duration(i) * time.Second), MsgID: "m" + string(rune('0'+i)), SenderID: u, SenderNick: "Nick " + u,
			ConversationID: "cid", Command: "contact add", Args: "name=X", Outcome: "ok", RequestID: "rid", ContactID: "10211", RequestRef: "ref"}
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Recent(ctx, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].MsgID != "m3" || all[2].MsgID != "m1" {
		t.Fatalf("newest three: %+v", all)
	}
	want := commands.AuditEntry{Time: at.Add(3 * time.Second), MsgID: "m3", SenderID: "c", SenderNick: "Nick c", ConversationID: "cid",
		Command: "contact add", Args: "name=X", Outcome: "ok", RequestID: "rid", ContactID: "10211", RequestRef: "ref"}
	if !all[0].Time.Equal(want.Time) {
		t.Errorf("time %v, want %v", all[0].Time, want.Time)
	}
	all[0].Time = want.Time
	if !reflect.DeepEqual(all[0], want) {
		t.Errorf("entry read back as %+v, want %+v", all[0], want)
	}
	mine, _ := s.Recent(ctx, 10, "a")
	// What a group change touched comes back, and finds the contact's
	// history.
	g := commands.AuditEntry{Time: at.Add(9 * time.Second), MsgID: "g1", SenderID: "a", Command: "group add", Args: "701 10211 10212",
		Outcome: "ok", GroupID: "701", Contacts: []string{"10211", "10212"}}
	if err := s.Audit(ctx, g); err != nil {
		t.Fatal(err)
	}
	touching, err := s.Touching(ctx, "10212", 10)
	if err != nil || len(touching) != 1 || touching[0].GroupID != "701" || !reflect.DeepEqual(touching[0].Contacts, g.Contacts) {
		t.Errorf("entries touching 10212: %+v, %v", touching, err)
	}
	if touching, _ := s.Touching(ctx, "10211", 10); len(touching) != 5 {
		t.Errorf("%d entries touch 10211, want the four adds and the group change", len(touching))
	}
	if len(mine) != 2 || mine[0].MsgID != "m2" || mine[1].MsgID != "m0" {
		t.Errorf("a's entries: %+v", mine)
	}
}

// A flood of huge nicknames, ids and arguments cannot grow the audit
// stream beyond its MAXLEN times a small bound.
func TestAuditEntriesAreBounded(t *testing.T) {
	s, r := newStore(t, redisstore.Options{AuditMaxLen: 100})
	ctx := t.Context()
	huge := strings.Repeat("张", 20000) // 60 KB
	for i := range 300 {
		e := commands.AuditEntry{Time: time.Now(), MsgID: huge + strconv.Itoa(i), SenderID: huge, SenderNick: huge, ConversationID: huge,
			Command: huge, Args: huge, Outcome: huge, RequestID: huge, ContactID: huge, RequestRef: huge}
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := s.Recent(ctx, 50, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n := len(e.MsgID) + len(e.SenderID) + len(e.SenderNick) + len(e.ConversationID) + len(e.Command) + len(e.Args) +
			len(e.Outcome) + len(e.RequestID) + len(e.ContactID) + len(e.RequestRef)
		if n > redisstore.MaxAuditEntryBytes || !utf8.ValidString(e.SenderNick) || !strings.HasSuffix(e.SenderNick, "…") {
			t.Fatalf("an entry holds %d bytes (bound %d), nick %q…", n, redisstore.MaxAuditEntryBytes, e.SenderNick[:12])
		}
	}
	// XADD's approximate trimming keeps somewhat more than MAXLEN.
	if n := r.Client.XLen(ctx, r.Prefix+"audit").Val(); n > 200 {
		t.Errorf("the stream holds %d entries at MAXLEN 100", n)
	}
}

// Every failure of Redis is ErrUnavailable, so the sender hears "try later"
// and ARMS is not called.
func TestAnOutageIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + ln.Addr().String() + "/0"
	ln.Close()
	s, err := redisstore.Open(t.Context(), dead, redisstore.Options{Prefix: "x:", ClaimTTL: claimTTL, RatePerMin: 5}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Each call waits out go-redis's redialling; they run at once.
	ctx := t.Context()
	l := redisstore.NewLedger(s, redisstore.LedgerOptions{Process: "p1", Lease: time.Second, WriteWindow: time.Second})
	calls := map[string]func() error{
		"admit":  func() error { _, err := l.Admit(ctx, "m", "u", "u", []byte("{}")); return err },
		"renew":  func() error { return l.Renew(ctx) },
		"sweep":  func() error { _, err := l.Sweep(ctx); return err },
		"scopes": func() error { _, err := s.Scopes(ctx, "u"); return err },
		"take":   func() error { _, _, err := s.Take(ctx, "u", "C"); return err },
		"audit":  func() error { return s.Audit(ctx, commands.AuditEntry{}) },
		"grant":  func() error { return s.Grant(ctx, "u", "contact") },
		"ping":   func() error { return s.Ping(ctx) },
	}
	var wg sync.WaitGroup
	for name, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := call(); !errors.Is(err, commands.ErrUnavailable) {
				t.Errorf("%s during an outage: %v, want ErrUnavailable", name, err)
			}
		}()
	}
	wg.Wait()
}

// Observers see every round trip; "no such key" is an answer, not an error.
// (Connection set-up commands are round trips too, and are seen as well.)
func TestObserveRoundTrips(t *testing.T) {
	s, r := newStore(t, redisstore.Options{})
	ctx := t.Context()
	seen := map[string][]error{}
	s.Observe(func(op string, err error) { seen[op] = append(seen[op], err) })
	if _, ok, err := s.Take(ctx, "nobody", "CODE"); err != nil || ok {
		t.Fatalf("take of a missing code: %v, %v", ok, err)
	}
	if err := s.Audit(ctx, commands.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	if got := seen["getdel"]; len(got) != 1 || got[0] != nil {
		t.Errorf("getdel of a missing key observed as %v, want one round trip without error", got)
	}
	if got := seen["xadd"]; len(got) != 1 || got[0] != nil {
		t.Errorf("the audit append was observed as %v, want one round trip", got)
	}
	// After Redis lost its scripts (a restart), EVALSHA answers NOSCRIPT and
	// the script is sent again: an answer, not an error.
	if err := s.Grant(ctx, "u", "perm"); err != nil {
		t.Fatal(err)
	}
	if err := r.Client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, "u", "perm"); err != nil {
		t.Fatal(err)
	}
	if len(seen["evalsha"]) == 0 {
		t.Fatal("the revoke did not go through EVALSHA; the test no longer tests NOSCRIPT")
	}
	for op, errs := range seen {
		for _, err := range errs {
			if err != nil {
				t.Errorf("%s observed as failing: %v", op, err)
			}
		}
	}
}

// Without REDIS_URL the store runs on an embedded server.
func TestOpenEmbedded(t *testing.T) {
	var logs strings.Builder // Open logs before it returns
	s, err := redisstore.Open(t.Context(), "", redisstore.Options{Prefix: "e:", ClaimTTL: claimTTL}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Grant(t.Context(), "u", "contact"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Scopes(t.Context(), "u"); !slices.Equal(got, []string{"contact"}) {
		t.Errorf("scopes %v", got)
	}
	s.Close()
	if err := s.Ping(t.Context()); err == nil {
		t.Error("the embedded server still answers after Close")
	}
	if !strings.Contains(logs.String(), "REDIS_URL is not set") {
		t.Errorf("no warning about the embedded store:\n%s", logs.String())
	}
}

// Whose contact a contact is survives in Redis; due reminders go to one
// taker once a period, and stop when forgotten.
func TestOwnersAndReminders(t *testing.T) {
	s, _ := newStore(t, redisstore.Options{})
	ctx := t.Context()
	if o, err := s.Owner(ctx, "101"); err != nil || o != "" {
		t.Fatalf("owner of an unknown contact: %q, %v", o, err)
	}
	if err := s.SetOwner(ctx, "101", "zs-1"); err != nil {
		t.Fatal(err)
	}
	if o, _ := s.Owner(ctx, "101"); o != "zs-1" {
		t.Errorf("owner %q", o)
	}

	now := time.Now()
	if err := s.Remind(ctx, "101", []byte("msg-101"), now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Remind(ctx, "102", []byte("msg-102"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.DueReminders(ctx, now, time.Minute, 10); len(due) != 0 {
		t.Errorf("due before their time: %+v", due)
	}
	// Two replicas ask at once: one gets it.
	var got [][]redisstore.Reminder
	for range 2 {
		due, err := s.DueReminders(ctx, now.Add(2*time.Second), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, due)
	}
	if len(got[0]) != 1 || got[0][0].ContactID != "101" || string(got[0][0].Message) != "msg-101" || len(got[1]) != 0 {
		t.Fatalf("due %+v", got)
	}
	// A period later it is due again, until forgotten.
	if due, _ := s.DueReminders(ctx, now.Add(2*time.Second+time.Minute), time.Minute, 10); len(due) != 1 {
		t.Errorf("a period later: %+v", due)
	}
	if err := s.ForgetReminder(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.DueReminders(ctx, now.Add(2*time.Hour), time.Minute, 10); len(due) != 1 || due[0].ContactID != "102" {
		t.Errorf("after forgetting 101: %+v", due)
	}
}
