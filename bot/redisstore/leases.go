package redisstore

// Leases: each process renews its own, for all its messages at once; the
// sweep takes over the messages of processes whose lease lapsed, and a
// draining process hands its messages over.

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// mayJudge reports whether a process without a lease may be taken for
// dead: whether this process has renewed its own for a whole lease.
func (l *Ledger) mayJudge() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.healthy.IsZero() && l.opt.Now().Sub(l.healthy) >= l.opt.Lease
}

// forgetScript removes a record this process may have made without
// knowing, when nothing has happened to it since.
var forgetScript = redis.NewScript(luaHeader + `
local ok, v = pcall(redis.call, 'GET', KEYS[1])
if not ok then return 0 end
local h = header(v)
if h and h.o == ARGV[1] and h.t == '1' and h.s == 'a' then redis.call('DEL', KEYS[1]) return 1 end
return 0
`)

// maxUnindexed bounds the settled messages waiting to leave the in-flight
// index while renewals fail; beyond it the sweep takes them off, as it
// does those of a process that died.
const maxUnindexed = 100000

// unindexBite is how many settled messages one ZREM takes off the index.
const unindexBite = 256

// Renew keeps this process's lease, and with it its messages and their
// locks, for another Lease: one round trip however many it holds. It also
// puts back any of its messages missing from the index sweepers read, and
// forgets the records of admissions that failed on the way back.
func (l *Ledger) Renew(ctx context.Context) error {
	claims := l.claims()
	l.mu.Lock()
	var doubtful []string
	for id := range l.doubtful {
		if l.owned[id] == nil {
			doubtful = append(doubtful, id)
		}
	}
	clear(l.doubtful)
	unindexed := make([]any, len(l.unindexed))
	for i, id := range l.unindexed {
		unindexed[i] = id
	}
	l.unindexed = nil
	l.mu.Unlock()
	var epoch *redis.StringCmd
	_, err := l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, l.procKey(l.opt.Process), 1, l.opt.Lease)
		epoch = p.Get(ctx, l.epochKey())
		now := float64(time.Now().UnixMilli())
		for _, c := range claims {
			p.ZAddNX(ctx, l.inflightKey(), redis.Z{Score: now, Member: c.id})
			for _, k := range c.heldLocks() {
				renewLockScript.Eval(ctx, p, []string{k}, c.lockValue(), l.opt.Lease.Milliseconds())
			}
		}
		for _, id := range doubtful {
			forgetScript.Eval(ctx, p, []string{l.recordKey(id)}, l.proc)
		}
		// In bites: Redis runs a command whole, and one ZREM of the
		// thousands a busy process settles between renewals held every
		// other client for 18 ms on the CI machine.
		for ids := range slices.Chunk(unindexed, unindexBite) {
			p.ZRem(ctx, l.inflightKey(), ids...)
		}
		return nil
	})
	if failure(err) == nil {
		l.observeEpoch(ctx, epoch)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := failure(err); err != nil {
		for _, id := range doubtful {
			l.doubtful[id] = true
		}
		for _, id := range unindexed {
			if len(l.unindexed) < maxUnindexed {
				l.unindexed = append(l.unindexed, id.(string))
			}
		}
		l.healthy = time.Time{}
		return unavailable("renew lease", err)
	}
	if l.healthy.IsZero() {
		l.healthy = l.opt.Now()
	}
	return nil
}

// failure is err when Redis could not be reached; an error Redis answered
// for one command of a pipeline (a key of another type, say) is that
// command's, and the pipeline's other answers stand.
func failure(err error) error {
	if err == nil {
		return nil // before re, which escapes
	}
	var re redis.Error
	if errors.Is(err, redis.Nil) || errors.As(err, &re) {
		return nil
	}
	return err
}

