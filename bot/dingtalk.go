package bot

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// DingTalk robot HTTP-mode protocol: the callback signature, the message
// body, and the reply bodies.

// maxSkew is DingTalk's documented validity window for a callback timestamp.
const maxSkew = time.Hour

var (
	errNoSignature  = errors.New("missing timestamp or sign header")
	errBadTimestamp = errors.New("timestamp is not milliseconds since the epoch")
	errStale        = errors.New("timestamp outside the one-hour window")
	errBadSignature = errors.New("signature does not match")
)

// Sign computes the callback signature:
// Base64(HMAC-SHA256(key=appSecret, timestamp+"\n"+appSecret)).
func Sign(timestamp, appSecret string) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(timestamp + "\n" + appSecret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// verifier checks callback signatures against an injected clock.
type verifier struct {
	secret string
	now    func() time.Time
}

func (v verifier) verify(timestamp, sign string) error {
	if timestamp == "" || sign == "" {
		return errNoSignature
	}
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errBadTimestamp
	}
	d := v.now().Sub(time.UnixMilli(ms))
	if d > maxSkew || d < -maxSkew {
		return errStale
	}
	if !hmac.Equal([]byte(Sign(timestamp, v.secret)), []byte(sign)) {
		return errBadSignature
	}
	return nil
}

// flexInt64 decodes a JSON number or a numeric string: the documentation
// types createAt as String while every sample sends a number.
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 || string(b) == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return err
	}
	*f = flexInt64(n)
	return nil
}

// inbound is the callback body of a robot message.
type inbound struct {
	MsgID                     string    `json:"msgId"`
	MsgType                   string    `json:"msgtype"`
	CreateAt                  flexInt64 `json:"createAt"`
	ConversationType          string    `json:"conversationType"` // "1" one-to-one, "2" group
	ConversationID            string    `json:"conversationId"`
	ConversationTitle         string    `json:"conversationTitle"`
	SenderID                  string    `json:"senderId"`
	SenderNick                string    `json:"senderNick"`
	SenderCorpID              string    `json:"senderCorpId"`
	SenderStaffID             string    `json:"senderStaffId"`
	SenderUnionID             string    `json:"senderUnionId"`
	SenderPlatform            string    `json:"senderPlatform"`
	ChatbotCorpID             string    `json:"chatbotCorpId"`
	ChatbotUserID             string    `json:"chatbotUserId"`
	RobotCode                 string    `json:"robotCode"`
	IsAdmin                   bool      `json:"isAdmin"`
	IsInAtList                bool      `json:"isInAtList"`
	SessionWebhook            string    `json:"sessionWebhook"`
	SessionWebhookExpiredTime flexInt64 `json:"sessionWebhookExpiredTime"`
	AtUsers                   []atUser  `json:"atUsers"`
	Text                      struct {
		Content string `json:"content"`
	} `json:"text"`
	Content json.RawMessage `json:"content"` // non-text messages, keyed by msgtype
}

type atUser struct {
	DingtalkID string `json:"dingtalkId"`
	StaffID    string `json:"staffId"`
	UnionID    string `json:"unionId"`
}

// userID is the id permissions are keyed by: the staff id, or the encrypted
// sender id for external members, who have none.
func (m *inbound) userID() string {
	if m.SenderStaffID != "" {
		return m.SenderStaffID
	}
	return m.SenderID
}

func (m *inbound) group() bool { return m.ConversationType == "2" }

// mentions lists the staff ids of the people @-mentioned, leaving out the
// robot itself (which DingTalk lists with the robot's user id).
func (m *inbound) mentions() []string {
	var out []string
	for _, u := range m.AtUsers {
		if u.StaffID != "" && u.DingtalkID != m.ChatbotUserID {
			out = append(out, u.StaffID)
		}
	}
	return out
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

// outbound is a reply body, for the HTTP response or a sessionWebhook POST.
type outbound struct {
	MsgType  string    `json:"msgtype"`
	Markdown *markdown `json:"markdown,omitempty"`
	At       *at       `json:"at,omitempty"`
}

type markdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

type at struct {
	AtUserIDs []string `json:"atUserIds"`
	IsAtAll   bool     `json:"isAtAll"`
}

var emptyReply = outbound{MsgType: "empty"}

// markdownReply renders a reply that @-mentions the sender: DingTalk only
// notifies when the id is both in at.atUserIds and written in the text.
func markdownReply(title, text, staffID string) outbound {
	o := outbound{MsgType: "markdown", Markdown: &markdown{Title: title, Text: text}}
	if staffID != "" {
		o.Markdown.Text = text + "\n\n@" + staffID
		o.At = &at{AtUserIDs: []string{staffID}}
	}
	return o
}
