package bot

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// tripCounter counts what the client sends: one command or one pipeline is
// one round trip.
type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

// The design keeps a handled /contact add at four Redis round trips: the
// claim script, the rate limit, the sender's scopes, and one pipeline that
// settles the claim and appends the audit entry.
func TestRedisRoundTripsPerAdd(t *testing.T) {
	a, handler := testApp(t, nil)
	trips := &tripCounter{}
	a.rdb.AddHook(trips)
	if err := a.store.Grant(t.Context(), "member-1", "contact.add"); err != nil {
		t.Fatal(err)
	}
	post := func(id, text string) {
		t.Helper()
		if _, body := serveSigned(handler, id, "member-1", text); !strings.Contains(body, "ContactId") {
			t.Fatalf("no ContactId in %s", body)
		}
	}
	post("warm-up", "/contact add name=Warm email=warm@example.com") // loads the scripts
	before := trips.n.Load()
	post("counted", "/contact add name=RT email=rt@example.com")
	if got := trips.n.Load() - before; got != 4 {
		t.Errorf("a /contact add took %d Redis round trips, want 4", got)
	}
}
