package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/armsbot/armsbot/commands"
)

// The ledger owns a message's record from its admission to the delivery of
// its reply, across processes that die, drain or restart.
//
// A record (the hash msg:<id>) names its owner, a process, and a fencing
// token. Ownership is a lease: the owner's process key proc:<pid> lives
// while the process renews it, once per tick for all its messages, so a
// queued or slow command never loses its claim and a dead process's
// messages are free again within the lease. Every change a process makes to
// a record checks owner and token, so a process that lost a message can
// never settle over its new owner. Before an ARMS write the record keeps
// the intent, so whoever takes a message over can find out what happened
// instead of doing it twice; until delivered it keeps the message and then
// the reply, so a new owner can finish it. Every script but one touches one
// key, so all of this works on Redis Cluster; the one (an add's locks and
// intent in one step) runs only on a single Redis. Scripts are sent whole (EVAL):
// inside a pipeline go-redis cannot fall back from EVALSHA when Redis has
// restarted and forgotten them.

// Record states.
const (
	stateActive      = "active"      // admitted and running, or waiting for a worker
	stateDone        = "done"        // the reply is ready; the owner is delivering it
	stateDelivered   = "delivered"   // the reply went out
	stateUndelivered = "undelivered" // no channel took the reply; a re-delivery carries it
)

// LedgerOptions are the ledger's settings.
type LedgerOptions struct {
	// Process identifies this process; it must be new at every start.
	Process string
	// Lease is how long ownership outlives the process's last renewal.
	Lease time.Duration
	// WriteWindow is how long an ARMS write may take after its intent was
	// recorded: the ARMS call timeout. The write is sent within it or not
	// at all.
	WriteWindow time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log gets the ledger's own news: Redis lost its data, a record
	// vanished. Discarded when nil.
	Log *slog.Logger
}

// Ledger owns message records. It is safe for concurrent use.
type Ledger struct {
	s   *Store
	opt LedgerOptions
	// proc and claimTTL are arguments of most scripts, boxed once: go-redis
	// takes arguments as []any, and boxing one costs an allocation per use.
	proc, claimTTL any

	mu    sync.Mutex
	owned map[string]*Claim // claims this process holds, for renewal and hand-over
	// doubtful are messages whose admission failed after it may have
	// reached Redis: their record may name this process. Renew forgets
	// them unless a delivery has taken them up again.
	doubtful map[string]bool
	// admitting counts admissions in flight per message: a record naming
	// this process may be one of them, not a lost one.
	admitting map[string]int
	// healthy is when this process's renewals last began to succeed; zero
	// while they fail. After an outage of Redis every lease has lapsed,
	// the living's too: nobody is judged dead until this process has
	// renewed for a whole lease, and so, in that time, has every process
	// that lives and reaches Redis.
	healthy time.Time
	// epoch is the value of the epoch key this process found or wrote when
	// it first reached Redis; lostAt is when it found the key gone or
	// changed: Redis lost its data (a restart without persistence, a
	// failover to a replica that had not caught up, a FLUSHALL).
	epoch  string
	lostAt time.Time
	// lostSince is the latest loss any process found (lostAt, or one
	// published in the epoch key): messages sent before it may have run.
	lostSince time.Time
}

