package redisstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
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
func (l *Ledger) epochKey() string           { return l.s.key("epoch") }

// The epoch key holds a random value the first process writes, then, once
// a process has found Redis's data lost, "<value>|<when, in ms>": so that a
// process that starts after the loss learns when it was, and treats the
// messages sent before then as ones that may have run.

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

// lockKey hashes the value: a phone number or an email address does not
// belong in a key name, where SCAN and MONITOR show it.
func (l *Ledger) lockKey(value string) string {
	sum := sha256.Sum256([]byte(value))
	return l.s.key("lock", hex.EncodeToString(sum[:16]))
}

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

// RateDecision is the outcome of a rate-limit check.
type RateDecision struct {
	Allowed    bool
	RetryAfter time.Duration
	// Notify is true for the first refusal in a window: the user is told
	// once when to retry, not once per message.
	Notify bool
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
local f = redis.call('HMGET', KEYS[1], 's', 'p', 'i', 'ia', 'r')
local now = redis.call('TIME')
return {'taken', tostring(t), f[1], f[2] or '', f[3] or '', f[4] or '0', f[5] or '', string.format('%.0f', now[1] * 1000 + math.floor(now[2] / 1000))}
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

// mayJudge reports whether a process without a lease may be taken for
// dead: whether this process has renewed its own for a whole lease.
func (l *Ledger) mayJudge() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.healthy.IsZero() && l.opt.Now().Sub(l.healthy) >= l.opt.Lease
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

// forgetScript removes a record this process may have made without
// knowing, when nothing has happened to it since.
var forgetScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'o', 't', 'i')
if r[1] == ARGV[1] and r[2] == '1' and not r[3] then redis.call('DEL', KEYS[1]) return 1 end
return 0
`)

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
	records := make([]*redis.SliceCmd, len(ids))
	if _, err := l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			records[i] = p.HMGet(ctx, l.recordKey(id), "s", "o", "t")
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
	for i, id := range ids {
		v, err := records[i].Result()
		if err != nil || len(v) != 3 { // an older version's record: not ours to finish
			finished = append(finished, id)
			continue
		}
		state, _ := v[0].(string)
		owner, _ := v[1].(string)
		token, _ := v[2].(string)
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

// fenced opens every script that changes a record its caller owns: it does
// nothing, and answers 0, unless the record's owner and token are ARGV[1]
// and ARGV[2], or -2 when there is no record at all (Redis lost it).
const fenced = `
local r = redis.call('HMGET', KEYS[1], 'o', 't')
if not r[2] then return -2 end
if r[1] ~= ARGV[1] or r[2] ~= ARGV[2] then return 0 end
`

// vanished is what a fenced script answers when the record is gone.
const vanished = -2

// reclaimScript makes the record of a message anew, owned by this claim,
// when there is none (Redis lost it while the message ran): 1 when made, 0
// when another delivery made one meanwhile. On a single Redis it also puts
// the message back in the in-flight index (KEYS[2]).
var reclaimScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = redis.call('TIME')
local now = string.format('%.0f', t[1] * 1000 + math.floor(t[2] / 1000))
redis.call('HSET', KEYS[1], 's', 'active', 'o', ARGV[1], 't', ARGV[2], 'p', ARGV[3], 'a', now)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if KEYS[2] then redis.call('ZADD', KEYS[2], 'NX', now, ARGV[5]) end
return 1
`)

// reclaim makes the claim's record anew after Redis lost it, rather than
// taking the loss for another process's take-over: no other process owns
// a message whose record is gone. It reports false, and the claim is
// dropped, when another delivery of the message has made a record since.
func (c *Claim) reclaim(ctx context.Context) (bool, error) {
	keys := []string{c.l.recordKey(c.id)}
	if !c.l.s.clustered {
		keys = append(keys, c.l.inflightKey())
	}
	n, err := reclaimScript.Eval(ctx, c.l.s.rdb, keys, c.l.proc, c.token, c.payload, c.l.claimTTL, c.id).Int()
	if err != nil {
		return false, unavailable("reclaim", err)
	}
	c.l.checkEpoch(ctx)
	if n != 1 {
		c.l.drop(c)
		return false, nil
	}
	c.l.opt.Log.Warn("the record of a running message vanished from Redis; made it anew", "msg_id", c.id)
	return true, nil
}

var handOverScript = redis.NewScript(fenced + `
redis.call('HSET', KEYS[1], 'o', '')
return 1
`)

