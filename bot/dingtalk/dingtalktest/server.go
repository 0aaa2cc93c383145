// Package dingtalktest runs local stand-ins for DingTalk: a message's
// sessionWebhook (/robot/sendBySession?session=...), the robot OpenAPI
// (/v1.0/oauth2/accessToken, /v1.0/robot/groupMessages/send,
// /v1.0/robot/oToMessages/batchSend) and the Stream gateway (stream.go).
// It records what arrives and can be told to fail. `bot send` uses it to receive an asynchronous reply, and the
// load generator to count late replies.
package dingtalktest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SessionPath is the path of DingTalk's sessionWebhooks.
const SessionPath = "/robot/sendBySession"

// Message is one reply the stand-in received.
type Message struct {
	Channel string // "session", "group" or "oto"
	Session string // the session query parameter, for "session"
	Body    map[string]any
	// Title and Text are the reply's markdown, whichever channel carried it.
	Title, Text string
	// AtUserIDs are the users @-mentioned (sessionWebhook only).
	AtUserIDs []string
	// Conversation, RobotCode and UserIDs are the OpenAPI addressing.
	Conversation string
	RobotCode    string
	UserIDs      []string
}

// Server is a running stand-in; safe for concurrent use.
type Server struct {
	URL string

	http *httptest.Server

	mu        sync.Mutex
	got       []Message
	read      int             // got[:read] were handed out by Next
	arrival   chan struct{}   // closed at the next arrival
	expired   map[string]bool // sessions answering 300001
	failNext  int             // answer the next n sends with HTTP 500
	delay     time.Duration   // answer a send this long after it showed
	tokens    int             // access tokens issued
	appKey    string
	appSecret string
	appID     string // the numeric id DingTalk gives the app; Stream frames carry it
	tokenTTL  time.Duration
	valid     map[string]time.Time
	// oto answers batchSend for a staff id with it listed as not
	// delivered (invalid, flowControlled, filtered), the next n times.
	oto map[string]otoOutcome
	// The organisation directory (directory.go).
	people map[string]Person
	deny   string
	// withheld fields are left out of user/get answers; documented makes
	// errors take their documented form (directory.go).
	withheld   []string
	documented bool
	lookups    int
	oapiValid  map[string]time.Time

	gw *gateway // the Stream gateway (stream.go)

	cards        map[string]*Card  // by outTrackId (cards.go)
	routes       map[string]string // card callback route key -> URL
	cardTemplate string            // the one published template
	files        map[string][]byte // by download code (files.go)
	links        map[string][]byte // by temporary link token
}

// NewServer starts a stand-in on a loopback port that accepts
// appKey/appSecret for tokens.
func NewServer(appKey, appSecret string) *Server {
	s := newServer(appKey, appSecret)
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.http.URL
	return s
}

// Listen starts a stand-in on addr (host:port, port 0 for any).
func Listen(addr, appKey, appSecret string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := newServer(appKey, appSecret)
	s.http = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	_ = s.http.Listener.Close()
	s.http.Listener = ln
	s.http.Start()
	s.URL = s.http.URL
	return s, nil
}

func newServer(appKey, appSecret string) *Server {
	return &Server{arrival: make(chan struct{}), expired: map[string]bool{}, appKey: appKey, appSecret: appSecret, appID: strconv.Itoa(100000 + mrand.IntN(900000)),
		tokenTTL: 2 * time.Hour, valid: map[string]time.Time{}, oto: map[string]otoOutcome{},
		people: map[string]Person{}, oapiValid: map[string]time.Time{}, cards: map[string]*Card{}, routes: map[string]string{},
		files: map[string][]byte{}, links: map[string][]byte{},
		gw: &gateway{opt: StreamOptions{DisconnectGrace: 10 * time.Second},
			tickets: map[string]time.Time{}, conns: map[*streamConn]bool{}, acked: map[string]bool{}, sent: map[string]int{}, first: map[string]chan Ack{}}}
}