// renewLockScript keeps a lock this message holds for another lease, never
// shortening one extended to outlive a write in flight.
var renewLockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`)

// sweepBatch bounds how many records one sweep looks at.
const sweepBatch = 500

// Sweep takes over the messages whose owner died or handed them over, so
// that they are finished even when DingTalk never delivers them again.
func (l *Ledger) Sweep(ctx context.Context) ([]*Claim, error) {
	ids, err := l.s.rdb.ZRange(ctx, l.inflightKey(), 0, sweepBatch-1).Result()
	if err != nil {
		return nil, unavailable("sweep", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	records := make([]*redis.StringCmd, len(ids))
	if _, err := l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			records[i] = p.Get(ctx, l.recordKey(id))
		}
		return nil
	}); failure(err) != nil {
		return nil, unavailable("sweep", err)
	}
	type candidate struct{ id, owner, token string }
	var (
		finished []any
		orphans  []candidate
		owners   = map[string][]candidate{}
	)
	marker := l.marker()
	for i, id := range ids {
		if strings.HasPrefix(id, markerPrefix) {
			if id != marker && !l.knowsNoEpoch() {
				finished = append(finished, id) // an epoch's before a loss
			}
			continue
		}
		state, owner, token, err := l.sweepRead(ctx, id, records[i])
		if err != nil {
			return nil, err
		}
		switch {
		case state == "" || state == stateDelivered || state == stateUndelivered:
			finished = append(finished, id)
		case owner == l.opt.Process:
		case owner == "":
			orphans = append(orphans, candidate{id, owner, token})
		default:
			owners[owner] = append(owners[owner], candidate{id, owner, token})
		}
	}
	if len(owners) > 0 && l.mayJudge() {
		alive := map[string]*redis.IntCmd{}
		if _, err := l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for o := range owners {
				alive[o] = p.Exists(ctx, l.procKey(o))
			}
			return nil
		}); err != nil {
			return nil, unavailable("sweep", err)
		}
		for o, cs := range owners {
			if alive[o].Val() == 0 {
				orphans = append(orphans, cs...)
			}
		}
	}
	if len(finished) > 0 {
		if err := l.s.rdb.ZRem(ctx, l.inflightKey(), finished...).Err(); err != nil {
			return nil, unavailable("sweep", err)
		}
	}
	var taken []*Claim
	for _, o := range orphans {
		c, verdict, err := l.takeOver(ctx, o.id, o.owner, o.token)
		if err != nil {
			return taken, err
		}
		if verdict == Resume {
			taken = append(taken, c)
		}
	}
	return taken, nil
}

// sweepRead is the state, owner and token of a record as the sweep read
// it: "" for a record gone or not one a sweep finishes (an older
// version's running message).
func (l *Ledger) sweepRead(ctx context.Context, id string, got *redis.StringCmd) (state, owner, token string, err error) {
	v, err := got.Result()
	var re redis.Error
	switch {
	case errors.Is(err, redis.Nil):
		return "", "", "", nil
	case errors.As(err, &re):
		// The version before this one's record, a hash, while both run.
		f, err := l.s.rdb.HMGet(ctx, l.recordKey(id), "s", "o", "t").Result()
		if err != nil || len(f) != 3 {
			return "", "", "", nil
		}
		state, _ = f[0].(string)
		owner, _ = f[1].(string)
		token, _ = f[2].(string)
		return state, owner, token, nil
	case err != nil:
		return "", "", "", unavailable("sweep", err)
	case v == recDelivered:
		return stateDelivered, "", "", nil
	case strings.HasPrefix(v, recCarry):
		return stateUndelivered, "", "", nil
	}
	r, derr := decodeRecord(v)
	if derr != nil {
		return "", "", "", nil
	}
	return r.state, r.owner, strconv.FormatInt(r.token, 10), nil
}

// HandOver gives up this process's unfinished messages, keeping what they
// intended and any reply, so that another process's sweep or a re-delivery
// finishes them at once, and ends the process's lease. It is the last
// thing a draining process does.
func (l *Ledger) HandOver(ctx context.Context) (int, error) {
	claims := l.claims()
	_, err := l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range claims {
			swapScript.Eval(ctx, p, []string{l.recordKey(c.id)}, l.proc, c.token, c.handedOver().encode())
		}
		p.Del(ctx, l.procKey(l.opt.Process))
		return nil
	})
	for _, c := range claims {
		l.drop(c)
	}
	if err := failure(err); err != nil {
		return 0, unavailable("hand over", err)
	}
	return len(claims), nil
}

// Forgo records that message id was answered, and never run, while Redis
// could not be reached ("please try again"): a delivery of it once Redis is
// back is a duplicate, so that it does not run beside the sender's retry.
// A record another process made meanwhile stands.
func (l *Ledger) Forgo(ctx context.Context, id string) error {
	if err := l.s.rdb.SetNX(ctx, l.recordKey(id), recDelivered, l.s.opt.ClaimTTL).Err(); err != nil {
		return unavailable("forgo", err)
	}
	return nil
}

// knowsNoEpoch reports whether this process has not read the epoch yet.
func (l *Ledger) knowsNoEpoch() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch == ""
}

// settled lets go of a claim whose message is finished: it leaves the
// in-flight index with the next renewal.
func (l *Ledger) settled(c *Claim) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.owned[c.id] == c {
		delete(l.owned, c.id)
	}
	if len(l.unindexed) < maxUnindexed {
		l.unindexed = append(l.unindexed, c.id)
	}
}
