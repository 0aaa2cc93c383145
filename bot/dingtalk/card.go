package dingtalk

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Interactive cards: a decision (a delete's confirmation, a request's
// approval) shown with buttons that call the bot back. DingTalk renders a
// card from a template each organisation imports and publishes
// (deploy/dingtalk/confirm-card.json); the bot fills its variables.

// CardCallbackTopic is the Stream topic of card clicks.
const CardCallbackTopic = "/v1.0/card/instances/callback"

// CardRouteKey names the bot's HTTP card callback route at DingTalk.
const CardRouteKey = "armsbot-decisions"

// CardOffer is a decision to show as a card: recorded in the reply's body
// next to the markdown reply, which is what goes out instead when no card
// can.
type CardOffer struct {
	OutTrackID string `json:"outTrackId"`
	Kind       string `json:"kind"` // "confirm" or "approval"
	Code       string `json:"code"`
	Requester  string `json:"requester"`
	Title      string `json:"title"`
	Text       string `json:"text"`
	Expires    Millis `json:"expires"`
}

// CardReply is a markdown reply that offers a card: the reply's record
// keeps both, and a sender of replies shows the card when it can.
func CardReply(title, text, staffID string, offer CardOffer) []byte {
	r := Reply{}
	_ = json.Unmarshal(MarkdownReply(title, text, staffID), &r)
	b, err := json.Marshal(struct {
		Reply
		Card CardOffer `json:"armsbotCard"`
	}{r, offer})
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return b
}

// OfferOf returns the card a reply body offers, and the markdown reply
// alone (what DingTalk's message APIs take).
func OfferOf(body []byte) (offer CardOffer, markdown []byte, ok bool) {
	if !bytes.Contains(body, []byte(`"armsbotCard"`)) {
		return CardOffer{}, body, false
	}
	var v struct {
		Reply
		Card *CardOffer `json:"armsbotCard"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Card == nil {
		return CardOffer{}, body, false
	}
	md, err := json.Marshal(v.Reply)
	if err != nil {
		return CardOffer{}, body, false
	}
	return *v.Card, md, true
}

// OutTrackID is the card id for a message's decision: one card per
// message, whichever replica sends it.
func OutTrackID(msgID string) string {
	h := sha256.Sum256([]byte("armsbot-card\x00" + msgID))
	return "armsbot-" + hex.EncodeToString(h[:12])
}

// CardClick is a click on a card's button, as DingTalk delivers it over
// the stream or to the registered HTTP route.
type CardClick struct {
	OutTrackID string
	UserID     string
	CorpID     string
	// Action is the button's "action" parameter (confirm, cancel,
	// approve, reject): what the button asks for, nothing more; the card's
	// code comes from what the bot recorded for OutTrackID.
	Action string
}

// DecodeCardClick reads a card callback: {type, outTrackId, userId,
// corpId, content}, content being a JSON string with
// cardPrivateData.params.
func DecodeCardClick(b []byte) (CardClick, error) {
	var v struct {
		Type       string `json:"type"`
		OutTrackID string `json:"outTrackId"`
		UserID     string `json:"userId"`
		CorpID     string `json:"corpId"`
		Content    string `json:"content"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return CardClick{}, fmt.Errorf("card callback: %w", err)
	}
	var content struct {
		Private struct {
			ActionIDs []string       `json:"actionIds"`
			Params    map[string]any `json:"params"`
		} `json:"cardPrivateData"`
	}
	if v.Content != "" {
		if err := json.Unmarshal([]byte(v.Content), &content); err != nil {
			return CardClick{}, fmt.Errorf("card callback content: %w", err)
		}
	}
	action, _ := content.Private.Params["action"].(string)
	if action == "" && len(content.Private.ActionIDs) > 0 {
		action = content.Private.ActionIDs[0]
	}
	c := CardClick{OutTrackID: v.OutTrackID, UserID: v.UserID, CorpID: v.CorpID, Action: action}
	switch {
	case c.OutTrackID == "" || c.UserID == "":
		return CardClick{}, errors.New("card callback without outTrackId or userId")
	case len(c.OutTrackID) > maxIDBytes || len(c.UserID) > maxIDBytes || len(c.Action) > 32:
		return CardClick{}, fmt.Errorf("%w: an id too long", ErrAmbiguous)
	}
	return c, nil
}

// CardAnswer is the answer to a click, within DingTalk's 2 seconds: it
// may update the card's public data and the clicker's private data.
type CardAnswer struct {
	Data    map[string]string
	Private map[string]string
}

// JSON renders a as DingTalk's callback answer.
func (a CardAnswer) JSON() []byte {
	type params struct {
		CardParamMap map[string]string `json:"cardParamMap"`
	}
	v := map[string]any{}
	opts := map[string]bool{}
	if len(a.Data) > 0 {
		v["cardData"], opts["updateCardDataByKey"] = params{a.Data}, true
	}
	if len(a.Private) > 0 {
		v["userPrivateData"], opts["updatePrivateDataByKey"] = params{a.Private}, true
	}
	if len(opts) > 0 {
		v["cardUpdateOptions"] = opts
	}
	b, _ := json.Marshal(v)
	return b
}

// CardCallbackPath is the bot's HTTP route for card clicks: its last part
// is derived from the app secret, so that only DingTalk, to which the bot
// registers it, knows the address.
func CardCallbackPath(appSecret string) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte("armsbot card callback"))
	return "/dingtalk/card/" + hex.EncodeToString(m.Sum(nil)[:16])
}

