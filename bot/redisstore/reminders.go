package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Whose contact a contact is, and reminders of phones ARMS will not call
// until they are verified. The reminder keys share the hash tag {remind},
// so that the script that takes due ones stays within one Cluster slot.

func (s *Store) ownerKey(contactID string) string    { return s.key("owner", contactID) }
func (s *Store) remindersKey() string                { return s.opt.Prefix + "{remind}" }
func (s *Store) reminderKey(contactID string) string { return s.opt.Prefix + "{remind}:" + contactID }

// SetOwner records that contactID is staffID's contact.
func (s *Store) SetOwner(ctx context.Context, contactID, staffID string) error {
	if err := s.rdb.Set(ctx, s.ownerKey(contactID), staffID, 0).Err(); err != nil {
		return unavailable("set owner", err)
	}
	return nil
}

// Owner is whose contact contactID is; "" when nobody is known.
func (s *Store) Owner(ctx context.Context, contactID string) (string, error) {
	v, err := s.rdb.Get(ctx, s.ownerKey(contactID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", unavailable("owner", err)
	}
	return v, nil
}

// Reminder is a contact whose phone is not verified, and the message
// whose sender is to be reminded, where it was sent.
type Reminder struct {
	ContactID string
	Message   []byte // the message as it arrived
}

// Remind schedules a reminder about contactID for the sender of message,
// first at due; it replaces one scheduled before.
func (s *Store) Remind(ctx context.Context, contactID string, message []byte, due time.Time) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.reminderKey(contactID), message, 0)
		p.ZAdd(ctx, s.remindersKey(), redis.Z{Score: float64(due.UnixMilli()), Member: contactID})
		return nil
	})
	if err != nil {
		return unavailable("remind", err)
	}
	return nil
}

// dueScript takes up to ARGV[3] reminders due by ARGV[1] (ms) and moves
// each to ARGV[2] (ms), the next period, in one step: however many
// replicas ask, each due reminder goes to one of them once a period.
var dueScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id) end
return ids
`)

// DueReminders takes the reminders due at now, at most max, and schedules
// each again a period later.
func (s *Store) DueReminders(ctx context.Context, now time.Time, period time.Duration, max int) ([]Reminder, error) {
	ids, err := dueScript.Eval(ctx, s.rdb, []string{s.remindersKey()}, now.UnixMilli(), now.Add(period).UnixMilli(), max).StringSlice()
	if err != nil {
		return nil, unavailable("due reminders", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.reminderKey(id)
	}
	msgs, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, unavailable("due reminders", err)
	}
	out := make([]Reminder, 0, len(ids))
	for i, id := range ids {
		m, _ := msgs[i].(string)
		out = append(out, Reminder{ContactID: id, Message: []byte(m)})
	}
	return out, nil
}

// ForgetReminder ends the reminders about contactID: its phone is
// verified, or it is gone.
func (s *Store) ForgetReminder(ctx context.Context, contactID string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.remindersKey(), contactID)
		p.Del(ctx, s.reminderKey(contactID))
		return nil
	})
	if err != nil {
		return unavailable("forget reminder", err)
	}
	return nil
}
