package dingtalk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultOpenAPIBase is DingTalk's OpenAPI.
const DefaultOpenAPIBase = "https://api.dingtalk.com"

// OpenAPI sends robot messages through DingTalk's OpenAPI: the way a reply
// still gets out when a message's sessionWebhook has expired. It cannot
// @-mention anyone.
type OpenAPI struct {
	base      string
	appKey    string
	appSecret string
	robotCode string // when a message names none
	client    *http.Client
	tokens    tokenCache
}

// NewOpenAPI calls the OpenAPI at base as the app appKey. Without an app
// key it is not Configured. robotCode is used for messages that carry
// none (DingTalk's documented callback sample has no robotCode), else the
// app key, which is an enterprise-internal app robot's code.
func NewOpenAPI(base, appKey, appSecret, robotCode string, client *http.Client, now func() time.Time) *OpenAPI {
	if robotCode == "" {
		robotCode = appKey
	}
	o := &OpenAPI{base: strings.TrimRight(base, "/"), appKey: appKey, appSecret: appSecret, robotCode: robotCode, client: client}
	o.tokens = tokenCache{now: now, fetch: o.fetchToken}
	return o
}

// Configured reports whether o has the app credentials it needs.
func (o *OpenAPI) Configured() bool { return o != nil && o.appKey != "" && o.appSecret != "" }

// AccessToken returns a cached token, fetching a new one shortly before the
// old expires.
func (o *OpenAPI) AccessToken(ctx context.Context) (string, error) { return o.tokens.get(ctx) }

func (o *OpenAPI) fetchToken(ctx context.Context) (string, time.Duration, error) {
	var out struct {
		AccessToken string `json:"accessToken"`
		ExpireIn    int64  `json:"expireIn"`
	}
	if err := o.post(ctx, "/v1.0/oauth2/accessToken", "", map[string]string{"appKey": o.appKey, "appSecret": o.appSecret}, &out); err != nil {
		var u *unanswered
		if errors.As(err, &u) {
			err = u.err // asking for a token again does no harm
		}
		return "", 0, fmt.Errorf("get access token: %w", err)
	}
	if out.AccessToken == "" {
		return "", 0, errors.New("get access token: empty accessToken")
	}
	return out.AccessToken, time.Duration(out.ExpireIn) * time.Second, nil
}

// SendReply delivers a markdown reply to m's conversation: to the group
// (its conversationId), or for a one-to-one chat to the sender. The OpenAPI
// cannot @-mention: the caller names the sender in text.
func (o *OpenAPI) SendReply(ctx context.Context, m *Message, title, text string) error {
	param, err := json.Marshal(map[string]string{"title": title, "text": text})
	if err != nil {
		return err
	}
	path := "/v1.0/robot/groupMessages/send"
	body := map[string]any{"msgKey": "sampleMarkdown", "msgParam": string(param), "robotCode": o.robotOf(m)}
	if m.OneToOne() {
		path = "/v1.0/robot/oToMessages/batchSend"
		body["userIds"] = []string{m.SenderStaffID}
	} else {
		body["openConversationId"] = m.ConversationID
	}
	// batchSend answers 200 while listing whom it did not deliver to.
	var sent struct {
		Invalid        []string `json:"invalidStaffIdList"`
		FlowControlled []string `json:"flowControlledStaffIdList"`
		Filtered       []string `json:"filteredStaffIdList"`
	}
	switch err := o.withToken(ctx, http.MethodPost, path, body, &sent); {
	case err != nil:
		return err
	case len(sent.FlowControlled) > 0:
		return &notDelivered{list: "flowControlledStaffIdList", retry: true}
	case len(sent.Invalid) > 0:
		return &notDelivered{list: "invalidStaffIdList"}
	case len(sent.Filtered) > 0:
		return &notDelivered{list: "filteredStaffIdList"}
	}
	return nil
}

// robotOf is the robot code a call about m goes out as: the message's,
// else the configured one.
func (o *OpenAPI) robotOf(m *Message) string {
	if m.RobotCode != "" {
		return m.RobotCode
	}
	return o.robotCode
}

// notDelivered: DingTalk took a batchSend and did not deliver it to the
// user, saying why by the list it named them in.
type notDelivered struct {
	list  string
	retry bool // flow control: later it may
}

func (e *notDelivered) Error() string {
	return "oToMessages/batchSend did not deliver: the user is in " + e.list
}

func (o *OpenAPI) post(ctx context.Context, path, token string, in, out any) error {
	return o.call(ctx, http.MethodPost, path, token, in, out)
}

func (o *OpenAPI) call(ctx context.Context, method, path, token string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, PostTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, o.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("x-acs-dingtalk-access-token", token)
	}
	resp, err := do(o.client, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		ae := &apiError{Status: resp.StatusCode}
		_ = json.Unmarshal(raw, ae)
		return ae
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode %s answer: %w", path, err)
		}
	}
	return nil
}