// DeliverCard creates the card outTrackID from templateID with data and
// delivers it to m's conversation (the group, or the sender's one-to-one
// chat with the robot). Clicks come back over the stream, or with
// routeKey to the registered HTTP route.
func (o *OpenAPI) DeliverCard(ctx context.Context, templateID, outTrackID string, m *Message, data map[string]string, routeKey string) error {
	robot := o.robotOf(m)
	body := map[string]any{
		"cardTemplateId": templateID, "outTrackId": outTrackID, "userIdType": 1,
		"cardData": map[string]any{"cardParamMap": data},
	}
	if routeKey == "" {
		body["callbackType"] = "STREAM"
	} else {
		body["callbackType"], body["callbackRouteKey"] = "HTTP", routeKey
	}
	if m.OneToOne() {
		body["openSpaceId"] = "dtv1.card//IM_ROBOT." + m.SenderStaffID
		body["imRobotOpenSpaceModel"] = map[string]any{"supportForward": false}
		body["imRobotOpenDeliverModel"] = map[string]any{"spaceType": "IM_ROBOT", "robotCode": robot}
	} else {
		body["openSpaceId"] = "dtv1.card//IM_GROUP." + m.ConversationID
		body["imGroupOpenSpaceModel"] = map[string]any{"supportForward": false}
		body["imGroupOpenDeliverModel"] = map[string]any{"robotCode": robot}
	}
	var out struct {
		Success bool `json:"success"`
	}
	if err := o.withToken(ctx, http.MethodPost, "/v1.0/card/instances/createAndDeliver", body, &out); err != nil {
		return err
	}
	if !out.Success {
		return &apiError{Status: http.StatusOK, Code: "NotDelivered", Message: "createAndDeliver answered success=false"}
	}
	return nil
}

// UpdateCard changes the card's public data, and userID's private data.
func (o *OpenAPI) UpdateCard(ctx context.Context, outTrackID string, data map[string]string, userID string, private map[string]string) error {
	type params struct {
		CardParamMap map[string]string `json:"cardParamMap"`
	}
	body := map[string]any{"outTrackId": outTrackID, "userIdType": 1,
		"cardUpdateOptions": map[string]bool{"updateCardDataByKey": true, "updatePrivateDataByKey": true}}
	if len(data) > 0 {
		body["cardData"] = params{data}
	}
	if len(private) > 0 {
		body["privateData"] = map[string]params{userID: {private}}
	}
	return o.withToken(ctx, http.MethodPut, "/v1.0/card/instances", body, nil)
}

// RegisterCardCallback registers url as the route routeKey names.
func (o *OpenAPI) RegisterCardCallback(ctx context.Context, routeKey, url, apiSecret string) error {
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return fmt.Errorf("card callback URL %q is not http(s)", url)
	}
	body := map[string]any{"callbackRouteKey": routeKey, "callbackUrl": url, "apiSecret": apiSecret, "forceUpdate": true}
	return o.withToken(ctx, http.MethodPost, "/v1.0/card/callbacks/register", body, nil)
}

// withToken calls the OpenAPI with the app's token, fetching a new one
// once when DingTalk says it is no longer valid.
func (o *OpenAPI) withToken(ctx context.Context, method, path string, in, out any) error {
	if !o.Configured() {
		return errors.New("the OpenAPI needs DINGTALK_APP_KEY and DINGTALK_APP_SECRET")
	}
	for attempt := 0; ; attempt++ {
		tok, err := o.AccessToken(ctx)
		if err != nil {
			return err
		}
		err = o.call(ctx, method, path, tok, in, out)
		var ae *apiError
		if attempt == 0 && errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Code == "InvalidAuthentication") {
			o.tokens.forget()
			continue
		}
		return err
	}
}
