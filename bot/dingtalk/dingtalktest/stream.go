package dingtalktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The Stream gateway: a client registers at RegisterPath with the app's
// credentials and gets an endpoint and a ticket (single use, 90 s), opens
// a WebSocket there, and receives frames {specVersion, type, headers
// {appId, connectionId, topic, messageId, contentType, time}, data}, data
// being a JSON string. It answers each frame with {code, headers
// {messageId}, message, data}. Like DingTalk's, a quiet connection gets no
// frame at all (SYSTEM pings only when asked for); WebSocket pings are
// answered with pongs until told not to. Written from DingTalk's protocol
// description, not from its SDK.

const (
	// RegisterPath is where a stream client registers.
	RegisterPath = "/v1.0/gateway/connections/open"
	// BotMessageTopic is the topic of robot message frames.
	BotMessageTopic = "/v1.0/im/bot/messages/get"
	connectPath     = "/connect"
	ticketLife      = 90 * time.Second
)

// Ack is a client's answer to a frame.
type Ack struct {
	MessageID string
	Code      int
	At        time.Time
	// Data is the answer's data (a card click's answer, say).
	Data string
}

// StreamOptions tune the gateway.
type StreamOptions struct {
	// PingEvery sends a SYSTEM ping on every connection this often (0:
	// never, as DingTalk on a quiet connection).
	PingEvery time.Duration
	// IgnorePings leaves the client's WebSocket pings unanswered, as a
	// gateway (or a path to it) that hangs does.
	IgnorePings bool
	// ResendAfter sends a robot message frame again when no acknowledgement
	// with code 200 came within it (0: never), up to three times.
	ResendAfter time.Duration
	// DisconnectGrace is how long after a SYSTEM disconnect the gateway
	// closes the connection itself (DingTalk: 10 s).
	DisconnectGrace time.Duration
}

type streamConn struct {
	id     string // the connectionId its frames carry
	ws     *websocket.Conn
	mu     sync.Mutex // one writer at a time
	closed chan struct{}
	once   sync.Once
}

func (c *streamConn) send(frame any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(frame)
}

func (c *streamConn) close() {
	c.once.Do(func() { close(c.closed); _ = c.ws.Close() })
}

type gateway struct {
	opt StreamOptions

	mu        sync.Mutex
	tickets   map[string]time.Time
	conns     map[*streamConn]bool
	refuse    int // registrations still to be refused (gateway trouble)
	acks      []Ack
	acked     map[string]bool     // messageIds acknowledged with 200
	first     map[string]chan Ack // the first acknowledgement of a pushed frame, until WaitAck takes it
	sent      map[string]int      // messageId -> times sent
	connected int                 // connections ever opened
	pongs     int                 // WebSocket pings answered
}

// SetStreamOptions changes how the gateway behaves from now on, on open
// connections too.
func (s *Server) SetStreamOptions(o StreamOptions) {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	s.gw.opt = o
}

func (s *Server) streamOptions() StreamOptions {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	return s.gw.opt
}

// StreamConnections counts the open stream connections.
func (s *Server) StreamConnections() int {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	return len(s.gw.conns)
}

// StreamConnectionsOpened counts the stream connections ever opened.
func (s *Server) StreamConnectionsOpened() int {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	return s.gw.connected
}

// PingsAnswered counts the clients' WebSocket pings answered with a pong.
func (s *Server) PingsAnswered() int {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	return s.gw.pongs
}

// RefuseRegistrations answers the next n registrations with HTTP 503, as a
// gateway in trouble does.
func (s *Server) RefuseRegistrations(n int) {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	s.gw.refuse = n
}

// Acks returns every acknowledgement so far.
func (s *Server) Acks() []Ack {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	return append([]Ack(nil), s.gw.acks...)
}