// NewLedger keeps records in s on behalf of the process opt.Process.
func NewLedger(s *Store, opt LedgerOptions) *Ledger {
	if opt.Lease <= 0 {
		opt.Lease = 15 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Ledger{s: s, opt: opt, proc: opt.Process, claimTTL: s.opt.ClaimTTL.Milliseconds(), owned: map[string]*Claim{}, doubtful: map[string]bool{}, admitting: map[string]int{}}
}

func (l *Ledger) recordKey(id string) string { return l.s.key("msg", id) }
func (l *Ledger) procKey(pid string) string  { return l.s.key("proc", pid) }
func (l *Ledger) inflightKey() string        { return l.s.key("inflight") }

// The epoch key holds a random value the first process writes, then, once
// a process has found Redis's data lost, "<value>|<when, in ms>": so that a
// process that starts after the loss learns when it was, and treats the
// messages sent before then as ones that may have run.

// Verdict is what a delivery of a message may do.
type Verdict int

const (
	// Run: the message is new; this process owns it.
	Run Verdict = iota
	// Resume: its owner died or handed it over; this process owns it now
	// and finishes it (Claim.Prior tells what may have been written,
	// Claim.Reply the reply when it was ready).
	Resume
	// Busy: a live process is on it.
	Busy
	// Delivered: its reply went out.
	Delivered
	// Carry: its reply could not be delivered before; this delivery
	// carries it (Admission.Reply), and only this one.
	Carry
)

// Admission is the outcome of admitting one delivery.
type Admission struct {
	Verdict Verdict
	Claim   *Claim       // Run and Resume
	Reply   []byte       // Carry
	Rate    RateDecision // Run: whether the sender is within the rate limit
	// Scopes are the sender's permission scopes (Run), read in the same
	// round trip as the claim.
	Scopes []string
	// DataLost, when not zero, is when this process, or another, found
	// that Redis had lost its data: a message sent before then and admitted
	// as new may have run already, its record lost.
	DataLost time.Time
}

// admitScript claims a message. On a single Redis it also adds the message
// to the in-flight index (KEYS[2]); on a Cluster that key lives in another
// slot and Admit sends a command of its own.
var admitScript = redis.NewScript(`
local t = redis.call('TIME')
local now = string.format('%.0f', t[1] * 1000 + math.floor(t[2] / 1000))
if KEYS[2] then redis.call('ZADD', KEYS[2], 'NX', now, ARGV[4]) end
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'string' then return {'legacy', redis.call('GET', KEYS[1])} end
if kind == 'hash' then
  local r = redis.call('HMGET', KEYS[1], 's', 'o', 't')
  return {'exists', r[1] or '', r[2] or '', r[3] or '0'}
end
redis.call('HSET', KEYS[1], 's', 'active', 'o', ARGV[1], 't', 1, 'p', ARGV[2], 'a', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'fresh'}
`)

// Admit records a delivery of message id from sender with payload (the
// message as it arrived, kept so that another process can finish it), and
// in the same round trip counts it against the rate limit of rateKey and
// reads the sender's scopes (none for an anonymous sender, ""). A record
// from an older version of the bot (a plain string) is honoured.
func (l *Ledger) Admit(ctx context.Context, id, sender, rateKey string, payload []byte) (Admission, error) {
	l.mu.Lock()
	l.admitting[id]++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.admitting[id]--; l.admitting[id] == 0 {
			delete(l.admitting, id)
		}
		l.mu.Unlock()
	}()
	key := l.recordKey(id)
	var (
		claim  *redis.Cmd
		rate   *redis.Cmd
		scopes *redis.StringSliceCmd
		epoch  *redis.StringCmd
	)
	keys := []string{key}
	if !l.s.clustered {
		keys = append(keys, l.inflightKey())
	}
	_, err := l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		claim = admitScript.Eval(ctx, p, keys, l.proc, payload, l.claimTTL, id)
		if l.s.clustered {
			p.ZAddNX(ctx, l.inflightKey(), redis.Z{Score: float64(time.Now().UnixMilli()), Member: id})
		}
		if l.s.opt.RatePerMin > 0 {
			rate = rateScript.Eval(ctx, p, []string{l.s.key("rate", rateKey)}, l.s.opt.RatePerMin, id)
		}
		if sender != "" {
			scopes = p.SMembers(ctx, l.s.permKey(sender))
		}
		epoch = p.Get(ctx, l.epochKey())
		return nil
	})
	if err := failure(err); err != nil {
		l.mu.Lock()
		l.doubtful[id] = true
		l.mu.Unlock()
		return Admission{}, unavailable("admit", err)
	}
	res, err := claim.StringSlice()
	if err != nil || len(res) == 0 {
		return Admission{}, unavailable("admit", fmt.Errorf("unexpected claim answer %v: %w", res, err))
	}
	l.observeEpoch(ctx, epoch)
	switch res[0] {
	case "fresh":
		if l.running(id) {
			// Redis forgot the record of a message this process is
			// running: it is not run twice here. The record just made goes
			// again, and the running claim makes its own anew.
			_ = forgetScript.Eval(ctx, l.s.rdb, []string{key}, l.proc).Err()
			return Admission{Verdict: Busy}, nil
		}
		c := l.hold(newClaim(l, id, 1, payload))
		a := Admission{Verdict: Run, Claim: c, Rate: RateDecision{Allowed: true}, Scopes: []string{}}
		l.mu.Lock()
		a.DataLost = l.lostSince
		l.mu.Unlock()
		c.dataLost = a.DataLost
		if scopes != nil && scopes.Val() != nil {
			a.Scopes = scopes.Val()
		}
		if rate != nil {
			if a.Rate, err = l.rateDecision(ctx, rateKey, rate); err != nil {
				// Nothing happened: give the message back for a re-delivery.
				_ = c.settle(ctx, "release", nil, nil)
				return Admission{}, err
			}
		}
		return a, nil
	case "legacy":
		return l.admitLegacy(ctx, key, res[1])
	}
	return l.admitExisting(ctx, id, key, res[1], res[2], res[3])
}

