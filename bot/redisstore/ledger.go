package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
// A record (the string msg:<id>, record.go) names its owner, a process, and
// a fencing token. Ownership is a lease: the owner's process key proc:<pid>
// lives while the process renews it, once per tick for all its messages,
// so a queued or slow command never loses its claim and a dead process's
// messages are free again within the lease. Every change a process makes
// to a record checks owner and token, so a process that lost a message can
// never settle over its new owner. Before an ARMS write the record keeps
// the intent, so whoever takes a message over can find out what happened
// instead of doing it twice; until delivered it keeps the message and then
// the reply, so a new owner can finish it.
//
// What a handled /contact add costs Redis is kept small on purpose: on a
// single Redis, one script admits the message (its record, the rate limit,
// the in-flight index, the sender's scopes, and the create's intent with
// its locks, which the message's text tells before it runs), and one
// settles it with its audit entry: two round trips, ten commands. Locks
// are not released one by one (a lock whose message finished is free) and
// settled messages leave the in-flight index with the next renewal. On
// Redis Cluster every script touches one key, and the rest goes as
// commands of their own. The two scripts of every message go by their
// SHA1 (EVALSHA), and whole only when Redis answers that it does not know
// them (a restart): the admission runs alone, where go-redis falls back by
// itself, and the settle's script, in a pipeline, is sent again whole,
// alone, when Redis did not run it. The rest are sent whole (EVAL).

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
	// unindexed are messages settled since the last renewal, which takes
	// them off the in-flight index in one command.
	unindexed []string
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

// gcra is the per-sender rate limit, GCRA: a sender may send limit
// commands in a burst and then one every minute/limit. Only a message new
// to the ledger is counted, so DingTalk's re-deliveries cost the sender
// nothing. It answers 0 when allowed, else the milliseconds until allowed.
const luaGCRA = `
local function gcra(key, limit, now)
  local interval = 60000 / limit
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local nxt = tat + interval
  if now < nxt - 60000 then return math.ceil(nxt - 60000 - now) end
  redis.call('SET', key, string.format('%.3f', nxt), 'PX', math.max(math.ceil(nxt - now), 1))
  return 0
end
`

// admitScript claims a message: KEYS[1] is its record. ARGV: 1 process,
// 2 the record's lifetime (ms), 3 now (ms), 4 the message id, 5 the rate
// limit (0: none), 6 "1" when KEYS[4] holds the sender's scopes, 7 the
// speculative intent ("" for none), 8 the payload, 9 the locks' value, 10
// their lifetime (ms).
//
// It answers the existing value when there is one ({"exists", value}, or
// {"hash", state, owner, token} for an older version's record), else
// {"fresh", wait, locked, added, scopes...}: wait is the rate limit's (0:
// allowed), locked 1 when the locks KEYS[6...] were all free and are now
// the message's, and with them the intent is recorded; added 2 when the
// in-flight index lacked its marker ARGV[11].
//
// On a single Redis it also counts the rate limit (KEYS[3]), adds the
// message to the in-flight index (KEYS[2]), takes the locks and reads the
// scopes: all of the admission in one command. On a Cluster those keys
// live in other slots and Admit sends commands of their own.
var admitScript = redis.NewScript(luaTail + luaGCRA + `
local function value(intent)
  return 'v2|a|0|1|' .. ARGV[1] .. '|' .. tail(ARGV[3], ARGV[3], intent, '', ARGV[8])
end
local old = redis.pcall('SET', KEYS[1], value(ARGV[7]), 'NX', 'GET', 'PX', ARGV[2])
if type(old) == 'table' and old.err then
  local r = redis.call('HMGET', KEYS[1], 's', 'o', 't')
  return {'hash', r[1] or '', r[2] or '', r[3] or '0'}
end
if old then return {'exists', old} end
local res = {'fresh', 0, 0, 0}
if KEYS[3] and ARGV[5] ~= '0' then res[2] = gcra(KEYS[3], tonumber(ARGV[5]), tonumber(ARGV[3])) end
if #KEYS > 5 then
  local got = 0
  if res[2] == 0 then
    for i = 6, #KEYS do
      if not redis.call('SET', KEYS[i], ARGV[9], 'NX', 'PX', ARGV[10]) then break end
      got = got + 1
    end
  end
  if got == #KEYS - 5 then
    res[3] = 1
  else
    for i = 6, 5 + got do redis.call('DEL', KEYS[i]) end
  end
end
if ARGV[7] ~= '' and res[3] == 0 then redis.call('SET', KEYS[1], value(''), 'PX', ARGV[2]) end
if KEYS[2] then res[4] = redis.call('ZADD', KEYS[2], 'NX', 0, ARGV[11], ARGV[3], ARGV[4]) end
if ARGV[6] == '1' then
  for _, v in ipairs(redis.call('SMEMBERS', KEYS[4])) do res[#res + 1] = v end
end
return res
`)

