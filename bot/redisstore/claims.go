package redisstore

// A claim: this process's ownership of one message, as of one fencing
// token, and everything it records of the message's life (locks, intent,
// outcome, reply), each step fenced by owner and token.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/armsbot/armsbot/commands"
)

// lockKey hashes the value: a phone number or an email address does not
// belong in a key name, where SCAN and MONITOR show it.
func (l *Ledger) lockKey(value string) string {
	sum := sha256.Sum256([]byte(value))
	return l.s.key("lock", hex.EncodeToString(sum[:16]))
}

// lockKeys are the lock keys of values, each once.
func (l *Ledger) lockKeys(values []string) []string {
	var keys []string
	for _, v := range values {
		if k := l.lockKey(v); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// swapScript replaces the record KEYS[1] with ARGV[3] when its owner and
// token are ARGV[1] and ARGV[2]: the one fenced write, in one command when
// the record is this claim's (SET XX GET, put back otherwise). It answers
// 1 when written, 0 when the record is another's, and -2 when there is
// none (Redis lost it).
var swapScript = redis.NewScript(luaHeader + `
local old = redis.pcall('SET', KEYS[1], ARGV[3], 'XX', 'GET', 'KEEPTTL')
if type(old) == 'table' and old.err then return 0 end
if not old then return -2 end
local h = header(old)
if h and h.o == ARGV[1] and h.t == ARGV[2] then return 1 end
redis.call('SET', KEYS[1], old, 'KEEPTTL')
return 0
`)

// releaseRecordScript deletes the record KEYS[1] when its owner and token
// are ARGV[1] and ARGV[2]; answers as swapScript.
var releaseRecordScript = redis.NewScript(luaHeader + `
local ok, v = pcall(redis.call, 'GET', KEYS[1])
if not ok then return 0 end
if not v then return -2 end
local h = header(v)
if not h or h.o ~= ARGV[1] or h.t ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

// vanished is what a fenced script answers when the record is gone.
const vanished = -2

// reclaimScript makes the record of a message anew (ARGV[1]) when there
// is none (Redis lost it while the message ran): 1 when made, 0 when
// another delivery made one meanwhile. On a single Redis it also puts the
// message back in the in-flight index (KEYS[2]).
var reclaimScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
if KEYS[2] then redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[4]) end
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
	n, err := reclaimScript.Eval(ctx, c.l.s.rdb, keys, c.current().encode(), c.l.claimTTL, time.Now().UnixMilli(), c.id).Int()
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

// swap writes r as the claim's record, fenced by its owner and token; a
// record that vanished is made anew first. It reports
// commands.ErrLostOwnership when the message has another owner now.
func (c *Claim) swap(ctx context.Context, r record) error {
	n, err := swapScript.Eval(ctx, c.l.s.rdb, []string{c.l.recordKey(c.id)}, c.l.proc, c.token, r.encode()).Int()
	if err != nil {
		return unavailable("record", err)
	}
	switch n {
	case 1:
		c.mu.Lock()
		c.rec = r
		c.mu.Unlock()
		return nil
	case vanished:
		made, err := c.reclaim(ctx)
		switch {
		case err != nil:
			return err
		case !made:
			return commands.ErrLostOwnership
		}
		return c.swap(ctx, r)
	}
	c.l.drop(c)
	return commands.ErrLostOwnership
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
	// mayHavePosted: the earlier owner had begun to post reply.
	mayHavePosted bool

	prior     *commands.Write // what a previous owner was about to write
	priorWait time.Duration   // until that write can no longer land, as of the take-over
	// dataLost is when Redis was last found to have lost its data, as
	// known when the message was admitted as new.
	dataLost time.Time

	mu sync.Mutex
	// rec is the record as this claim last wrote it.
	rec record
	// specSendBy, when not zero, is the deadline of the intent the
	// admission recorded (rec.intent) with its locks: an Intend of the
	// same write, early enough, is that intent.
	specSendBy time.Time
	// armed: a write may be on its way (Intend returned), so a hand-over
	// keeps the intent.
	armed bool
	locks []string // lock keys held, with their value
}

func newClaim(l *Ledger, id string, token int64, payload []byte) *Claim {
	c := &Claim{l: l, id: id, token: token, value: id + ":" + strconv.FormatInt(token, 10), payload: payload}
	c.rec = record{state: stateActive, token: token, owner: l.opt.Process, payload: payload}
	return c
}

// current is a copy of the claim's record.
func (c *Claim) current() record {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rec
	r.owner, r.token = c.l.opt.Process, c.token
	return r
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

// MayHavePosted reports whether the earlier owner had begun to post
// Reply when it died or handed the message over: DingTalk may show it
// already, and nothing says whether it does.
func (c *Claim) MayHavePosted() bool { return c.mayHavePosted }

// lockValue marks a lock as this claim's: the message and its fencing token.
func (c *Claim) lockValue() string { return c.value }

func (c *Claim) heldLocks() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.locks)
}

// Locks are not released when their message settles: that would cost two
// commands per lock per message. A lock names its message and token, and
// one whose message has finished (its record delivered, undelivered, done,
// or gone) is free: the next message that wants it finds that out and
// takes it. A lock expires by itself a lease after its last renewal.

// acquireScript takes a lock for a message; a lock held by an earlier
// owner of the same message is taken over with it. It answers 1 when
// taken, else the holder's value.
var acquireScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[2] or string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ':' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return v
`)

// seizeScript takes a lock whose message has finished, unless it changed
// hands meanwhile.
var seizeScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
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

// finished reports, for the values of locks other messages hold, which of
// those messages have finished: their records say so, or are gone.
func (l *Ledger) finished(ctx context.Context, holders []string) ([]bool, error) {
	got := make([]*redis.StringCmd, len(holders))
	if _, err := l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range holders {
			id := h
			if at := strings.LastIndexByte(h, ':'); at >= 0 {
				id = h[:at]
			}
			got[i] = p.Get(ctx, l.recordKey(id))
		}
		return nil
	}); failure(err) != nil {
		return nil, unavailable("lock", err)
	}
	out := make([]bool, len(holders))
	for i, g := range got {
		v, err := g.Result()
		switch {
		case errors.Is(err, redis.Nil):
			out[i] = true
		case err != nil:
			// An older version's record (a hash): it releases its own locks.
		case v == recDelivered || strings.HasPrefix(v, recCarry):
			out[i] = true
		case strings.HasPrefix(v, recOwned):
			r, err := decodeRecord(v)
			out[i] = err == nil && r.state == stateDone
		}
	}
	return out, nil
}

