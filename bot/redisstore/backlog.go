package redisstore

// The backlog: messages claimed by some replica and waiting for a command
// worker beyond its in-memory queue, counted across replicas so that the
// wait has a bound however many replicas share it.

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

func (l *Ledger) backlogKey() string { return l.s.key("backlog") }

// enterBacklogScript drops entries older than ARGV[3] ms (their process
// died, or forgot them), then adds ARGV[1] unless ARGV[2] wait already.
var enterBacklogScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - tonumber(ARGV[3])))
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[1])
return 1
`)

// EnterBacklog counts message id among the waiting, unless limit wait
// already: it reports whether id may wait. Entries older than stale are
// not counted (a message waits at most that long; an older entry is one
// its process could not take off).
func (l *Ledger) EnterBacklog(ctx context.Context, id string, limit int, stale time.Duration) (bool, error) {
	n, err := enterBacklogScript.Eval(ctx, l.s.rdb, []string{l.backlogKey()}, id, limit, stale.Milliseconds()).Int()
	if err != nil {
		return false, unavailable("enter backlog", err)
	}
	return n == 1, nil
}

// LeaveBacklog takes message id off the waiting.
func (l *Ledger) LeaveBacklog(ctx context.Context, id string) error {
	if err := l.s.rdb.ZRem(ctx, l.backlogKey(), id).Err(); err != nil {
		return unavailable("leave backlog", err)
	}
	return nil
}

// Backlogged counts the messages waiting across replicas.
func (l *Ledger) Backlogged(ctx context.Context) (int64, error) {
	n, err := l.s.rdb.ZCard(ctx, l.backlogKey()).Result()
	if err != nil {
		return 0, unavailable("count backlog", err)
	}
	return n, nil
}