// rateScript is the rate limit alone, for a Cluster.
var rateScript = redis.NewScript(luaGCRA + `return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))`)

// Speculation is what a message will write if it runs as it most likely
// does (a /contact add whose create needs nothing read first), known
// before it runs: the admission records it as the message's intent and
// takes its locks, so that the write costs no round trip of its own. When
// the message writes something else, or later, Intend records that as
// before.
type Speculation struct {
	Write commands.Write // none when Action is ""
	Hold  []string
}

// Admit records a delivery of message id from sender with payload (the
// message as it arrived, kept so that another process can finish it), and
// in the same round trip counts it against the rate limit of rateKey and
// reads the sender's scopes (none for an anonymous sender, ""). A record
// from an older version of the bot is honoured.
func (l *Ledger) Admit(ctx context.Context, id, sender, rateKey string, payload []byte) (Admission, error) {
	return l.AdmitSpeculating(ctx, id, sender, rateKey, payload, nil)
}

// AdmitSpeculating is Admit recording spec, when not nil, as the message's
// intent, with its locks (on a single Redis, when they are free).
func (l *Ledger) AdmitSpeculating(ctx context.Context, id, sender, rateKey string, payload []byte, spec *Speculation) (Admission, error) {
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
	if l.s.clustered {
		spec = nil // its locks live in other slots
	}
	var (
		intent []byte
		locks  []string
	)
	if spec != nil {
		if spec.Write.Action != "" {
			var err error
			if intent, err = json.Marshal(spec.Write); err != nil {
				return Admission{}, fmt.Errorf("encode intent: %w", err)
			}
		}
		locks = l.lockKeys(spec.Hold)
	}
	start := time.Now() // before the intent is recorded: the write is sent within the window from here
	now := start.UnixMilli()
	keys := make([]string, 0, 5+len(locks))
	keys = append(keys, key)
	var rate int
	if !l.s.clustered {
		keys = append(keys, l.inflightKey(), l.s.key("rl", rateKey), l.s.permKey(sender), l.epochKey())
		keys = append(keys, locks...)
		rate = l.s.opt.RatePerMin
	}
	perm := "0"
	if sender != "" && !l.s.clustered {
		perm = "1"
	}
	lockValue := id + ":1"
	res, err := admitScript.Run(ctx, l.s.rdb, keys, l.proc, l.claimTTL, now, id, rate, perm, intent, payload, lockValue,
		(l.opt.WriteWindow + l.opt.Lease).Milliseconds(), l.marker()).Slice()
	if err := failure(err); err != nil {
		l.mu.Lock()
		l.doubtful[id] = true
		l.mu.Unlock()
		return Admission{}, unavailable("admit", err)
	}
	if err != nil || len(res) == 0 {
		return Admission{}, unavailable("admit", fmt.Errorf("unexpected claim answer %v: %w", res, err))
	}
	switch res[0] {
	case "exists":
		v, _ := res[1].(string)
		return l.admitExisting(ctx, id, key, v)
	case "hash":
		return l.admitHash(ctx, id, key, str(res, 1), str(res, 2), str(res, 3))
	case "fresh":
	default:
		return Admission{}, unavailable("admit", fmt.Errorf("unexpected claim answer %v", res))
	}
	if added, _ := res[3].(int64); added == 2 {
		// The index lacks this process's marker: Redis may have lost its
		// data.
		l.checkEpoch(ctx)
	}
	if l.running(id) {
		// Redis forgot the record of a message this process is running:
		// it is not run twice here. The record just made goes again, and
		// the running claim makes its own anew.
		_ = forgetScript.Eval(ctx, l.s.rdb, []string{key}, l.proc).Err()
		l.checkEpoch(ctx)
		return Admission{Verdict: Busy}, nil
	}
	c := newClaim(l, id, 1, payload)
	c.rec.at, c.rec.ia = now, now
	wait, _ := res[1].(int64)
	if locked, _ := res[2].(int64); locked == 1 {
		c.locks = locks
		if intent != nil {
			c.rec.intent = intent
			c.specSendBy = start.Add(l.opt.WriteWindow)
		}
	}
	l.hold(c)
	a := Admission{Verdict: Run, Claim: c, Rate: RateDecision{Allowed: true}, Scopes: []string{}}
	for _, v := range res[4:] {
		if s, ok := v.(string); ok {
			a.Scopes = append(a.Scopes, s)
		}
	}
	if l.s.clustered {
		if err := l.admitAside(ctx, id, sender, rateKey, now, &a, &wait); err != nil {
			// Nothing happened: give the message back for a re-delivery.
			_ = c.settle(ctx, "release", nil, nil)
			return Admission{}, err
		}
	}
	l.mu.Lock()
	a.DataLost = l.lostSince
	l.mu.Unlock()
	c.dataLost = a.DataLost
	if wait > 0 {
		if a.Rate, err = l.rateRefusal(ctx, rateKey, time.Duration(wait)*time.Millisecond); err != nil {
			_ = c.settle(ctx, "release", nil, nil)
			return Admission{}, err
		}
	}
	return a, nil
}