// admitExisting decides what a delivery of a message already on record may
// do.
func (l *Ledger) admitExisting(ctx context.Context, id, key, state, owner, token string) (Admission, error) {
	switch {
	case state == stateDelivered:
		return Admission{Verdict: Delivered}, nil
	case state == stateUndelivered:
		reply, err := carryScript.Eval(ctx, l.s.rdb, []string{key}).Text()
		if errors.Is(err, redis.Nil) {
			return Admission{Verdict: Delivered}, nil // carried by a concurrent delivery
		}
		if err != nil {
			return Admission{}, unavailable("carry", err)
		}
		return Admission{Verdict: Carry, Reply: []byte(reply)}, nil
	case owner == l.opt.Process && l.holdsOrAdmits(id):
		return Admission{Verdict: Busy}, nil
	case owner == l.opt.Process:
		// This process's own record, which it lost track of (its admission
		// failed on the way back): take it up again.
	case owner != "":
		alive, err := l.s.rdb.Exists(ctx, l.procKey(owner)).Result()
		if err != nil {
			return Admission{}, unavailable("check owner", err)
		}
		if alive > 0 || !l.mayJudge() {
			return Admission{Verdict: Busy}, nil
		}
	}
	c, verdict, err := l.takeOver(ctx, id, owner, token)
	if err != nil {
		return Admission{}, err
	}
	return Admission{Verdict: verdict, Claim: c}, nil
}

// legacyCarry marks an older version's undelivered reply as delivered, once.
var legacyCarry = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'delivered', 'KEEPTTL')
return 1
`)

// admitLegacy honours a record written by a version of the bot before the
// ledger: "processing", "delivered", or "done:" and an undelivered reply.
func (l *Ledger) admitLegacy(ctx context.Context, key, v string) (Admission, error) {
	switch {
	case v == "delivered":
		return Admission{Verdict: Delivered}, nil
	case len(v) > 5 && v[:5] == "done:":
		n, err := legacyCarry.Eval(ctx, l.s.rdb, []string{key}, v).Int()
		if err != nil {
			return Admission{}, unavailable("carry", err)
		}
		if n == 0 {
			return Admission{Verdict: Delivered}, nil
		}
		return Admission{Verdict: Carry, Reply: []byte(v[5:])}, nil
	}
	return Admission{Verdict: Busy}, nil
}

var carryScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 's') ~= 'undelivered' then return false end
local reply = redis.call('HGET', KEYS[1], 'r')
redis.call('HSET', KEYS[1], 's', 'delivered')
redis.call('HDEL', KEYS[1], 'r', 'p', 'i', 'ia')
return reply
`)

var takeOverScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 's', 'o', 't')
if not r[1] then return {'gone'} end
if (r[2] or '') ~= ARGV[1] or (r[3] or '') ~= ARGV[2] then return {'moved'} end
if r[1] == 'delivered' or r[1] == 'undelivered' then return {'final'} end
local t = redis.call('HINCRBY', KEYS[1], 't', 1)
redis.call('HSET', KEYS[1], 'o', ARGV[3])
local f = redis.call('HMGET', KEYS[1], 's', 'p', 'i', 'ia', 'r', 'pf')
local now = redis.call('TIME')
return {'taken', tostring(t), f[1], f[2] or '', f[3] or '', f[4] or '0', f[5] or '', string.format('%.0f', now[1] * 1000 + math.floor(now[2] / 1000)), f[6] or ''}
`)

// takeOver makes this process the owner of a record whose owner (with the
// given token) died or handed it over. Another process may have been
// quicker: then the message is Busy or Delivered.
func (l *Ledger) takeOver(ctx context.Context, id, owner, token string) (*Claim, Verdict, error) {
	res, err := takeOverScript.Eval(ctx, l.s.rdb, []string{l.recordKey(id)}, owner, token, l.proc).StringSlice()
	if err != nil {
		return nil, 0, unavailable("take over", err)
	}
	switch res[0] {
	case "taken":
	case "final":
		return nil, Delivered, nil
	default: // moved: someone else took it; gone: it expired
		return nil, Busy, nil
	}
	tok, _ := strconv.ParseInt(res[1], 10, 64)
	c := newClaim(l, id, tok, []byte(res[3]))
	if res[2] == stateDone {
		c.reply = []byte(res[6])
		c.mayHavePosted = len(res) > 8 && res[8] != ""
	}
	if res[4] != "" {
		var w commands.Write
		if err := json.Unmarshal([]byte(res[4]), &w); err == nil {
			at, _ := strconv.ParseInt(res[5], 10, 64)
			now, _ := strconv.ParseInt(res[7], 10, 64)
			c.prior = &w
			c.priorWait = max(time.Duration(at-now)*time.Millisecond+l.opt.WriteWindow, 0)
		}
	}
	return l.hold(c), Resume, nil
}

func (l *Ledger) hold(c *Claim) *Claim {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.owned[c.id] = c
	return c
}

// running reports whether this process holds a claim on the message.
func (l *Ledger) running(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.owned[id] != nil
}

// holdsOrAdmits reports whether this process holds the message or is
// admitting another delivery of it, which may be the one that claimed it.
func (l *Ledger) holdsOrAdmits(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.owned[id] != nil || l.admitting[id] > 1
}

func (l *Ledger) drop(c *Claim) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.owned[c.id] == c {
		delete(l.owned, c.id)
	}
}

func (l *Ledger) claims() []*Claim {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Claim, 0, len(l.owned))
	for _, c := range l.owned {
		out = append(out, c)
	}
	return out
}

var _ commands.Journal = (*Claim)(nil)
