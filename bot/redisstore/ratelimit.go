package redisstore

// The per-sender rate limit, counted in the same round trip as a
// message's claim.

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RateDecision is the outcome of a rate-limit check.
type RateDecision struct {
	Allowed    bool
	RetryAfter time.Duration
	// Notify is true for the first refusal in a window: the user is told
	// once when to retry, not once per message.
	Notify bool
}

// rateScript is GCRA: a sender may send limit commands in a burst and then
// one every minute/limit. It counts each message once however many times
// it is delivered (it remembers the sender's latest message ids), so that
// DingTalk's re-deliveries cost the sender nothing. It is this package's
// own so that it rides in the same round trip as the claim (redis_rate
// cannot be pipelined). It returns {1, 0} when allowed, else {0,
// milliseconds until allowed}.
var rateScript = redis.NewScript(`
local ids = redis.call('HGET', KEYS[1], 'ids') or ''
if string.find(' ' .. ids .. ' ', ' ' .. ARGV[2] .. ' ', 1, true) then return {1, 0} end
local interval = 60000 / tonumber(ARGV[1])
local burst = interval * tonumber(ARGV[1])
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or now)
if tat < now then tat = now end
local next = tat + interval
if now < next - burst then return {0, math.ceil(next - burst - now)} end
ids = ARGV[2] .. ' ' .. ids
-- Keep the latest 16 ids: cut at the 16th space (a walk over every
-- character made this script cost Redis 20 µs per message).
local at = 0
for _ = 1, 16 do
  at = string.find(ids, ' ', at + 1, true)
  if not at then break end
end
if at then ids = string.sub(ids, 1, at - 1) end
redis.call('HSET', KEYS[1], 'tat', string.format('%.3f', next), 'ids', ids)
redis.call('PEXPIRE', KEYS[1], math.max(math.ceil(next - now), 600000))
return {1, 0}
`)

// rateDecision reads the rate script's answer; a refusal is told to the
// sender once per window.
func (l *Ledger) rateDecision(ctx context.Context, sender string, cmd *redis.Cmd) (RateDecision, error) {
	v, err := cmd.Int64Slice()
	if err != nil || len(v) != 2 {
		return RateDecision{}, unavailable("rate limit", fmt.Errorf("unexpected answer %v: %w", v, err))
	}
	if v[0] == 1 {
		return RateDecision{Allowed: true}, nil
	}
	d := RateDecision{RetryAfter: time.Duration(v[1]) * time.Millisecond}
	d.Notify, err = l.s.rdb.SetNX(ctx, l.s.key("ratenote", sender), 1, max(d.RetryAfter, time.Second)).Result()
	if err != nil {
		return RateDecision{}, unavailable("rate limit", err)
	}
	return d, nil
}