// Serialize waits until this message alone holds every value (taken all
// at once, or none, so two messages never wait on each other), and holds
// them until the message is settled.
func (c *Claim) Serialize(ctx context.Context, values ...string) error {
	held := c.heldLocks()
	var keys []string
	for _, k := range c.l.lockKeys(values) {
		if !slices.Contains(held, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	value := c.lockValue()
	ttl := c.l.opt.Lease.Milliseconds()
	backoff := 25 * time.Millisecond
	for {
		got := make([]*redis.Cmd, len(keys))
		if _, err := c.l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				got[i] = acquireScript.Eval(ctx, p, []string{k}, c.id, value, ttl)
			}
			return nil
		}); err != nil {
			return unavailable("lock", err)
		}
		var taken, others, holders []string
		for i, g := range got {
			switch v := g.Val().(type) {
			case int64:
				taken = append(taken, keys[i])
			case string:
				others, holders = append(others, keys[i]), append(holders, v)
			}
		}
		if len(others) > 0 {
			// Locks of messages that finished are free.
			done, err := c.l.finished(ctx, holders)
			if err != nil {
				return err
			}
			for i, k := range others {
				if !done[i] {
					continue
				}
				n, err := seizeScript.Eval(ctx, c.l.s.rdb, []string{k}, holders[i], value, ttl).Int()
				if err != nil {
					return unavailable("lock", err)
				}
				if n == 1 {
					taken = append(taken, k)
				}
			}
		}
		if len(taken) == len(keys) {
			c.mu.Lock()
			c.locks = append(c.locks, keys...)
			c.mu.Unlock()
			return nil
		}
		if len(taken) > 0 {
			if _, err := c.l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range taken {
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

// intendHoldingScript takes the locks KEYS[2..] as acquireScript does
// (all of them, or none, answering -1) and records the intent as swapScript
// does, in one step: the locks and the intent of a write cost one round
// trip. Its keys are in different Cluster slots, so it runs on a single
// Redis only.
var intendHoldingScript = redis.NewScript(luaHeader + `
local prefix = ARGV[5] .. ':'
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v and v ~= ARGV[4] and string.sub(v, 1, string.len(prefix)) ~= prefix then return -1 end
end
local old = redis.pcall('SET', KEYS[1], ARGV[3], 'XX', 'GET', 'KEEPTTL')
if type(old) == 'table' and old.err then return 0 end
if not old then return -2 end
local h = header(old)
if not h or h.o ~= ARGV[1] or h.t ~= ARGV[2] then
  redis.call('SET', KEYS[1], old, 'KEEPTTL')
  return 0
end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[4], 'PX', ARGV[6]) end
return 1
`)

// specReuse is how much of its window the admission's intent must have
// left for Intend to take it as its own: the write needs the time.
const specReuse = 2

// Intend takes the values in hold (as Serialize does), records w before it
// is written, and extends the message's locks to outlive the write. The
// write must be sent before the returned time or not at all. When the
// admission recorded w already, with every value in hold, and most of its
// window is left, that is the intent: no round trip. On a single Redis,
// when nothing stands in the way, it is one round trip; otherwise (another
// message holds a value, or Redis Cluster, where one script cannot touch
// keys of several slots) Serialize waits for the values first.
func (c *Claim) Intend(ctx context.Context, w commands.Write, hold ...string) (time.Time, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return time.Time{}, fmt.Errorf("encode intent: %w", err)
	}
	if sendBy, ok := c.speculated(b, hold); ok {
		return sendBy, nil
	}
	var take []string
	if len(hold) > 0 {
		held := c.heldLocks()
		for _, k := range c.l.lockKeys(hold) {
			if !slices.Contains(held, k) {
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

// speculated reports whether the intent the admission recorded is b's,
// with the locks hold needs, and when it must be sent by; either way it
// is spent.
func (c *Claim) speculated(b []byte, hold []string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sendBy := c.specSendBy
	if sendBy.IsZero() {
		return time.Time{}, false
	}
	c.specSendBy = time.Time{}
	// How much is left is judged on the ledger's clock (the wall clock, but
	// for tests).
	if !bytes.Equal(b, c.rec.intent) || sendBy.Sub(c.l.opt.Now()) < c.l.opt.WriteWindow/specReuse {
		return time.Time{}, false
	}
	for _, k := range c.l.lockKeys(hold) {
		if !slices.Contains(c.locks, k) {
			return time.Time{}, false
		}
	}
	c.armed = true
	return sendBy, true
}

// intend records the intent b, taking the locks take with it; taken is
// false, and nothing changed, when another message holds one of them.
func (c *Claim) intend(ctx context.Context, b []byte, take []string) (sendBy time.Time, taken bool, err error) {
	start := time.Now() // before the intent is recorded
	sendBy = start.Add(c.l.opt.WriteWindow)
	r := c.current()
	r.intent, r.ia = b, start.UnixMilli()
	v := r.encode()
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
		intent = swapScript.Eval(ctx, p, []string{c.l.recordKey(c.id)}, c.l.proc, c.token, v)
	} else {
		keys := append([]string{c.l.recordKey(c.id)}, take...)
		intent = intendHoldingScript.Eval(ctx, p, keys, c.l.proc, c.token, v, c.lockValue(), c.id, ttl)
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
		// harmless, it lapses by itself.
		return time.Time{}, false, nil
	case 1:
		c.mu.Lock()
		c.rec = r
		c.mu.Unlock()
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
	c.mu.Lock()
	c.armed = true
	c.mu.Unlock()
	return sendBy, true, nil
}

func (c *Claim) clearIntent(ctx context.Context) error {
	c.mu.Lock()
	c.locks = nil
	c.mu.Unlock()
	r := c.current()
	r.intent, r.ia = nil, 0
	return c.swap(ctx, r)
}

// Prior is the write an earlier owner of the message recorded, and how long
// from the take-over until it can no longer land.
func (c *Claim) Prior() (commands.Write, time.Duration, bool) {
	if c.prior == nil {
		return commands.Write{}, 0, false
	}
	return *c.prior, c.priorWait, true
}

// settle moves the record to state (with reply for "done"), appends e to
// the audit trail when given, and lets the message's locks go: one round
// trip, two commands and the audit entry. It reports
// commands.ErrLostOwnership when the message has another owner now.
// Taking the message off the in-flight index waits for the next renewal,
// which does it for every message settled since in one command.
func (c *Claim) settle(ctx context.Context, state string, reply []byte, e *commands.AuditEntry) error {
	key := []string{c.l.recordKey(c.id)}
	var (
		moved *redis.Cmd
		r     record
		v     []byte
	)
	switch state {
	case stateDone:
		r = c.current()
		r.state, r.reply = stateDone, reply
		v = r.encode()
	case stateDelivered:
		v = []byte(recDelivered)
	case stateUndelivered:
		c.mu.Lock()
		v = append([]byte(recCarry), c.rec.reply...)
		c.mu.Unlock()
	}
	_, err := c.l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if state == "release" {
			moved = releaseRecordScript.Eval(ctx, p, key, c.l.proc, c.token)
		} else {
			moved = swapScript.EvalSha(ctx, p, key, c.l.proc, c.token, v)
		}
		if e != nil {
			p.XAdd(ctx, c.l.s.auditArgs(*e))
		}
		return nil
	})
	if err := failure(err); err != nil {
		return unavailable("settle", err)
	}
	if redis.HasErrorPrefix(moved.Err(), "NOSCRIPT") {
		// Redis restarted and forgot the script, which did not run: it
		// goes again whole, alone (the audit entry went out already).
		moved = swapScript.Eval(ctx, c.l.s.rdb, key, c.l.proc, c.token, v)
		if err := failure(moved.Err()); err != nil {
			return unavailable("settle", err)
		}
	}
	n, _ := moved.Int()
	if state != stateDone || n != 1 {
		c.mu.Lock()
		c.locks = nil
		c.mu.Unlock()
	}
	switch n {
	case 1:
	case vanished:
		if made, err := c.reclaim(ctx); err != nil || !made {
			c.l.settled(c)
			return cmp.Or(err, commands.ErrLostOwnership)
		}
		return c.settle(ctx, state, reply, nil) // the audit entry went out already
	default:
		c.l.settled(c)
		return commands.ErrLostOwnership
	}
	if state == stateDone {
		c.mu.Lock()
		c.rec = r
		c.locks = nil // the write is over: the locks are free
		c.mu.Unlock()
		return nil
	}
	c.l.settled(c)
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
	c.mu.Lock()
	if c.rec.reply == nil {
		c.rec.reply = c.reply // a reply carried over from an earlier owner
	}
	c.mu.Unlock()
	return c.settle(ctx, stateUndelivered, nil, nil)
}

// handedOver is the claim's record as a hand-over leaves it: without an
// owner, and without an intent no write can follow.
func (c *Claim) handedOver() record {
	r := c.current()
	r.owner = ""
	c.mu.Lock()
	if !c.armed {
		// No write has begun, and none may now without Redis's say (the
		// admission's intent is spent: an Intend records anew, fenced).
		r.intent, r.ia = nil, 0
		c.specSendBy = time.Time{}
	}
	c.mu.Unlock()
	return r
}

// HandOver gives the message up, keeping its intent and any reply, so that
// another process's sweep or a re-delivery finishes it.
func (c *Claim) HandOver(ctx context.Context) error {
	r := c.handedOver()
	n, err := swapScript.Eval(ctx, c.l.s.rdb, []string{c.l.recordKey(c.id)}, c.l.proc, c.token, r.encode()).Int()
	if err == nil && n == vanished {
		var made bool
		if made, err = c.reclaim(ctx); err == nil && made {
			n, err = swapScript.Eval(ctx, c.l.s.rdb, []string{c.l.recordKey(c.id)}, c.l.proc, c.token, r.encode()).Int()
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

// Release forgets the message, which had no effect, so that a re-delivery
// runs it; e is its audit entry.
func (c *Claim) Release(ctx context.Context, e commands.AuditEntry) error {
	return c.settle(ctx, "release", nil, &e)
}

// Posting records, before the reply kept with the message (Finish) is
// posted, that it may be on its way: a process that takes the message
// over later does not post it again (MayHavePosted), preferring a missing
// reply to a duplicate, since DingTalk offers no way to ask whether a post
// arrived. NotPosted takes the mark back once a post is known to have
// failed; Delivered and Undeliverable clear it.
func (c *Claim) Posting(ctx context.Context) error { return c.markPosting(ctx, true) }

// NotPosted records that no post of the reply is on its way.
func (c *Claim) NotPosted(ctx context.Context) error { return c.markPosting(ctx, false) }

func (c *Claim) markPosting(ctx context.Context, on bool) error {
	r := c.current()
	r.posting = on
	return c.swap(ctx, r)
}