// admitAside is, on a Cluster, the part of an admission that touches keys
// of other slots: the in-flight index, the rate limit and the scopes, in
// a round trip of their own.
func (l *Ledger) admitAside(ctx context.Context, id, sender, rateKey string, now int64, a *Admission, wait *int64) error {
	var (
		added  *redis.IntCmd
		rate   *redis.Cmd
		scopes *redis.StringSliceCmd
	)
	_, err := l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		added = p.ZAddNX(ctx, l.inflightKey(), redis.Z{Score: 0, Member: l.marker()}, redis.Z{Score: float64(now), Member: id})
		if l.s.opt.RatePerMin > 0 {
			rate = rateScript.Eval(ctx, p, []string{l.s.key("rl", rateKey)}, l.s.opt.RatePerMin, now)
		}
		if sender != "" {
			scopes = p.SMembers(ctx, l.s.permKey(sender))
		}
		return nil
	})
	if err := failure(err); err != nil {
		return unavailable("admit", err)
	}
	if added.Val() == 2 {
		l.checkEpoch(ctx)
	}
	if rate != nil {
		if *wait, err = rate.Int64(); err != nil {
			return unavailable("rate limit", err)
		}
	}
	if scopes != nil && scopes.Val() != nil {
		a.Scopes = scopes.Val()
	}
	return nil
}

// str is the i-th answer of a script as a string.
func str(res []any, i int) string {
	if i < len(res) {
		s, _ := res[i].(string)
		return s
	}
	return ""
}

// admitExisting decides what a delivery of a message already on record
// (v, a string) may do.
func (l *Ledger) admitExisting(ctx context.Context, id, key, v string) (Admission, error) {
	switch {
	case v == recDelivered:
		return Admission{Verdict: Delivered}, nil
	case strings.HasPrefix(v, recCarry):
		n, err := carryScript.Eval(ctx, l.s.rdb, []string{key}, v).Int()
		if err != nil {
			return Admission{}, unavailable("carry", err)
		}
		if n == 0 {
			return Admission{Verdict: Delivered}, nil // carried by a concurrent delivery
		}
		return Admission{Verdict: Carry, Reply: []byte(v[len(recCarry):])}, nil
	case !strings.HasPrefix(v, recOwned):
		return Admission{Verdict: Busy}, nil // an older version's running message
	}
	r, err := decodeRecord(v)
	if err != nil {
		return Admission{}, unavailable("admit", fmt.Errorf("message %s: %w", id, err))
	}
	return l.admitOwned(ctx, id, r.owner, strconv.FormatInt(r.token, 10))
}

// admitOwned decides for a record that names its owner and token.
func (l *Ledger) admitOwned(ctx context.Context, id, owner, token string) (Admission, error) {
	switch {
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

// carryScript marks an undelivered reply as delivered, once: the record
// "done:<reply>", written by this version or the one before the ledger.
var carryScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'delivered', 'KEEPTTL')
return 1
`)

// carryHashScript is carryScript for the hash records of the version
// before this one.
var carryHashScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 's') ~= 'undelivered' then return false end
local reply = redis.call('HGET', KEYS[1], 'r')
redis.call('HSET', KEYS[1], 's', 'delivered')
redis.call('HDEL', KEYS[1], 'r', 'p', 'i', 'ia')
return reply
`)