// HandOver gives up this process's unfinished messages, keeping what they
// intended and any reply, so that another process's sweep or a re-delivery
// finishes them at once, and ends the process's lease. It is the last
// thing a draining process does.
func (l *Ledger) HandOver(ctx context.Context) (int, error) {
	claims := l.claims()
	_, err := l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range claims {
			handOverScript.Eval(ctx, p, []string{l.recordKey(c.id)}, l.proc, c.token)
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

// Claim is this process's ownership of one message, as of one fencing
// token. It implements commands.Journal for the message's handler.
type Claim struct {
	l       *Ledger
	id      string
	token   int64
	value   string // lockValue
	payload []byte
	reply   []byte // a reply that was ready when the message was taken over

	prior     *commands.Write // what a previous owner was about to write
	priorWait time.Duration   // until that write can no longer land, as of the take-over
	// dataLost is when Redis was last found to have lost its data, as
	// known when the message was admitted as new.
	dataLost time.Time

	mu    sync.Mutex
	locks []string // lock keys held, with their value
}

var _ commands.Journal = (*Claim)(nil)

func newClaim(l *Ledger, id string, token int64, payload []byte) *Claim {
	return &Claim{l: l, id: id, token: token, value: id + ":" + strconv.FormatInt(token, 10), payload: payload}
}

// ID is the message's id.
func (c *Claim) ID() string { return c.id }

// Payload is the message as it was admitted.
func (c *Claim) Payload() []byte { return c.payload }

// DataLost is when Redis was last found to have lost its data, by this
// process or another, as known when the message was admitted as new (zero
// otherwise): a message sent before then may have run already, its record
// lost.
func (c *Claim) DataLost() time.Time { return c.dataLost }

// Reply is the reply a previous owner had ready but not delivered, if any.
func (c *Claim) Reply() []byte { return c.reply }

// lockValue marks a lock as this claim's: the message and its fencing token.
func (c *Claim) lockValue() string { return c.value }

func (c *Claim) heldLocks() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.locks)
}

// acquireScript takes a lock for a message; a lock held by an earlier
// owner of the same message is taken over with it.
var acquireScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[2] or string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ':' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// extendScript renews a lock this message holds, and says whether it does.
var extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// Serialize waits until this message alone holds every value (taken all
// at once, or none, so two messages never wait on each other), and holds
// them until the message is settled.
func (c *Claim) Serialize(ctx context.Context, values ...string) error {
	var keys []string
	for _, v := range values {
		if k := c.l.lockKey(v); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	value := c.lockValue()
	backoff := 25 * time.Millisecond
	for {
		got := make([]*redis.Cmd, len(keys))
		if _, err := c.l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				got[i] = acquireScript.Eval(ctx, p, []string{k}, c.id, value, c.l.opt.Lease.Milliseconds())
			}
			return nil
		}); err != nil {
			return unavailable("lock", err)
		}
		var held []string
		for i, g := range got {
			if n, _ := g.Int(); n == 1 {
				held = append(held, keys[i])
			}
		}
		if len(held) == len(keys) {
			c.mu.Lock()
			c.locks = append(c.locks, keys...)
			c.mu.Unlock()
			return nil
		}
		if len(held) > 0 {
			if _, err := c.l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range held {
					releaseScript.Eval(ctx, p, []string{k}, value)
				}
				return nil
			}); err != nil {
				return unavailable("lock", err)
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for another message with the same contact details: %w", ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

var intendScript = redis.NewScript(fenced + `
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], 'i', ARGV[3], 'ia', string.format('%.0f', now[1] * 1000 + math.floor(now[2] / 1000)))
return 1
`)

// intendHoldingScript takes the locks KEYS[2..] as acquireScript does
// (all of them, or none, answering -1) and records the intent as
// intendScript does, in one step: the lock and the intent of an add cost
// one round trip. Its keys are in different Cluster slots, so it runs on a
// single Redis only.
var intendHoldingScript = redis.NewScript(fenced + `
local prefix = ARGV[5] .. ':'
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v and v ~= ARGV[4] and string.sub(v, 1, string.len(prefix)) ~= prefix then return -1 end
end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[4], 'PX', ARGV[6]) end
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], 'i', ARGV[3], 'ia', string.format('%.0f', now[1] * 1000 + math.floor(now[2] / 1000)))
return 1
`)

// Intend takes the values in hold (as Serialize does), records w before it
// is written, and extends the message's locks to outlive the write. The
// write must be sent before the returned time or not at all. On a single
// Redis, when nothing stands in the way, that is one round trip; otherwise
// (another message holds a value, or Redis Cluster, where one script cannot
// touch keys of several slots) Serialize waits for the values first.
func (c *Claim) Intend(ctx context.Context, w commands.Write, hold ...string) (time.Time, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return time.Time{}, fmt.Errorf("encode intent: %w", err)
	}
	var take []string
	if len(hold) > 0 {
		held := c.heldLocks()
		for _, v := range hold {
			if k := c.l.lockKey(v); !slices.Contains(held, k) && !slices.Contains(take, k) {
				take = append(take, k)
			}
		}
	}
	if len(take) > 0 && c.l.s.clustered {
		if err := c.Serialize(ctx, hold...); err != nil {
			return time.Time{}, err
		}
		take = nil
	}
	for {
		sendBy, taken, err := c.intend(ctx, b, take)
		if taken || err != nil {
			return sendBy, err
		}
		// Another message holds a value: wait for it, then record.
		if err := c.Serialize(ctx, hold...); err != nil {
			return time.Time{}, err
		}
		take = nil
	}
}

