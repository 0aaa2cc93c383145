package dingtalktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"
)

// Interactive cards: createAndDeliver records a card, the instances PUT
// updates it, callbacks/register records an HTTP route; clicks go back to
// the bot over the stream (CardCallbackTopic) or to the route, as
// DingTalk's documentation describes. Like DingTalk, it does not refuse a
// second card with an outTrackId already used (that is not documented
// either way): the bot must not rely on it.

const (
	cardDeliverPath  = "/v1.0/card/instances/createAndDeliver"
	cardUpdatePath   = "/v1.0/card/instances"
	cardRegisterPath = "/v1.0/card/callbacks/register"
	// CardCallbackTopic is the Stream topic of card clicks.
	CardCallbackTopic = "/v1.0/card/instances/callback"
)

// Card is one card as the stand-in holds it.
type Card struct {
	OutTrackID   string
	TemplateID   string
	OpenSpaceID  string
	CallbackType string
	RouteKey     string
	RobotCode    string
	Data         map[string]string
	// Private is each user's private data, as updates set it.
	Private map[string]map[string]string
	// Created counts createAndDeliver calls for this id; Updates the PUTs.
	Created, Updates int
}

// Cards returns a copy of every card, in no order.
func (s *Server) Cards() []Card {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Card, 0, len(s.cards))
	for _, c := range s.cards {
		out = append(out, copyCard(c))
	}
	return out
}

// CardOf returns the card outTrackID.
func (s *Server) CardOf(outTrackID string) (Card, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cards[outTrackID]
	if !ok {
		return Card{}, false
	}
	return copyCard(c), true
}

func copyCard(c *Card) Card {
	out := *c
	out.Data = maps.Clone(c.Data)
	out.Private = map[string]map[string]string{}
	for u, p := range c.Private {
		out.Private[u] = maps.Clone(p)
	}
	return out
}

func (s *Server) cardAPI(w http.ResponseWriter, r *http.Request, body map[string]any) {
	if !s.authorised(r.Header.Get("x-acs-dingtalk-access-token")) {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]any{"code": "InvalidAuthentication", "message": "不合法的access_token"})
		return
	}
	str := func(k string) string { v, _ := body[k].(string); return v }
	params := func(k string) map[string]string {
		out := map[string]string{}
		m, _ := body[k].(map[string]any)
		pm, _ := m["cardParamMap"].(map[string]any)
		for key, v := range pm {
			out[key] = fmt.Sprint(v)
		}
		return out
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.URL.Path == cardRegisterPath && r.Method == http.MethodPost:
		key, url := str("callbackRouteKey"), str("callbackUrl")
		if key == "" || url == "" {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"code": "InvalidParameter", "message": "callbackRouteKey and callbackUrl are required"})
			return
		}
		s.routes[key] = url
		writeJSON(w, map[string]any{"result": map[string]any{"callbackUrl": url, "apiSecret": str("apiSecret")}})
	case r.URL.Path == cardDeliverPath && r.Method == http.MethodPost:
		id, tpl, space := str("outTrackId"), str("cardTemplateId"), str("openSpaceId")
		if id == "" || tpl == "" || !strings.HasPrefix(space, "dtv1.card//") {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"code": "InvalidParameter", "message": "outTrackId, cardTemplateId and openSpaceId are required"})
			return
		}
		if tpl != s.cardTemplate {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"code": "param.cardTemplateIdNotExist", "message": "卡片模板不存在"})
			return
		}
		model, _ := body["imGroupOpenDeliverModel"].(map[string]any)
		if model == nil {
			model, _ = body["imRobotOpenDeliverModel"].(map[string]any)
		}
		robot, _ := model["robotCode"].(string)
		c := s.cards[id]
		if c == nil {
			c = &Card{OutTrackID: id, Private: map[string]map[string]string{}}
			s.cards[id] = c
		}
		c.TemplateID, c.OpenSpaceID, c.CallbackType, c.RouteKey, c.RobotCode = tpl, space, str("callbackType"), str("callbackRouteKey"), robot
		c.Data = params("cardData")
		c.Created++
		writeJSON(w, map[string]any{"success": true, "result": map[string]any{"outTrackId": id}})
	case r.URL.Path == cardUpdatePath && r.Method == http.MethodPut:
		c := s.cards[str("outTrackId")]
		if c == nil {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"code": "param.cardNotExist", "message": "卡片不存在"})
			return
		}
		maps.Copy(c.Data, params("cardData"))
		if priv, ok := body["privateData"].(map[string]any); ok {
			for user, p := range priv {
				pm, _ := p.(map[string]any)
				m, _ := pm["cardParamMap"].(map[string]any)
				if c.Private[user] == nil {
					c.Private[user] = map[string]string{}
				}
				for k, v := range m {
					c.Private[user][k] = fmt.Sprint(v)
				}
			}
		}
		c.Updates++
		writeJSON(w, map[string]any{"success": true})
	default:
		http.NotFound(w, r)
	}
}

// SetCardTemplate makes templateID the one published template.
func (s *Server) SetCardTemplate(templateID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cardTemplate = templateID
}

// clickBody is a click as DingTalk sends it.
func (s *Server) clickBody(outTrackID, userID, action string) []byte {
	content, _ := json.Marshal(map[string]any{"cardPrivateData": map[string]any{"actionIds": []string{action}, "params": map[string]string{"action": action}}})
	b, _ := json.Marshal(map[string]any{"type": "actionCallback", "outTrackId": outTrackID, "userId": userID, "corpId": "dingcorp",
		"userIdType": 1, "content": string(content)})
	return b
}

// ClickOverStream sends a click on the card's button to one open stream
// connection and returns the frame's messageId (WaitAck has the answer).
func (s *Server) ClickOverStream(outTrackID, userID, action string) (string, error) {
	id := newID()
	s.gw.mu.Lock()
	s.gw.sent[id]++
	s.gw.mu.Unlock()
	return id, s.sendTo(s.randomConn(), frame("CALLBACK", CardCallbackTopic, id, string(s.clickBody(outTrackID, userID, action))))
}

// ClickOverHTTP posts a click to the route the card's callbackRouteKey
// names, as DingTalk does, and returns the answer and how long it took.
func (s *Server) ClickOverHTTP(ctx context.Context, outTrackID, userID, action string) (int, []byte, time.Duration, error) {
	s.mu.Lock()
	c := s.cards[outTrackID]
	var url string
	if c != nil {
		url = s.routes[c.RouteKey]
	}
	s.mu.Unlock()
	if url == "" {
		return 0, nil, 0, fmt.Errorf("card %s has no registered HTTP route", outTrackID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(s.clickBody(outTrackID, userID, action)))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, time.Since(start), nil
}

// Route returns the URL registered under key.
func (s *Server) Route(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.routes[key]
}
