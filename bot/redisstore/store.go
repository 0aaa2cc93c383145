// Package redisstore keeps the bot's shared state in Redis: message claims
// for de-duplication and per-user permission scopes. It is the only package
// that talks to Redis.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/armsbot/armsbot/commands"
)

// MinClaimTTL: a claim must outlive DingTalk's one-hour signature window and
// the roughly 90-minute life of a sessionWebhook, or a late re-delivery
// could run a command twice.
const MinClaimTTL = 2 * time.Hour

// Store is safe for concurrent use.
type Store struct {
	rdb      redis.UniversalClient
	prefix   string
	claimTTL time.Duration
}

// New returns a store whose keys all start with prefix.
func New(rdb redis.UniversalClient, prefix string, claimTTL time.Duration) *Store {
	return &Store{rdb: rdb, prefix: prefix, claimTTL: claimTTL}
}

func (s *Store) msgKey(id string) string    { return s.prefix + "msg:" + id }
func (s *Store) permKey(user string) string { return s.prefix + "perm:" + user }

// unavailable marks a Redis failure so that callers answer "try later" and
// never go on to call ARMS.
func unavailable(op string, err error) error {
	return fmt.Errorf("redis %s: %w: %w", op, commands.ErrUnavailable, err)
}

// Claim atomically takes msgID for this delivery. It returns false when
// another delivery (on any replica) already holds or finished it.
func (s *Store) Claim(ctx context.Context, msgID string) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.msgKey(msgID), "processing", s.claimTTL).Result()
	if err != nil {
		return false, unavailable("claim", err)
	}
	return ok, nil
}

// Finish marks a claimed message done, keeping the claim for its TTL so
// re-deliveries stay ignored.
func (s *Store) Finish(ctx context.Context, msgID string) error {
	if err := s.rdb.SetArgs(ctx, s.msgKey(msgID), "done", redis.SetArgs{Mode: "XX", KeepTTL: true}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return unavailable("finish", err)
	}
	return nil
}

// Release gives a claim back, so that a re-delivery can retry a message
// that failed before it had any effect.
func (s *Store) Release(ctx context.Context, msgID string) error {
	if err := s.rdb.Del(ctx, s.msgKey(msgID)).Err(); err != nil {
		return unavailable("release", err)
	}
	return nil
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
	scope = strings.TrimSpace(scope)
	if user == "" || scope == "" {
		return errors.New("grant: empty user or scope")
	}
	if err := s.rdb.SAdd(ctx, s.permKey(user), scope).Err(); err != nil {
		return unavailable("grant", err)
	}
	return nil
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

func (s *Store) confirmKey(user, code string) string {
	return s.prefix + "confirm:" + user + ":" + code
}

// Propose keeps p under user's code for ttl. The user is part of the key,
// so nobody else can confirm or cancel it. It returns false when the code
// is already taken.
func (s *Store) Propose(ctx context.Context, user, code string, p commands.Pending, ttl time.Duration) (bool, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("encode pending action: %w", err)
	}
	ok, err := s.rdb.SetNX(ctx, s.confirmKey(user, code), b, ttl).Result()
	if err != nil {
		return false, unavailable("propose", err)
	}
	return ok, nil
}

// Take removes and returns user's pending action under code, in one atomic
// step so that a code is used at most once even when confirmed twice at once.
func (s *Store) Take(ctx context.Context, user, code string) (commands.Pending, bool, error) {
	b, err := s.rdb.GetDel(ctx, s.confirmKey(user, code)).Bytes()
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
