package redisstore

// The per-sender rate limit, counted in the admission's script (luaGCRA).

import (
	"context"
	"time"
)

// RateDecision is the outcome of a rate-limit check.
type RateDecision struct {
	Allowed    bool
	RetryAfter time.Duration
	// Notify is true for the first refusal in a window: the user is told
	// once when to retry, not once per message.
	Notify bool
}

// rateRefusal is the decision for a message over the limit, allowed in
// retryAfter: the sender is told once per window.
func (l *Ledger) rateRefusal(ctx context.Context, sender string, retryAfter time.Duration) (RateDecision, error) {
	d := RateDecision{RetryAfter: retryAfter}
	var err error
	d.Notify, err = l.s.rdb.SetNX(ctx, l.s.key("ratenote", sender), 1, max(d.RetryAfter, time.Second)).Result()
	if err != nil {
		return RateDecision{}, unavailable("rate limit", err)
	}
	return d, nil
}
