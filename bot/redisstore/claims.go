package redisstore

// A claim: this process's ownership of one message, as of one fencing
// token, and everything it records of the message's life (locks, intent,
// outcome, reply), each step fenced by owner and token.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
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

	mu    sync.Mutex
	locks []string // lock keys held, with their value
}

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
  redis.call('HDEL', KEYS[1], 'p', 'i', 'ia', 'r', 'pf')
  redis.call('HSET', KEYS[1], 's', 'delivered', 'o', '')
elseif s == 'done' then
  redis.call('HSET', KEYS[1], 's', 'done', 'r', ARGV[4])
elseif s == 'undelivered' then
  redis.call('HDEL', KEYS[1], 'p', 'i', 'ia', 'pf')
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

// Release forgets the message, which had no effect, so that a re-delivery
// runs it; e is its audit entry.
func (c *Claim) Release(ctx context.Context, e commands.AuditEntry) error {
	return c.settle(ctx, "release", nil, &e)
}

// postingScript marks (ARGV[3] = 1) or unmarks a reply's post as in
// flight.
var postingScript = redis.NewScript(fenced + `
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'pf', 1) else redis.call('HDEL', KEYS[1], 'pf') end
return 1
`)

// Posting records, before the reply kept with the message (Finish) is
// posted, that it may be on its way: a process that takes the message
// over later does not post it again (MayHavePosted), preferring a missing
// reply to a duplicate, since DingTalk offers no way to ask whether a post
// arrived. NotPosted takes the mark back once a post is known to have
// failed; Delivered and Undeliverable clear it.
func (c *Claim) Posting(ctx context.Context) error { return c.markPosting(ctx, "1") }

// NotPosted records that no post of the reply is on its way.
func (c *Claim) NotPosted(ctx context.Context) error { return c.markPosting(ctx, "0") }

func (c *Claim) markPosting(ctx context.Context, on string) error {
	n, err := postingScript.Eval(ctx, c.l.s.rdb, []string{c.l.recordKey(c.id)}, c.l.proc, c.token, on).Int()
	if err != nil {
		return unavailable("posting", err)
	}
	if n != 1 { // gone (the reply is lost with it) or somebody else's
		return commands.ErrLostOwnership
	}
	return nil
}