// Close stops the server, its stream connections first.
func (s *Server) Close() {
	s.DropStreams()
	s.http.Close()
}

// SessionPrefix is the sessionWebhook prefix to allow in the bot's config.
func (s *Server) SessionPrefix() string { return s.URL + SessionPath }

type otoOutcome struct {
	list  string
	times int
}

// RevokeTokens makes every access token issued so far invalid, as DingTalk
// does when an app's secret is reset.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.valid)
	clear(s.oapiValid)
}

// OTONotDelivered makes the next n batchSends to staffID answer HTTP 200
// with staffID in list: "invalidStaffIdList", "flowControlledStaffIdList"
// or "filteredStaffIdList", as DingTalk does for a user it did not
// deliver to. Such a send is not recorded as a message.
func (s *Server) OTONotDelivered(staffID, list string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oto[staffID] = otoOutcome{list: list, times: n}
}

// SessionURL is a sessionWebhook URL for session.
func (s *Server) SessionURL(session string) string { return s.SessionPrefix() + "?session=" + session }

// ExpireSession makes posts to session answer errcode 300001.
func (s *Server) ExpireSession(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired[session] = true
}

// FailNext makes the next n sends (any channel) answer HTTP 500.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// SetAnswerDelay makes every send show in its conversation at once and
// be answered d later (0: at once), as a slow DingTalk does.
func (s *Server) SetAnswerDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Messages returns what arrived so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.got...)
}

// Count is how many replies arrived so far.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// TokensIssued counts access tokens handed out.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens
}

// Next waits up to d for the next message not yet handed out.
func (s *Server) Next(d time.Duration) (Message, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.NextContext(ctx)
}

// NextContext waits for the next message not yet handed out until ctx ends.
func (s *Server) NextContext(ctx context.Context) (Message, bool) {
	for {
		s.mu.Lock()
		if s.read < len(s.got) {
			m := s.got[s.read]
			s.read++
			s.mu.Unlock()
			return m, true
		}
		arrival := s.arrival
		s.mu.Unlock()
		select {
		case <-arrival:
		case <-ctx.Done():
			return Message{}, false
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == connectPath:
		s.connect(w, r)
		return
	case strings.HasPrefix(r.URL.Path, filesPath):
		s.serveFile(w, r)
		return
	}
	switch r.URL.Path {
	case "/gettoken":
		s.oapiToken(w, r)
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, `{"code":"InvalidParameter","message":"body is not JSON"}`, http.StatusBadRequest)
		return
	}
	switch r.URL.Path {
	case "/v1.0/oauth2/accessToken":
		s.token(w, body)
		return
	case RegisterPath:
		s.register(w, r, body)
		return
	case "/topapi/v2/user/get":
		s.userGet(w, r, body)
		return
	case cardDeliverPath, cardUpdatePath, cardRegisterPath:
		s.cardAPI(w, r, body)
		return
	case fileDownloadPath:
		s.fileLink(w, r, body)
		return
	case SessionPath, "/v1.0/robot/groupMessages/send", "/v1.0/robot/oToMessages/batchSend":
	default:
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		http.Error(w, `{"code":"ServiceUnavailable","message":"injected failure"}`, http.StatusInternalServerError)
		return
	}
	s.mu.Unlock()

	m := Message{Body: body}
	switch r.URL.Path {
	case SessionPath:
		m.Channel, m.Session = "session", r.URL.Query().Get("session")
		s.mu.Lock()
		expired := s.expired[m.Session]
		s.mu.Unlock()
		if expired {
			writeJSON(w, map[string]any{"errcode": 300001, "errmsg": "session 不存在"})
			return
		}
		if md, ok := body["markdown"].(map[string]any); ok {
			m.Title, _ = md["title"].(string)
			m.Text, _ = md["text"].(string)
		}
		if at, ok := body["at"].(map[string]any); ok {
			for _, u := range asSlice(at["atUserIds"]) {
				m.AtUserIDs = append(m.AtUserIDs, fmt.Sprint(u))
			}
		}
	default:
		// DingTalk answers a bad or expired token with 400, not 401.
		if !s.authorised(r.Header.Get("x-acs-dingtalk-access-token")) {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"code": "InvalidAuthentication", "message": "不合法的access_token"})
			return
		}
		m.Channel = "group"
		if strings.HasSuffix(r.URL.Path, "batchSend") {
			m.Channel = "oto"
			for _, u := range asSlice(body["userIds"]) {
				m.UserIDs = append(m.UserIDs, fmt.Sprint(u))
			}
		}
		m.Conversation, _ = body["openConversationId"].(string)
		m.RobotCode, _ = body["robotCode"].(string)
		if m.RobotCode == "" {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"code": "MissingrobotCode", "message": "robotCode is mandatory for this action."})
			return
		}
		if m.Channel == "oto" && len(m.UserIDs) == 1 {
			id := m.UserIDs[0]
			s.mu.Lock()
			o, refused := s.oto[id]
			if refused {
				if o.times--; o.times <= 0 {
					delete(s.oto, id)
				} else {
					s.oto[id] = o
				}
			}
			s.mu.Unlock()
			if refused {
				writeJSON(w, map[string]any{"processQueryKey": "pqk", o.list: []string{id}})
				return
			}
		}
		if key, _ := body["msgKey"].(string); key != "sampleMarkdown" {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"code": "InvalidParameter", "message": "unexpected msgKey " + key})
			return
		}
		var p struct{ Title, Text string }
		param, _ := body["msgParam"].(string)
		if err := json.Unmarshal([]byte(param), &p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"code": "InvalidParameter", "message": "msgParam must be a JSON string"})
			return
		}
		m.Title, m.Text = p.Title, p.Text
	}
	s.mu.Lock()
	s.got = append(s.got, m)
	close(s.arrival)
	s.arrival = make(chan struct{})
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		// It shows in the conversation; the answer is slow to come.
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if m.Channel == "session" {
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
		return
	}
	writeJSON(w, map[string]any{"processQueryKey": "pqk"})
}

