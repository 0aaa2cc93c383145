package dingtalk

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// This file builds what DingTalk sends: the one place outside the real
// DingTalk where a callback is made. Tests, `bot send` and the load
// generator all use it, so that what they send stays true to the wire.

// NewTextMessage returns a text message from senderStaffID as DingTalk
// delivers it to a robot @-mentioned in a group chat: the mention is cut
// from the text, leaving the space that followed it. Callers fill in what
// their case needs (the conversation, the robot, the sessionWebhook).
func NewTextMessage(msgID, senderStaffID, text string, at time.Time) Message {
	return Message{
		MsgID:            msgID,
		MsgType:          "text",
		CreateAt:         MillisOf(at),
		ConversationType: "2",
		SenderID:         "$:LWCP_v1:$" + senderStaffID,
		SenderNick:       senderStaffID,
		SenderStaffID:    senderStaffID,
		IsInAtList:       true,
		Text:             Text{Content: " " + text},
	}
}

// Body is m as DingTalk posts it. It fails only when m.Content is not JSON.
func (m Message) Body() ([]byte, error) { return json.Marshal(m) }

// NewCallbackRequest returns the request DingTalk makes to deliver body to
// url: a JSON POST whose headers sign the moment at with appSecret.
func NewCallbackRequest(ctx context.Context, url, appSecret string, at time.Time, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("timestamp", ts)
	req.Header.Set("sign", Sign(ts, appSecret))
	return req, nil
}
