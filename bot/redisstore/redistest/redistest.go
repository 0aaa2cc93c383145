// Package redistest gives tests a Redis: the server named by REDIS_URL when
// it is set (CI runs a real redis-server), else an in-process miniredis, so
// that `go test ./...` passes on a machine with only Go.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/redis/go-redis/v9"
)

// Redis is one test's view of a Redis server.
type Redis struct {
	URL    string
	Prefix string // unique per test: tests sharing a real server never collide
	Client *redis.Client
	Mini   *miniredis.Miniredis // nil against a real server
}

// New returns a Redis for t and removes the test's keys when it ends.
func New(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{Prefix: "armsbot-test:" + randomHex(6) + ":"}
	if u := os.Getenv("REDIS_URL"); u != "" {
		r.URL = u
	} else {
		r.Mini = miniredis.RunT(t)
		t.Cleanup(redisstore.KeepRealTime(r.Mini))
		r.URL = "redis://" + r.Mini.Addr()
	}
	opts, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	r.Client = redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Client.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s does not answer: %v", r.URL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := r.Client.Scan(ctx, 0, r.Prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			r.Client.Del(ctx, iter.Val())
		}
		_ = r.Client.Close()
	})
	return r
}

// Real reports whether the tests run against a real Redis server.
func (r *Redis) Real() bool { return r.Mini == nil }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