// intend records the intent b, taking the locks take with it; taken is
// false, and nothing changed, when another message holds one of them.
func (c *Claim) intend(ctx context.Context, b []byte, take []string) (sendBy time.Time, taken bool, err error) {
	sendBy = time.Now().Add(c.l.opt.WriteWindow) // before Redis stamps the intent
	locks := c.heldLocks()
	extended := make([]*redis.Cmd, len(locks))
	var intent *redis.Cmd
	// The locks must outlive the write even if renewals stop.
	ttl := (c.l.opt.WriteWindow + c.l.opt.Lease).Milliseconds()
	// Without locks to extend there is one command, and a pipeline's
	// bookkeeping would cost more than the command.
	var p redis.Cmdable = c.l.s.rdb
	var pipe redis.Pipeliner
	if len(locks) > 0 {
		pipe = c.l.s.rdb.Pipeline()
		p = pipe
	}
	for i, k := range locks {
		extended[i] = extendScript.Eval(ctx, p, []string{k}, c.lockValue(), ttl)
	}
	if len(take) == 0 {
		intent = intendScript.Eval(ctx, p, []string{c.l.recordKey(c.id)}, c.l.proc, c.token, b)
	} else {
		keys := append([]string{c.l.recordKey(c.id)}, take...)
		intent = intendHoldingScript.Eval(ctx, p, keys, c.l.proc, c.token, b, c.lockValue(), c.id, ttl)
	}
	if pipe != nil {
		_, err = pipe.Exec(ctx)
	} else {
		err = intent.Err()
	}
	if err != nil {
		return time.Time{}, false, unavailable("record intent", err)
	}
	switch n, _ := intent.Int(); n {
	case -1:
		// Nothing was written, but a held lock may have been extended:
		// harmless, it is released at settle.
		return time.Time{}, false, nil
	case 1:
	case vanished:
		made, err := c.reclaim(ctx)
		switch {
		case err != nil:
			return time.Time{}, false, err
		case !made:
			return time.Time{}, false, commands.ErrLostOwnership
		}
		return c.intend(ctx, b, take)
	default:
		c.l.drop(c)
		return time.Time{}, false, commands.ErrLostOwnership
	}
	if len(take) > 0 {
		c.mu.Lock()
		c.locks = append(c.locks, take...)
		c.mu.Unlock()
	}
	for _, e := range extended {
		if n, _ := e.Int(); n != 1 {
			// The lease lapsed long enough for another message to take a
			// lock: nothing may be written. The intent goes, so that a
			// take-over does not mistake the other message's work for ours.
			_ = c.clearIntent(ctx)
			return time.Time{}, false, fmt.Errorf("%w: a lock on the contact's details lapsed", commands.ErrUnavailable)
		}
	}
	return sendBy, true, nil
}

var clearIntentScript = redis.NewScript(fenced + `
redis.call('HDEL', KEYS[1], 'i', 'ia')
return 1
`)

func (c *Claim) clearIntent(ctx context.Context) error {
	c.mu.Lock()
	c.locks = nil
	c.mu.Unlock()
	return clearIntentScript.Eval(ctx, c.l.s.rdb, []string{c.l.recordKey(c.id)}, c.l.proc, c.token).Err()
}

// Prior is the write an earlier owner of the message recorded, and how long
// from the take-over until it can no longer land.
func (c *Claim) Prior() (commands.Write, time.Duration, bool) {
	if c.prior == nil {
		return commands.Write{}, 0, false
	}
	return *c.prior, c.priorWait, true
}

