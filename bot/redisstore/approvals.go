package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/armsbot/armsbot/commands"
)

// A request waiting for a second person is one hash under its code,
// shared by every replica: the request ("data") and, once decided, the
// message that decided it ("decided"). It expires with the request.

var _ commands.Approvals = (*Store)(nil)

// decidedKeep is how long a decided request stays past its expiry: a
// take-over of the message that decided it must still find it.
const decidedKeep = time.Hour

var requestScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1`)

// decideScript marks the request decided by ARGV[1] unless another
// message did: {0} gone, {1, data} decided by this message (now or
// before), {2, data} decided by another.
var decideScript = redis.NewScript(`
local d = redis.call('HMGET', KEYS[1], 'data', 'decided')
if not d[1] then return {0} end
if not d[2] or d[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'decided', ARGV[1])
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return {1, d[1]}
end
return {2, d[1]}`)

// Request keeps a until a.Expires; false when its code is taken.
func (s *Store) Request(ctx context.Context, a commands.Approval) (bool, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("encode approval request: %w", err)
	}
	n, err := requestScript.Run(ctx, s.rdb, []string{s.key("approval", a.Code)}, b, a.Expires.UnixMilli()).Int()
	if err != nil {
		return false, unavailable("request approval", err)
	}
	return n == 1, nil
}

// Approval returns the request under code, and the message that decided
// it, if one did.
func (s *Store) Approval(ctx context.Context, code string) (commands.Approval, string, bool, error) {
	v, err := s.rdb.HMGet(ctx, s.key("approval", code), "data", "decided").Result()
	if err != nil {
		return commands.Approval{}, "", false, unavailable("read approval", err)
	}
	data, _ := v[0].(string)
	if data == "" {
		return commands.Approval{}, "", false, nil
	}
	a, err := decodeApproval(data)
	decided, _ := v[1].(string)
	return a, decided, err == nil, err
}

// Decide marks the request decided by msgID, once.
func (s *Store) Decide(ctx context.Context, code, msgID string) (commands.Approval, commands.ApprovalState, error) {
	v, err := decideScript.Run(ctx, s.rdb, []string{s.key("approval", code)}, msgID, decidedKeep.Milliseconds()).Slice()
	if err != nil {
		return commands.Approval{}, 0, unavailable("decide approval", err)
	}
	if len(v) < 2 {
		return commands.Approval{}, commands.ApprovalNotFound, nil
	}
	data, _ := v[1].(string)
	a, err := decodeApproval(data)
	if err != nil {
		return commands.Approval{}, 0, err
	}
	if n, _ := v[0].(int64); n == 1 {
		return a, commands.ApprovalTaken, nil
	}
	return a, commands.ApprovalDecided, nil
}

func decodeApproval(data string) (commands.Approval, error) {
	var a commands.Approval
	if err := json.Unmarshal([]byte(data), &a); err != nil {
		return commands.Approval{}, errors.Join(errors.New("decode approval request"), err)
	}
	return a, nil
}
