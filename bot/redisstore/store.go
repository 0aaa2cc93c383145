// Package redisstore owns everything Redis: the client (built from
// REDIS_URL in every form it takes, with its timeouts and hooks, or an
// embedded server when there is none) and the bot's shared state kept there:
// the ledger of messages (ledger.go: ownership, intents, replies, rate
// limits), permission scopes, confirmation codes and the audit stream. It
// is the only package that talks to Redis. Every step that reads and then
// writes is one atomic command or script, so replicas sharing one Redis
// never both pass it.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/armsbot/armsbot/commands"
)

// MinClaimTTL: a claim must outlive DingTalk's one-hour signature window and
// the roughly 90-minute life of a sessionWebhook, or a late re-delivery
// could run a command twice.
const MinClaimTTL = 2 * time.Hour

// Options are the store's settings.
type Options struct {
	Prefix      string        // every key starts with it
	ClaimTTL    time.Duration // how long a message id is remembered
	RatePerMin  int           // commands per user per minute; 0 disables the limit
	AuditMaxLen int64         // approximate length the audit stream is trimmed to
}

// Store is safe for concurrent use.
type Store struct {
	rdb     redis.UniversalClient
	opt     Options
	closers []func()
	// clustered: a script may touch one key's slot only.
	clustered bool
}

// New returns a store over rdb; Open builds the client from a URL.
func New(rdb redis.UniversalClient, opt Options) *Store {
	if opt.AuditMaxLen <= 0 {
		opt.AuditMaxLen = 10000
	}
	_, clustered := rdb.(*redis.ClusterClient)
	return &Store{rdb: rdb, opt: opt, clustered: clustered}
}

// key joins parts under the prefix; the common one- and two-part keys are
// built in one allocation, as every message builds several.
func (s *Store) key(parts ...string) string {
	switch len(parts) {
	case 1:
		return s.opt.Prefix + parts[0]
	case 2:
		return s.opt.Prefix + parts[0] + ":" + parts[1]
	}
	return s.opt.Prefix + strings.Join(parts, ":")
}

// Permission keys share the hash tag {perm}, so that scripts and
// transactions touching a user's scopes and the holders index stay within
// one Redis Cluster slot.
func (s *Store) permKey(user string) string { return s.opt.Prefix + "{perm}:u:" + user }
func (s *Store) holdersKey() string         { return s.opt.Prefix + "{perm}:holders" }

// unavailable marks a Redis failure so that callers answer "try later" and
// never go on to call ARMS.
func unavailable(op string, err error) error {
	return fmt.Errorf("redis %s: %w: %w", op, commands.ErrUnavailable, err)
}

// Scopes returns the scopes granted to user.
func (s *Store) Scopes(ctx context.Context, user string) ([]string, error) {
	m, err := s.rdb.SMembers(ctx, s.permKey(user)).Result()
	if err != nil {
		return nil, unavailable("load scopes", err)
	}
	return m, nil
}

// Grant adds scope to user; granting twice is harmless.
func (s *Store) Grant(ctx context.Context, user, scope string) error {
	if user == "" || scope == "" {
		return errors.New("grant: empty user or scope")
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, s.permKey(user), scope)
		p.SAdd(ctx, s.holdersKey(), user)
		return nil
	})
	if err != nil {
		return unavailable("grant", err)
	}
	return nil
}

// revokeScript removes a scope and, with the last one, the user from the
// holders index, atomically.
var revokeScript = redis.NewScript(`
local n = redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return n
`)

// Revoke removes scope from user and reports whether they held it.
func (s *Store) Revoke(ctx context.Context, user, scope string) (bool, error) {
	n, err := revokeScript.Run(ctx, s.rdb, []string{s.permKey(user), s.holdersKey()}, scope, user).Int()
	if err != nil {
		return false, unavailable("revoke", err)
	}
	return n > 0, nil
}

// Holders returns every user with at least one grant.
func (s *Store) Holders(ctx context.Context) ([]string, error) {
	m, err := s.rdb.SMembers(ctx, s.holdersKey()).Result()
	if err != nil {
		return nil, unavailable("list holders", err)
	}
	return m, nil
}

// Propose keeps p under user's code for ttl. The user is part of the key,
// so nobody else can confirm or cancel it. It returns false when the code
// is already taken.
func (s *Store) Propose(ctx context.Context, user, code string, p commands.Pending, ttl time.Duration) (bool, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("encode pending action: %w", err)
	}
	ok, err := s.rdb.SetNX(ctx, s.key("confirm", user, code), b, ttl).Result()
	if err != nil {
		return false, unavailable("propose", err)
	}
	return ok, nil
}

// Take removes and returns user's pending action under code, in one atomic
// step so that a code is used at most once even when confirmed twice at once.
func (s *Store) Take(ctx context.Context, user, code string) (commands.Pending, bool, error) {
	b, err := s.rdb.GetDel(ctx, s.key("confirm", user, code)).Bytes()
	if errors.Is(err, redis.Nil) {
		return commands.Pending{}, false, nil
	}
	if err != nil {
		return commands.Pending{}, false, unavailable("take", err)
	}
	var p commands.Pending
	if err := json.Unmarshal(b, &p); err != nil {
		return commands.Pending{}, false, fmt.Errorf("decode pending action: %w", err)
	}
	return p, true, nil
}