// WaitAck returns the first acknowledgement of the pushed frame messageID
// not yet returned, waiting for it until ctx ends.
func (s *Server) WaitAck(ctx context.Context, messageID string) (Ack, error) {
	s.gw.mu.Lock()
	c := s.gw.firstAck(messageID)
	s.gw.mu.Unlock()
	select {
	case a := <-c:
		return a, nil
	case <-ctx.Done():
		return Ack{}, ctx.Err()
	}
}

// firstAck is messageID's channel; g.mu is held.
func (g *gateway) firstAck(messageID string) chan Ack {
	c, ok := g.first[messageID]
	if !ok {
		c = make(chan Ack, 1)
		g.first[messageID] = c
	}
	return c
}

// Sent counts how often the frame messageID was sent.
func (s *Server) Sent(messageID string) int {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	return s.gw.sent[messageID]
}

// Push sends a robot message (its JSON body) to one open connection,
// chosen at random as DingTalk does, and returns the frame's messageId.
// With ResendAfter, it is sent again until acknowledged.
func (s *Server) Push(body []byte) (string, error) {
	id := newID()
	return id, s.pushAs(id, body)
}

// PushAgain sends a frame again under the messageId it had.
func (s *Server) PushAgain(messageID string, body []byte) error { return s.pushAs(messageID, body) }

func (s *Server) pushAs(messageID string, body []byte) error {
	if err := s.pushOnce(messageID, body); err != nil {
		return err
	}
	if s.streamOptions().ResendAfter > 0 {
		go s.resend(messageID, body)
	}
	return nil
}

// pushOnce sends the frame to a connection at random. It is counted
// before it goes, so that its acknowledgement finds it.
func (s *Server) pushOnce(messageID string, body []byte) error {
	s.gw.mu.Lock()
	s.gw.sent[messageID]++
	s.gw.mu.Unlock()
	err := s.sendTo(s.randomConn(), callbackFrame(messageID, body))
	if err != nil {
		s.gw.mu.Lock()
		s.gw.sent[messageID]--
		s.gw.mu.Unlock()
	}
	return err
}

func (s *Server) resend(messageID string, body []byte) {
	for range 3 {
		time.Sleep(s.streamOptions().ResendAfter) // the gateway's own schedule
		s.gw.mu.Lock()
		done := s.gw.acked[messageID]
		s.gw.mu.Unlock()
		if done {
			return
		}
		_ = s.pushOnce(messageID, body)
	}
}

// Disconnect sends every connection a SYSTEM disconnect, and closes those
// still open after the grace.
func (s *Server) Disconnect() {
	for _, c := range s.streamConns() {
		_ = s.sendTo(c, frame("SYSTEM", "disconnect", newID(), `{"reason":"gateway restarting"}`))
		go func() {
			select {
			case <-c.closed:
			case <-time.After(s.streamOptions().DisconnectGrace):
				c.close()
			}
		}()
	}
}

// DropStreams cuts every connection at once, as a network failure does.
func (s *Server) DropStreams() {
	for _, c := range s.streamConns() {
		c.close()
	}
}

func (s *Server) streamConns() []*streamConn {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	out := make([]*streamConn, 0, len(s.gw.conns))
	for c := range s.gw.conns {
		out = append(out, c)
	}
	return out
}

func (s *Server) randomConn() *streamConn {
	cs := s.streamConns()
	if len(cs) == 0 {
		return nil
	}
	return cs[mrand.IntN(len(cs))]
}

// sendTo sends f on c, with the headers that name the app and the
// connection.
func (s *Server) sendTo(c *streamConn, f map[string]any) error {
	if c == nil {
		return fmt.Errorf("no stream connection is open")
	}
	h := f["headers"].(map[string]string)
	h["appId"], h["connectionId"] = s.appID, c.id
	return c.send(f)
}

func frame(typ, topic, messageID, data string) map[string]any {
	return map[string]any{
		"specVersion": "1.0",
		"type":        typ,
		"headers": map[string]string{
			"topic": topic, "messageId": messageID, "contentType": "application/json",
			"time": strconv.FormatInt(time.Now().UnixMilli(), 10),
		},
		"data": data,
	}
}

