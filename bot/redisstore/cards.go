package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// CardRecord is what the bot keeps of a card it sent: what a click on it
// may do, where, and until when.
type CardRecord struct {
	Kind             string    `json:"kind"` // confirm or approval
	Code             string    `json:"code"`
	Requester        string    `json:"requester"`
	ConversationID   string    `json:"conversation_id"`
	ConversationType string    `json:"conversation_type"`
	RobotCode        string    `json:"robot_code,omitempty"`
	Expires          time.Time `json:"expires"`
}

// cardKeep is how long a card's record outlives its code: a click in
// that time is told that the card expired, rather than that nobody knows
// it.
const cardKeep = 24 * time.Hour

// RememberCard keeps rec for the card outTrackID until a day after it
// expires.
func (s *Store) RememberCard(ctx context.Context, outTrackID string, rec CardRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode card record: %w", err)
	}
	if err := s.rdb.Set(ctx, s.key("card", outTrackID), b, time.Until(rec.Expires)+cardKeep).Err(); err != nil {
		return unavailable("remember card", err)
	}
	return nil
}

// Card returns the record of the card outTrackID.
func (s *Store) Card(ctx context.Context, outTrackID string) (CardRecord, bool, error) {
	b, err := s.rdb.Get(ctx, s.key("card", outTrackID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return CardRecord{}, false, nil
	}
	if err != nil {
		return CardRecord{}, false, unavailable("read card", err)
	}
	var rec CardRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return CardRecord{}, false, fmt.Errorf("decode card record: %w", err)
	}
	return rec, true, nil
}
