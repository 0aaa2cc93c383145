// Package dingtalk speaks DingTalk's robot protocol and nothing else: the
// message DingTalk delivers to a robot, the callback signature, reply
// bodies, the sessionWebhook client with its allow-list, the robot OpenAPI
// client, and what DingTalk's error codes mean. It also builds signed,
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
}

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

// DecodeMessage reads one message. Errors from r (a body limit, say) come
// back wrapped; a message without a msgId is ErrNoMsgID.
func DecodeMessage(r io.Reader) (Message, error) {
	var m Message
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return Message{}, fmt.Errorf("decode message: %w", err)
	}
	if m.MsgID == "" {
		return Message{}, ErrNoMsgID
	}
	return m, nil
}

// IsText reports whether m is a text message, the only kind with commands.
func (m *Message) IsText() bool { return m.MsgType == "text" }

// UserID is the id permissions are keyed by: the staff id, or the encrypted
// sender id for external members, who have none.
func (m *Message) UserID() string {
	if m.SenderStaffID != "" {
		return m.SenderStaffID
	}
	return m.SenderID
}

// Group reports whether m comes from a group chat.
func (m *Message) Group() bool { return m.ConversationType == "2" }

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