func (s *Server) token(w http.ResponseWriter, body map[string]any) {
	if body["appKey"] != s.appKey || body["appSecret"] != s.appSecret {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]any{"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"})
		return
	}
	s.mu.Lock()
	s.tokens++
	tok := fmt.Sprintf("token-%d", s.tokens)
	s.valid[tok] = time.Now().Add(s.tokenTTL)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"accessToken": tok, "expireIn": int(s.tokenTTL.Seconds())})
}

func (s *Server) authorised(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.valid[tok]
	return ok && time.Now().Before(exp)
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Door serves the sessionWebhook on a port of its own, which can be shut
// (connections refused, as when DingTalk's endpoint is unreachable) and
// opened again on the same port.
type Door struct {
	s    *Server
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

// OpenDoor opens a door on a loopback port; it closes with the test.
func (s *Server) OpenDoor() (*Door, error) {
	d := &Door{s: s, addr: "127.0.0.1:0"}
	if err := d.Open(); err != nil {
		return nil, err
	}
	return d, nil
}

// Prefix is the door's sessionWebhook prefix.
func (d *Door) Prefix() string { return "http://" + d.addr + SessionPath }

// SessionURL is a sessionWebhook through the door.
func (d *Door) SessionURL(session string) string { return d.Prefix() + "?session=" + session }

// Shut refuses connections from now on, and breaks the open ones.
func (d *Door) Shut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.srv != nil {
		_ = d.srv.Close()
		d.srv = nil
	}
}

// Open serves again on the door's port.
func (d *Door) Open() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		return err
	}
	d.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(d.s.serve), ReadHeaderTimeout: 5 * time.Second}
	d.srv = srv
	go func() { _ = srv.Serve(ln) }()
	return nil
}
