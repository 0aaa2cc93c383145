package dingtalk

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Reply is what the robot says: the answer to an HTTP callback, or the body
// posted to a sessionWebhook.
type Reply struct {
	MsgType  string    `json:"msgtype"`
	Markdown *Markdown `json:"markdown,omitempty"`
	At       *At       `json:"at,omitempty"`
}

// Markdown is a markdown reply's content.
type Markdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

// At names who a reply @-mentions.
type At struct {
	AtUserIDs []string `json:"atUserIds"`
	IsAtAll   bool     `json:"isAtAll"`
}

// emptyJSON answers a callback without saying anything in the chat; DingTalk
// takes it as handled.
const emptyJSON = `{"msgtype":"empty"}`

// EmptyReply is the answer that says nothing.
func EmptyReply() []byte { return []byte(emptyJSON) }

// IsEmptyReply reports whether b is EmptyReply.
func IsEmptyReply(b []byte) bool { return string(b) == emptyJSON }

// MarkdownReply renders a markdown reply that @-mentions the sender:
// DingTalk only notifies when the id is both in at.atUserIds and written in
// the text. Without a staff id (an external member), or with one no
// DingTalk account has (the body is not signed), nobody is mentioned.
func MarkdownReply(title, text, staffID string) []byte {
	r := Reply{MsgType: "markdown", Markdown: &Markdown{Title: title, Text: text}}
	if plainID.MatchString(staffID) {
		r.Markdown.Text = text + "\n\n@" + staffID
		r.At = &At{AtUserIDs: []string{staffID}}
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // strings and a bool only: cannot fail
	}
	return b
}

// plainID is what a staff id looks like: letters, digits, - and _.
var plainID = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)

// ReplyContent is the title and text of a markdown reply body as the robot
// OpenAPI takes them: without the @-mention of staffID, which only a
// sessionWebhook can make.
func ReplyContent(body []byte, staffID string) (title, text string, err error) {
	r, err := DecodeReply(body)
	if err != nil {
		return "", "", err
	}
	if r.Markdown == nil {
		return "", "", fmt.Errorf("a %q reply has no markdown", r.MsgType)
	}
	return r.Markdown.Title, strings.TrimSuffix(r.Markdown.Text, "\n\n@"+staffID), nil
}

// DecodeReply reads a reply body.
func DecodeReply(b []byte) (Reply, error) {
	var r Reply
	err := json.Unmarshal(b, &r)
	return r, err
}