func callbackFrame(messageID string, body []byte) map[string]any {
	return frame("CALLBACK", BotMessageTopic, messageID, string(body))
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// register answers a registration: an endpoint and a ticket for the app's
// credentials.
func (s *Server) register(w http.ResponseWriter, r *http.Request, body map[string]any) {
	s.gw.mu.Lock()
	refuse := s.gw.refuse > 0
	if refuse {
		s.gw.refuse--
	}
	s.gw.mu.Unlock()
	if refuse {
		w.WriteHeader(http.StatusServiceUnavailable)
		writeJSON(w, map[string]any{"code": "ServiceUnavailable", "message": "gateway unavailable"})
		return
	}
	if body["clientId"] != s.appKey || body["clientSecret"] != s.appSecret {
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]any{"requestid": newID(), "code": "authFailed", "message": "鉴权失败"})
		return
	}
	subscribed := false
	subs, _ := body["subscriptions"].([]any)
	for _, sub := range subs {
		if m, ok := sub.(map[string]any); ok && m["type"] == "CALLBACK" && m["topic"] == BotMessageTopic {
			subscribed = true
		}
	}
	if !subscribed {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]any{"code": "InvalidParameter", "message": "no subscription to robot messages"})
		return
	}
	ticket := newID()
	s.gw.mu.Lock()
	s.gw.tickets[ticket] = time.Now().Add(ticketLife)
	s.gw.mu.Unlock()
	// The endpoint is where the caller reached us, as DingTalk names its own
	// WebSocket host.
	writeJSON(w, map[string]any{"endpoint": "ws://" + r.Host + connectPath, "ticket": ticket})
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// connect opens a stream connection for a valid ticket, once.
func (s *Server) connect(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.gw.mu.Lock()
	exp, ok := s.gw.tickets[ticket]
	delete(s.gw.tickets, ticket)
	s.gw.mu.Unlock()
	if !ok || time.Now().After(exp) {
		http.Error(w, `{"code":"invalidTicket","message":"ticket is invalid or used"}`, http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &streamConn{id: newID(), ws: ws, closed: make(chan struct{})}
	ws.SetPingHandler(func(data string) error {
		if s.streamOptions().IgnorePings {
			return nil
		}
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if err != nil {
			return nil // the read that follows finds the connection broken
		}
		s.gw.mu.Lock()
		s.gw.pongs++
		s.gw.mu.Unlock()
		return nil
	})
	s.gw.mu.Lock()
	s.gw.conns[c] = true
	s.gw.connected++
	s.gw.mu.Unlock()
	defer func() {
		c.close()
		s.gw.mu.Lock()
		delete(s.gw.conns, c)
		s.gw.mu.Unlock()
	}()
	go func() {
		// The schedule is read anew each round: a gateway told to fall
		// silent does so on open connections too.
		for {
			every := s.streamOptions().PingEvery
			wait := every
			if every <= 0 {
				wait = 20 * time.Millisecond
			}
			select {
			case <-c.closed:
				return
			case <-time.After(wait):
			}
			if every > 0 {
				_ = c.send(frame("SYSTEM", "ping", newID(), `{"opaque":"`+newID()+`"}`))
			}
		}
	}()
	for {
		_, raw, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			Code    int               `json:"code"`
			Headers map[string]string `json:"headers"`
			Data    string            `json:"data"`
		}
		if json.Unmarshal(raw, &ack) != nil {
			continue
		}
		id := ack.Headers["messageId"]
		s.gw.mu.Lock()
		s.gw.acks = append(s.gw.acks, Ack{MessageID: id, Code: ack.Code, At: time.Now(), Data: ack.Data})
		if ack.Code == http.StatusOK {
			s.gw.acked[id] = true
		}
		if s.gw.sent[id] > 0 {
			select {
			case s.gw.firstAck(id) <- Ack{MessageID: id, Code: ack.Code, At: time.Now(), Data: ack.Data}:
			default: // an earlier one waits to be taken
			}
		}
		s.gw.mu.Unlock()
	}
}
