// Package dingtalk speaks DingTalk's robot protocol and nothing else: the
// message DingTalk delivers to a robot, the callback signature, reply
// bodies, the sessionWebhook client with its allow-list, the robot OpenAPI
// client, the Stream-mode client, the organisation directory (the core's
// Directory port), and what DingTalk's error codes mean. It also builds signed,
// real-shaped callbacks, for tests, `bot send` and the load generator.
package dingtalk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Millis is a time in milliseconds since the epoch. It decodes from a JSON
// number or a numeric string: the documentation types createAt as a string
// while every sample sends a number.
type Millis int64

// MillisOf returns t in milliseconds.
func MillisOf(t time.Time) Millis { return Millis(t.UnixMilli()) }

// Time returns ms as a time.
func (ms Millis) Time() time.Time { return time.UnixMilli(int64(ms)) }

func (ms *Millis) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 || string(b) == "null" {
		*ms = 0
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return err
	}
	*ms = Millis(n)
	return nil
}

// Message is a robot message as DingTalk delivers it: the body of an HTTP
// callback, and the data of a Stream frame.
type Message struct {
	MsgID                     string          `json:"msgId"`
	MsgType                   string          `json:"msgtype"`
	CreateAt                  Millis          `json:"createAt,omitempty"`
	ConversationType          string          `json:"conversationType,omitempty"` // "1" one-to-one, "2" group
	ConversationID            string          `json:"conversationId,omitempty"`
	ConversationTitle         string          `json:"conversationTitle,omitempty"`
	SenderID                  string          `json:"senderId,omitempty"`
	SenderNick                string          `json:"senderNick,omitempty"`
	SenderCorpID              string          `json:"senderCorpId,omitempty"`
	SenderStaffID             string          `json:"senderStaffId,omitempty"`
	SenderUnionID             string          `json:"senderUnionId,omitempty"`
	SenderPlatform            string          `json:"senderPlatform,omitempty"`
	ChatbotCorpID             string          `json:"chatbotCorpId,omitempty"`
	ChatbotUserID             string          `json:"chatbotUserId,omitempty"`
	RobotCode                 string          `json:"robotCode,omitempty"`
	IsAdmin                   bool            `json:"isAdmin,omitempty"`
	IsInAtList                bool            `json:"isInAtList,omitempty"`
	SessionWebhook            string          `json:"sessionWebhook,omitempty"`
	SessionWebhookExpiredTime Millis          `json:"sessionWebhookExpiredTime,omitempty"`
	AtUsers                   []AtUser        `json:"atUsers,omitempty"`
	Text                      Text            `json:"text,omitzero"`
	Content                   json.RawMessage `json:"content,omitempty"` // non-text messages, keyed by msgtype
	// CardTrack is set by the bot itself on a click it turned into a
	// message: the reply updates that card. DingTalk never sends it, and
	// the webhook and the stream clear it (ClearBotFields), so that a
	// forged body cannot point a reply at a card.
	CardTrack string `json:"armsbotCardTrack,omitempty"`
}

// ClearBotFields empties what only the bot itself sets on a message.
func (m *Message) ClearBotFields() { m.CardTrack = "" }

// Text is the content of a text message.
type Text struct {
	Content string `json:"content"`
}

// AtUser is someone @-mentioned in a message; the robot itself is listed
// too, under its chatbotUserId.
type AtUser struct {
	DingtalkID string `json:"dingtalkId"`
	StaffID    string `json:"staffId,omitempty"`
	UnionID    string `json:"unionId,omitempty"`
}

// ErrNoMsgID: a message without the id that de-duplication keys on.
var ErrNoMsgID = errors.New("msgId is required")

// ErrAmbiguous: a body that could be read more than one way (a key twice,
// two keys that differ only in case, data after the object), or an id no
// DingTalk message has (longer than 256 bytes). The body is not signed:
// with encoding/json's last-one-wins a forged body could carry a
// senderStaffId the guards never saw.
var ErrAmbiguous = errors.New("ambiguous message body")

