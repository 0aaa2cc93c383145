package redisstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands"
)

// A request is kept once under its code until it expires, and is decided
// by one message only, however many replicas try at once; the deciding
// message (delivered again, or taken over) finds it decided by itself.
func TestApprovalsAreDecidedOnce(t *testing.T) {
	s, rd := newStore(t, redisstore.Options{})
	ctx := context.Background()
	a := commands.Approval{Code: "K7P2QX", Command: "group delete", Requester: "member", Scopes: []string{"group.write"},
		Pending: &commands.Pending{Action: "group delete", GroupID: "701", Name: "Ops"}, Expires: time.Now().Add(30 * time.Minute)}
	if ok, err := s.Request(ctx, a); !ok || err != nil {
		t.Fatalf("request: %v %v", ok, err)
	}
	if ok, _ := s.Request(ctx, commands.Approval{Code: "K7P2QX", Expires: a.Expires}); ok {
		t.Error("a second request under the same code was kept")
	}
	if ttl := rd.Client.PTTL(ctx, rd.Prefix+"approval:K7P2QX").Val(); ttl < 29*time.Minute || ttl > 30*time.Minute {
		t.Errorf("kept for %v, want until it expires", ttl)
	}
	got, by, ok, err := s.Approval(ctx, "K7P2QX")
	if !ok || err != nil || by != "" || got.Requester != "member" || got.Pending == nil || got.Pending.GroupID != "701" {
		t.Fatalf("read back: %+v %q %v %v", got, by, ok, err)
	}

	states := make([]commands.ApprovalState, 8)
	var wg sync.WaitGroup
	for i := range states {
		wg.Go(func() {
			_, states[i], _ = s.Decide(ctx, "K7P2QX", "msg-"+string(rune('a'+i)))
		})
	}
	wg.Wait()
	taken, winner := 0, ""
	for i, st := range states {
		if st == commands.ApprovalTaken {
			taken++
			winner = "msg-" + string(rune('a'+i))
		}
	}
	if taken != 1 {
		t.Fatalf("decided by %d messages: %v", taken, states)
	}
	if _, st, _ := s.Decide(ctx, "K7P2QX", winner); st != commands.ApprovalTaken {
		t.Errorf("the deciding message again: %v", st)
	}
	if _, by, _, _ := s.Approval(ctx, "K7P2QX"); by != winner {
		t.Errorf("decided by %q, want %q", by, winner)
	}
	if _, st, _ := s.Decide(ctx, "NOSUCH", "m"); st != commands.ApprovalNotFound {
		t.Errorf("an unknown code: %v", st)
	}
	// One that expired is gone.
	if ok, _ := s.Request(ctx, commands.Approval{Code: "OLD234", Expires: time.Now().Add(-time.Second)}); ok {
		if _, _, ok, _ := s.Approval(ctx, "OLD234"); ok {
			t.Error("an expired request is still there")
		}
	}
}