// settleScript moves a record this process owns to its next state. On a
// single Redis it also takes the message off the in-flight index (KEYS[2])
// and releases its locks (KEYS[3...]), whoever owns the record now, as
// separate commands would; on a Cluster those keys live in other slots and
// settle sends them as commands of their own.
var settleScript = redis.NewScript(`
if KEYS[2] then
  if ARGV[3] ~= 'done' then redis.call('ZREM', KEYS[2], ARGV[6]) end
  for i = 3, #KEYS do
    if redis.call('GET', KEYS[i]) == ARGV[7] then redis.call('DEL', KEYS[i]) end
  end
end
` + fenced + `
local s = ARGV[3]
if s == 'release' then
  redis.call('DEL', KEYS[1])
  return 1
end
if s == 'delivered' then
  redis.call('HDEL', KEYS[1], 'p', 'i', 'ia', 'r')
  redis.call('HSET', KEYS[1], 's', 'delivered', 'o', '')
elseif s == 'done' then
  redis.call('HSET', KEYS[1], 's', 'done', 'r', ARGV[4])
elseif s == 'undelivered' then
  redis.call('HDEL', KEYS[1], 'p', 'i', 'ia')
  redis.call('HSET', KEYS[1], 's', 'undelivered', 'o', '')
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

// settle moves the record to state (with reply for "done"), appends e to
// the audit trail when given, and releases the message's locks: one round
// trip. It reports commands.ErrLostOwnership when the message has another
// owner now.
func (c *Claim) settle(ctx context.Context, state string, reply []byte, e *commands.AuditEntry) error {
	locks := c.heldLocks()
	keys := []string{c.l.recordKey(c.id)}
	if !c.l.s.clustered {
		keys = append(append(keys, c.l.inflightKey()), locks...)
	}
	var moved *redis.Cmd
	_, err := c.l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		moved = settleScript.Eval(ctx, p, keys, c.l.proc, c.token, state, reply, c.l.claimTTL, c.id, c.lockValue())
		if c.l.s.clustered {
			if state != stateDone {
				p.ZRem(ctx, c.l.inflightKey(), c.id)
			}
			for _, k := range locks {
				releaseScript.Eval(ctx, p, []string{k}, c.lockValue())
			}
		}
		if e != nil {
			p.XAdd(ctx, c.l.s.auditArgs(*e))
		}
		return nil
	})
	if err := failure(err); err != nil {
		return unavailable("settle", err)
	}
	c.mu.Lock()
	c.locks = nil
	c.mu.Unlock()
	switch n, _ := moved.Int(); n {
	case 1:
	case vanished:
		if made, err := c.reclaim(ctx); err != nil || !made {
			return cmp.Or(err, commands.ErrLostOwnership)
		}
		return c.settle(ctx, state, reply, nil) // the audit entry went out already
	default:
		c.l.drop(c)
		return commands.ErrLostOwnership
	}
	if state != stateDone {
		c.l.drop(c)
	}
	return nil
}

// Finish records the message's outcome: its reply went out (delivered), or
// is ready and about to be sent by this process (otherwise), in which case
// Delivered or Undeliverable follows. e is its audit entry.
func (c *Claim) Finish(ctx context.Context, reply []byte, delivered bool, e commands.AuditEntry) error {
	if delivered {
		return c.settle(ctx, stateDelivered, nil, &e)
	}
	return c.settle(ctx, stateDone, reply, &e)
}

// Delivered records that the reply went out.
func (c *Claim) Delivered(ctx context.Context) error { return c.settle(ctx, stateDelivered, nil, nil) }

// Undeliverable records that no channel took the reply: the next delivery
// of the message carries it.
func (c *Claim) Undeliverable(ctx context.Context) error {
	return c.settle(ctx, stateUndelivered, nil, nil)
}

// HandOver gives the message up, keeping its intent and any reply, so that
// another process's sweep or a re-delivery finishes it.
func (c *Claim) HandOver(ctx context.Context) error {
	n, err := handOverScript.Eval(ctx, c.l.s.rdb, []string{c.l.recordKey(c.id)}, c.l.proc, c.token).Int()
	if err == nil && n == vanished {
		var made bool
		if made, err = c.reclaim(ctx); err == nil && made {
			n, err = handOverScript.Eval(ctx, c.l.s.rdb, []string{c.l.recordKey(c.id)}, c.l.proc, c.token).Int()
		}
	}
	c.l.drop(c)
	if err != nil {
		return unavailable("hand over", err)
	}
	if n != 1 {
		return commands.ErrLostOwnership
	}
	return nil
}

var forgoScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 's', 'delivered', 'o', '', 't', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// Forgo records that message id was answered, and never run, while Redis
// could not be reached ("please try again"): a delivery of it once Redis is
// back is a duplicate, so that it does not run beside the sender's retry.
// A record another process made meanwhile stands.
func (l *Ledger) Forgo(ctx context.Context, id string) error {
	if err := forgoScript.Eval(ctx, l.s.rdb, []string{l.recordKey(id)}, l.claimTTL).Err(); err != nil {
		return unavailable("forgo", err)
	}
	return nil
}

// Release forgets the message, which had no effect, so that a re-delivery
// runs it; e is its audit entry.
func (c *Claim) Release(ctx context.Context, e commands.AuditEntry) error {
	return c.settle(ctx, "release", nil, &e)
}