// admitHash decides for a record the version before this one wrote (a
// hash), while both run during an upgrade: a take-over turns it into this
// version's record.
func (l *Ledger) admitHash(ctx context.Context, id, key, state, owner, token string) (Admission, error) {
	switch state {
	case stateDelivered:
		return Admission{Verdict: Delivered}, nil
	case stateUndelivered:
		reply, err := carryHashScript.Eval(ctx, l.s.rdb, []string{key}).Text()
		if errors.Is(err, redis.Nil) {
			return Admission{Verdict: Delivered}, nil
		}
		if err != nil {
			return Admission{}, unavailable("carry", err)
		}
		return Admission{Verdict: Carry, Reply: []byte(reply)}, nil
	}
	return l.admitOwned(ctx, id, owner, token)
}

// takeOverScript makes ARGV[3] the owner of a record whose owner ARGV[1]
// (with token ARGV[2]) died or handed it over, with the next token; a
// record of the version before this one (a hash) becomes one of this
// version's. It answers {"taken", record, Redis's time in ms}, or why not.
var takeOverScript = redis.NewScript(luaTail + luaHeader + `
local t = redis.call('TIME')
local now = string.format('%.0f', t[1] * 1000 + math.floor(t[2] / 1000))
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'hash' then
  local f = redis.call('HMGET', KEYS[1], 's', 'o', 't', 'p', 'i', 'ia', 'r', 'pf', 'a')
  if not f[1] then return {'gone'} end
  if (f[2] or '') ~= ARGV[1] or (f[3] or '') ~= ARGV[2] then return {'moved'} end
  if f[1] == 'delivered' or f[1] == 'undelivered' then return {'final'} end
  local s, pf = 'a', '0'
  if f[1] == 'done' then s = 'd' end
  if f[8] then pf = '1' end
  local v = 'v2|' .. s .. '|' .. pf .. '|' .. (tonumber(f[3]) + 1) .. '|' .. ARGV[3] .. '|' .. tail(f[9] or '0', f[6] or '0', f[5] or '', f[7] or '', f[4] or '')
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl <= 0 then ttl = ARGV[4] end
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[1], v, 'PX', ttl)
  return {'taken', v, now}
end
if kind ~= 'string' then return {'gone'} end
local v = redis.call('GET', KEYS[1])
local h = header(v)
if not h then return {'final'} end
if h.o ~= ARGV[1] or h.t ~= ARGV[2] then return {'moved'} end
v = 'v2|' .. h.s .. '|' .. h.pf .. '|' .. (tonumber(h.t) + 1) .. '|' .. ARGV[3] .. '|' .. string.sub(v, h.at)
redis.call('SET', KEYS[1], v, 'KEEPTTL')
return {'taken', v, now}
`)

// clockSkew is how far the clocks of the replicas and Redis's may differ:
// a write's window is recorded on its process's clock and judged on
// Redis's. Replicas keep time (NTP) far closer than this.
const clockSkew = time.Second

// takeOver makes this process the owner of a record whose owner (with the
// given token) died or handed it over. Another process may have been
// quicker: then the message is Busy or Delivered.
func (l *Ledger) takeOver(ctx context.Context, id, owner, token string) (*Claim, Verdict, error) {
	res, err := takeOverScript.Eval(ctx, l.s.rdb, []string{l.recordKey(id)}, owner, token, l.proc, l.claimTTL).StringSlice()
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
	r, err := decodeRecord(res[1])
	if err != nil {
		return nil, 0, unavailable("take over", fmt.Errorf("message %s: %w", id, err))
	}
	c := newClaim(l, id, r.token, r.payload)
	c.rec = r
	if r.state == stateDone {
		c.reply = r.reply
		c.mayHavePosted = r.posting
	}
	if len(r.intent) > 0 {
		var w commands.Write
		if err := json.Unmarshal(r.intent, &w); err == nil {
			now, _ := strconv.ParseInt(res[2], 10, 64)
			c.prior = &w
			c.priorWait = max(time.Duration(r.ia-now)*time.Millisecond+l.opt.WriteWindow+clockSkew, 0)
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
