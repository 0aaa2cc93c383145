package redisstore

// The start marker, by which a process finds out that Redis lost its data
// while it ran.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func (l *Ledger) epochKey() string { return l.s.key("epoch") }

// The in-flight index holds a marker, a member that is never a message's:
// the prefix and the epoch this process knows. Every admission on a single
// Redis adds its process's marker (NX) with its message, in the same
// command, and finding it missing is the sign that Redis lost its data (or
// that the epoch changed, or this is the process's first message): the
// admission reads the epoch then. Each process notices so at its first
// admission after a loss, whichever process re-made the index. A renewal
// reads the epoch as well. The sweep passes the current marker by and
// removes old ones.
const markerPrefix = "\x00epoch:"

// marker is this process's marker in the in-flight index.
func (l *Ledger) marker() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return markerPrefix + l.epoch
}

// epochScript returns the epoch, writing ARGV[1] first when there is none.
// With ARGV[2] (the value a process knows) and ARGV[3] (when it found the
// data lost, in ms), it also publishes that time, unless a later one is
// there already.
var epochScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
if ARGV[2] then
  local rnd, ms = string.match(v, '^([^|]*)|?(%d*)$')
  if rnd == ARGV[2] and (ms == '' or tonumber(ms) < tonumber(ARGV[3])) then
    v = rnd .. '|' .. ARGV[3]
    redis.call('SET', KEYS[1], v)
  end
end
return v
`)

// splitEpoch parses the epoch key's value.
func splitEpoch(v string) (value string, lost time.Time) {
	value, ms, ok := strings.Cut(v, "|")
	if n, err := strconv.ParseInt(ms, 10, 64); ok && err == nil && n > 0 {
		lost = time.UnixMilli(n)
	}
	return value, lost
}

// observeEpoch compares the epoch key's value, as a pipeline read it, with
// the one this process knows. The first time, it learns it (writing one
// when there is none). Afterwards a missing or different value means Redis
// lost its data since: that is logged once, as an ERROR, reported by
// DataLost until the process ends, and published in the key for the other
// processes, and those started later.
func (l *Ledger) observeEpoch(ctx context.Context, got *redis.StringCmd) {
	raw, err := got.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return // unknown: the next read decides
	}
	if raw == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		if raw, err = epochScript.Eval(ctx, l.s.rdb, []string{l.epochKey()}, hex.EncodeToString(b)).Text(); err != nil {
			return
		}
	}
	v, lost := splitEpoch(raw)
	l.mu.Lock()
	if lost.After(l.lostSince) {
		l.lostSince = lost // another process found the loss
	}
	switch {
	case l.epoch == "":
		l.epoch = v
		l.mu.Unlock()
		return
	case l.epoch == v:
		l.mu.Unlock()
		return
	}
	l.epoch = v
	first := l.lostAt.IsZero()
	if first {
		l.lostAt = l.opt.Now()
		if l.lostAt.After(l.lostSince) {
			l.lostSince = l.lostAt
		}
	}
	at := l.lostAt
	l.mu.Unlock()
	_ = epochScript.Eval(ctx, l.s.rdb, []string{l.epochKey()}, v, v, at.UnixMilli()).Err()
	if first {
		l.opt.Log.Error("Redis lost its data: the start marker this process wrote is gone. Messages handled before now may run again when DingTalk re-delivers them (creates are checked against ARMS), unfinished ones of other processes are not finished, and every /perm grant is gone (BOT_ADMINS remain). Give Redis persistence (appendonly yes) and restart the bot; /readyz reports this until then.",
			"epoch_key", l.epochKey())
	}
}

// DataLost reports whether, and since when, this process knows that Redis
// lost its data while it ran.
func (l *Ledger) DataLost() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostAt, !l.lostAt.IsZero()
}

// checkEpoch reads the epoch now: when a record this process owns has
// vanished, whether Redis lost everything decides what is logged.
func (l *Ledger) checkEpoch(ctx context.Context) {
	l.observeEpoch(ctx, l.s.rdb.Get(ctx, l.epochKey()))
}