func (s *Store) auditArgs(e commands.AuditEntry) *redis.XAddArgs {
	return &redis.XAddArgs{
		Stream: s.key("audit"),
		MaxLen: s.opt.AuditMaxLen,
		Approx: true,
		// Every field is bounded, most come from the unsigned body: an
		// entry holds at most MaxAuditEntryBytes, whatever is sent.
		Values: []any{
			"time", e.Time.UnixMilli(),
			"msg_id", clip(e.MsgID, 128),
			"sender", clip(e.SenderID, 128),
			"nick", clip(e.SenderNick, 128),
			"conversation", clip(e.ConversationID, 128),
			"command", clip(e.Command, 64),
			"args", clip(e.Args, 512),
			"outcome", clip(e.Outcome, 32),
			"arms_request_id", clip(e.RequestID, 64),
			"contact_id", clip(e.ContactID, 32),
			"contacts", clip(strings.Join(e.Contacts, " "), 256),
			"group_id", clip(e.GroupID, 32),
			"request_id", clip(e.RequestRef, 64),
			"robot_id", clip(e.RobotID, 32),
			"policies", clip(strings.Join(e.Policies, "\n"), 512),
			"approval", clip(e.Approval, 16),
			"requested_by", clip(e.RequestedBy, 128),
		},
	}
}

// MaxAuditEntryBytes bounds the values of one audit entry (the field
// names and Redis's own overhead come on top).
const MaxAuditEntryBytes = 13 + 128*4 + 64 + 512 + 32 + 64 + 32 + 256 + 32 + 64 + 32 + 512 + 16 + 128

// clip cuts s to at most n bytes, at a character boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Audit appends one entry to the audit stream.
func (s *Store) Audit(ctx context.Context, e commands.AuditEntry) error {
	if err := s.rdb.XAdd(ctx, s.auditArgs(e)).Err(); err != nil {
		return unavailable("audit", err)
	}
	return nil
}

// auditScan bounds how far back /audit user=... looks.
const auditScan = 2000

// Recent returns up to n audit entries, newest first, only user's when user
// is not empty.
func (s *Store) Recent(ctx context.Context, n int, user string) ([]commands.AuditEntry, error) {
	if user == "" {
		return s.scan(ctx, n, int64(n), func(commands.AuditEntry) bool { return true })
	}
	return s.scan(ctx, n, auditScan, func(e commands.AuditEntry) bool { return e.SenderID == user })
}

// Touching returns up to n audit entries that touched the contact, newest
// first, looking back at most auditScan entries.
func (s *Store) Touching(ctx context.Context, contactID string, n int) ([]commands.AuditEntry, error) {
	return s.scan(ctx, n, auditScan, func(e commands.AuditEntry) bool {
		return e.ContactID == contactID || slices.Contains(e.Contacts, contactID)
	})
}

// scan reads the newest entries, at most count, and keeps up to n that
// match.
func (s *Store) scan(ctx context.Context, n int, count int64, match func(commands.AuditEntry) bool) ([]commands.AuditEntry, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, s.key("audit"), "+", "-", count).Result()
	if err != nil {
		return nil, unavailable("read audit", err)
	}
	var out []commands.AuditEntry
	for _, m := range msgs {
		if e := decodeAudit(m.Values); match(e) {
			out = append(out, e)
			if len(out) == n {
				break
			}
		}
	}
	return out, nil
}

func decodeAudit(v map[string]any) commands.AuditEntry {
	str := func(k string) string { s, _ := v[k].(string); return s }
	ms, _ := strconv.ParseInt(str("time"), 10, 64)
	var contacts []string
	if s := str("contacts"); s != "" {
		contacts = strings.Fields(s)
	}
	var policies []string
	if s := str("policies"); s != "" {
		policies = strings.Split(s, "\n")
	}
	return commands.AuditEntry{
		Time: time.UnixMilli(ms), MsgID: str("msg_id"), SenderID: str("sender"), SenderNick: str("nick"),
		ConversationID: str("conversation"), Command: str("command"), Args: str("args"), Outcome: str("outcome"),
		RequestID: str("arms_request_id"), ContactID: str("contact_id"), Contacts: contacts,
		GroupID: str("group_id"), RequestRef: str("request_id"), RobotID: str("robot_id"), Policies: policies,
		Approval: str("approval"), RequestedBy: str("requested_by"),
	}
}

// Persistence says how Redis keeps its data across a restart: "aof",
// "snapshots" (RDB only: a restart loses what changed since the last one),
// or "none". ok is false when Redis does not say (managed Redis often
// refuses CONFIG).
func (s *Store) Persistence(ctx context.Context) (mode string, ok bool) {
	c, isClient := s.rdb.(*redis.Client)
	if !isClient {
		return "", false // a Cluster or Sentinel: ask the operator's console
	}
	aof, err := c.ConfigGet(ctx, "appendonly").Result()
	if err != nil || aof["appendonly"] == "" {
		return "", false
	}
	if aof["appendonly"] == "yes" {
		return "aof", true
	}
	save, err := c.ConfigGet(ctx, "save").Result()
	if err != nil {
		return "", false
	}
	if save["save"] != "" {
		return "snapshots", true
	}
	return "none", true
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}