// DecodeMessage reads one message. Errors from r (a body limit, say) come
// back wrapped; a message without a msgId is ErrNoMsgID; a body that a
// reader could take two ways is ErrAmbiguous.
//
// It decodes with encoding/json's v2 design (github.com/go-json-experiment/json):
// duplicate member names are an error rather than last-one-wins, at every
// depth, and names are matched to fields ignoring case (and, as v2 folds
// them, '-' and '_'), so that two spellings of one field are a duplicate
// too; anything after the object is an error. It is also several times
// cheaper than walking encoding/json's tokens.
func DecodeMessage(r io.Reader) (Message, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return Message{}, fmt.Errorf("read message: %w", err)
	}
	var m Message
	if err := jsonv2.Unmarshal(raw, &m, jsonv2.MatchCaseInsensitiveNames(true)); err != nil {
		if trailing(raw) {
			return Message{}, fmt.Errorf("%w: data after the message", ErrAmbiguous)
		}
		return Message{}, decodeError(err)
	}
	if m.MsgID == "" {
		return Message{}, ErrNoMsgID
	}
	// Ids become Redis keys and audit fields; DingTalk's are under 100
	// bytes.
	for name, id := range map[string]string{"msgId": m.MsgID, "senderStaffId": m.SenderStaffID, "senderId": m.SenderID, "conversationId": m.ConversationID} {
		if len(id) > maxIDBytes {
			return Message{}, fmt.Errorf("%w: %s is %d bytes long", ErrAmbiguous, name, len(id))
		}
	}
	return m, nil
}

// trailing reports whether raw holds a whole JSON value and then more: v2
// refuses that too, but with an error that does not say so.
func trailing(raw []byte) bool {
	dec := jsontext.NewDecoder(bytes.NewReader(raw), jsontext.AllowDuplicateNames(true))
	if _, err := dec.ReadValue(); err != nil {
		return false
	}
	_, err := dec.ReadToken()
	return err != io.EOF
}

func decodeError(err error) error {
	if errors.Is(err, jsontext.ErrDuplicateName) {
		return fmt.Errorf("%w: %v", ErrAmbiguous, err)
	}
	return fmt.Errorf("decode message: %w", err)
}

// maxIDBytes bounds every id a message carries.
const maxIDBytes = 256

// IsText reports whether m is a text message, the only kind with commands.
func (m *Message) IsText() bool { return m.MsgType == "text" }

// UserID is the id permissions are keyed by: the staff id. It is empty for
// a sender DingTalk does not identify (an external member, or any sender
// before the robot is published), who is anonymous and holds nothing: the
// senderId the body carries instead is never taken for an identity, since
// the body is not signed and a forged one could name an admin's staff id
// there.
func (m *Message) UserID() string { return m.SenderStaffID }

// RateKey is whom the rate limit counts a message against: the staff id,
// or, for an anonymous sender, the sender id DingTalk gave.
func (m *Message) RateKey() string {
	if m.SenderStaffID != "" {
		return m.SenderStaffID
	}
	return "anon:" + m.SenderID
}

// OneToOne reports whether m positively comes from a one-to-one chat
// (conversationType "1"). Anything else, a group ("2"), a type DingTalk may
// add, or none at all, is read by others: replies mask personal data.
func (m *Message) OneToOne() bool { return m.ConversationType == "1" }

// Mentions lists the staff ids of the people @-mentioned, leaving out the
// robot itself (which DingTalk lists with the robot's user id).
func (m *Message) Mentions() []string {
	var out []string
	for _, u := range m.AtUsers {
		if u.StaffID != "" && u.DingtalkID != m.ChatbotUserID {
			out = append(out, u.StaffID)
		}
	}
	return out
}

// Command is the text the sender typed after @-mentioning the robot.
func (m *Message) Command() string { return CleanText(m.Text.Content) }

// sessionMargin: a sessionWebhook this close to expiry is treated as gone,
// so that a reply is not sent to it just as it dies.
const sessionMargin = 5 * time.Second

// SessionUsable reports whether m's sessionWebhook may still carry a reply
// at now. A message that does not say when it expires is taken to live.
func (m *Message) SessionUsable(now time.Time) bool {
	return m.SessionWebhook != "" &&
		(m.SessionWebhookExpiredTime == 0 || m.SessionWebhookExpiredTime.Time().After(now.Add(sessionMargin)))
}

// CleanText strips what precedes a command: white space, and any leading
// @name tokens DingTalk leaves in the text. It stops at the first word that
// does not start with '@', so email=a@b.com survives.
func CleanText(s string) string {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	for strings.HasPrefix(s, "@") || strings.HasPrefix(s, "＠") {
		end := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '/' || r == '／' })
		if end < 0 {
			return ""
		}
		s = strings.TrimLeftFunc(s[end:], unicode.IsSpace)
	}
	return strings.TrimRightFunc(s, unicode.IsSpace)
}
