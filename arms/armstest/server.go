// Package armstest runs a local stand-in for the ARMS OpenAPI gateway, in the
// spirit of net/http/httptest. It verifies the RPC signature as the gateway
// does (HMAC-SHA1, timestamp window, nonce reuse), keeps alert contacts and
// contact groups in memory, implements both contact families with their
// documented bodies: the legacy one (CreateAlertContact, SearchAlertContact,
// UpdateAlertContact, DeleteAlertContact and the four AlertContactGroup
// operations) and Alert Management's (alertmanagement.go), notification
// policies and IM robots (policies.go), and can be told to fail or be
// slow. sts.go is a stand-in for STS's AssumeRoleWithOIDC.
package armstest

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The credentials the stand-in accepts unless told otherwise.
const (
	AccessKeyID     = "armstest-id"
	AccessKeySecret = "armstest-secret"
)

const (
	version      = "2019-08-08"
	skew         = 15 * time.Minute
	maxContacts  = 100 // the documented per-account limit
	hostID       = "arms.cn-hangzhou.aliyuncs.com"
	defaultPage  = 10
	maxPageSize  = 100 // the stand-in's own choice; ARMS documents none
	timeLayout   = "2006-01-02T15:04:05Z"
	signatureMsg = "Specified signature is not matched with our calculation. server string to sign is:"
)

// Call is one request the stand-in accepted as correctly signed.
type Call struct {
	Action string
	Params url.Values // query and form merged, Signature removed
}

// Contact is a stored alert contact, in the shape SearchAlertContact returns.
type Contact struct {
	ContactID   int64  `json:"ContactId"`
	ContactName string `json:"ContactName"`
	Phone       string `json:"Phone"`
	Email       string `json:"Email"`
	DingRobot   string `json:"DingRobot"`
	SystemNoc   bool   `json:"SystemNoc"`
	CreateTime  int64  `json:"CreateTime"`
	UpdateTime  int64  `json:"UpdateTime"`
	UserID      string `json:"UserId"`

	// The Alert Management family's fields, which SearchAlertContact does
	// not answer.
	IsVerify          bool   `json:"-"` // the phone's owner opened a verification link
	IsEmailVerify     bool   `json:"-"`
	ReissueSendNotice int64  `json:"-"` // 0 none, 1 call again, 2 SMS, 3 the account's default
	CorpUserID        string `json:"-"` // the person's id in the enterprise's IM, for @-mentions

	emailKey string    // lower-cased Email, for searches
	lastLink time.Time // the last verification link sent
}

type fault struct {
	action string // "" matches every action
	code   string
	status int
	times  int
	// drop commits the action, then cuts the connection without answering,
	// as when a response is lost after ARMS did the work.
	drop bool
	// delay holds the call this long before ARMS acts on it and answers.
	delay time.Duration
}

// Server is a running stand-in. Its methods are safe for concurrent use.
type Server struct {
	URL string

	http *httptest.Server
	now  func() time.Time

	mu     sync.Mutex
	keys   map[string]string // AccessKeyId -> secret
	token  string            // required SecurityToken, if set
	nonces map[string]time.Time
	// nonceOrder are the nonces in the order they came, so that those
	// older than the timestamp window are forgotten oldest first, each once.
	nonceOrder []usedNonce
	contacts   map[int64]*Contact
	// owners indexes contacts by phone ("p:…") and lower-cased email
	// ("e:…"): a create stays as cheap at the ten-thousandth contact of a
	// load run as at the first, as ARMS's own does.
	owners    map[string]int64
	conns     atomic.Int64 // connections opened, for Conns
	nextID    int64
	groups    map[int64]*Group
	nextGroup int64
	calls     []Call
	rejected  int
	faults    []*fault
	latency   time.Duration
	release   chan struct{}
	max       int
	// missing400: a delete of an id that does not exist is refused with
	// HTTP 400, as real ARMS may answer (findings-3 §4 M5), rather than
	// HTTP 200 with IsSuccess false.
	missing400 bool
	// allowDup: the legacy family takes a phone or email another contact
	// has (alertmanagement.go).
	allowDup bool
	// verifyEvery, links: verification links (alertmanagement.go).
	verifyEvery time.Duration
	links       []VerifyLink
	// Notification policies and IM robots (policies.go).
	policies   map[int64]*Policy
	nextPolicy int64
	robots     map[int64]*Robot
	nextRobot  int64
}

// Option configures a Server.
type Option func(*Server)

// WithClock makes the server judge timestamps by now.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithKey replaces the accepted credentials.
func WithKey(id, secret string) Option {
	return func(s *Server) { s.keys = map[string]string{id: secret} }
}

// WithMaxContacts lifts the documented per-account limit of 100 contacts,
// for load tests.
func WithMaxContacts(n int) Option { return func(s *Server) { s.max = n } }

// WithSecurityToken requires every request to carry this STS token.
func WithSecurityToken(tok string) Option { return func(s *Server) { s.token = tok } }

// NewServer starts a stand-in on a loopback port. Close it when done.
func NewServer(opts ...Option) *Server {
	s := newServer(opts...)
	s.http = httptest.NewUnstartedServer(s)
	s.http.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.http.Start()
	s.URL = s.http.URL
	return s
}

// Conns is how many connections clients have opened to the stand-in.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// NewUnstartedServer returns a stand-in to be served by the caller, e.g. on
// a listener of its choosing.
func NewUnstartedServer(opts ...Option) *Server { return newServer(opts...) }

func newServer(opts ...Option) *Server {
	s := &Server{
		now:         time.Now,
		keys:        map[string]string{AccessKeyID: AccessKeySecret},
		nonces:      map[string]time.Time{},
		contacts:    map[int64]*Contact{},
		owners:      map[string]int64{},
		nextID:      10200 + rand.Int64N(100),
		groups:      map[int64]*Group{},
		nextGroup:   700 + rand.Int64N(100),
		policies:    map[int64]*Policy{},
		robots:      map[int64]*Robot{},
		nextRobot:   100 + rand.Int64N(100),
		release:     make(chan struct{}),
		max:         maxContacts,
		verifyEvery: DefaultVerifyInterval,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Close shuts the server down, releasing requests held by SetLatency.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.release:
	default:
		close(s.release)
	}
	s.mu.Unlock()
	if s.http != nil {
		s.http.Close()
	}
}

// Fail makes the next n calls of action (every action when "") answer with
// the given ARMS error code and HTTP status.
func (s *Server) Fail(action, code string, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{action: action, code: code, status: status, times: n})
}

// DropResponse makes the next n calls of action do their work and then cut
// the connection without a response.
func (s *Server) DropResponse(action string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{action: action, drop: true, times: n})
}

// RefuseMissingDeletes makes a delete of a contact or group that does not
// exist answer HTTP 400 "does not exist" (on) or HTTP 200 with IsSuccess
// false (off, the default): ARMS documents neither, and the bot must read
// both as "nothing to delete".
func (s *Server) RefuseMissingDeletes(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.missing400 = on
}

// Delay makes the next n calls of action wait d before ARMS acts on them
// and answers (or until the caller hangs up: ARMS still acts), as a slow
// ARMS does: a write sent now lands d later.
func (s *Server) Delay(action string, d time.Duration, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{action: action, delay: d, times: n})
}

// Reset forgets every contact, group and recorded call, as a new stand-in
// would, keeping the ids counting up: runs of a load test each start from
// an empty ARMS.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.contacts)
	clear(s.owners)
	clear(s.groups)
	clear(s.policies)
	clear(s.robots)
	s.calls = nil
	s.links = nil
}

// SetLatency delays every answer by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Calls returns the correctly signed requests of action ("" for all) so far.
func (s *Server) Calls(action string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if action == "" || c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// Rejected counts requests refused for their signature, credentials,
// timestamp or nonce.
func (s *Server) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// Contacts returns a copy of the stored contacts, ordered by id.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Contact, 0, len(s.contacts))
	for _, c := range s.contacts {
		cp := *c
		cp.emailKey, cp.lastLink = "", time.Time{}
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ContactID < out[j].ContactID })
	return out
}

// AddContact stores a contact directly, as if created in the console.
func (s *Server) AddContact(c Contact) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	c.ContactID = s.nextID
	c.CreateTime = s.now().UnixMilli()
	c.UpdateTime = c.CreateTime
	s.put(&c)
	return c.ContactID
}

// put stores c and indexes its phone and email.
func (s *Server) put(c *Contact) {
	if old, ok := s.contacts[c.ContactID]; ok {
		s.unindex(old)
	}
	c.emailKey = strings.ToLower(c.Email)
	s.contacts[c.ContactID] = c
	if c.Phone != "" {
		s.owners["p:"+c.Phone] = c.ContactID
	}
	if c.Email != "" {
		s.owners["e:"+c.emailKey] = c.ContactID
	}
}

func (s *Server) unindex(c *Contact) {
	for _, k := range []string{"p:" + c.Phone, "e:" + c.emailKey} {
		if s.owners[k] == c.ContactID {
			delete(s.owners, k)
		}
	}
}

type apiError struct {
	status  int
	code    string
	message string
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := requestID()
	params, action, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Action: action, Params: params})
	latency := s.latency
	f := s.takeFault(action)
	s.mu.Unlock()

	if f != nil && f.delay > 0 {
		latency, f = max(latency, f.delay), nil
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		case <-s.release:
			t.Stop()
		}
	}
	if f != nil && !f.drop {
		writeError(w, rid, &apiError{f.status, f.code, "Injected failure " + f.code + "."})
		return
	}
	body, aerr := s.dispatch(action, params, rid)
	if f != nil && f.drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) takeFault(action string) *fault {
	for i, f := range s.faults {
		if f.action == "" || f.action == action {
			f.times--
			if f.times <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

// authenticate checks the request the way the gateway does and returns its
// merged parameters.
func (s *Server) authenticate(r *http.Request) (url.Values, string, *apiError) {
	query := r.URL.Query()
	params := url.Values{}
	for k, v := range query {
		params[k] = v
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return nil, "", &apiError{400, "InvalidParameter", "Unreadable body."}
		}
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, "", &apiError{400, "InvalidParameter", "Malformed form body."}
		}
		for k, v := range form {
			params[k] = append(params[k], v...)
		}
	}
	sig := params.Get("Signature")
	params.Del("Signature")

	s.mu.Lock()
	defer s.mu.Unlock()
	reject := func(e *apiError) (url.Values, string, *apiError) {
		s.rejected++
		return nil, "", e
	}
	for _, p := range []string{"AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp", "Action", "Version"} {
		if p == "Signature" && sig != "" || p != "Signature" && params.Has(p) {
			continue
		}
		return reject(&apiError{400, "MissingParameter", fmt.Sprintf("The input parameter %q that is mandatory for processing this request is not supplied.", p)})
	}
	secret, ok := s.keys[params.Get("AccessKeyId")]
	if !ok {
		return reject(&apiError{404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."})
	}
	if params.Get("SignatureMethod") != "HMAC-SHA1" || params.Get("SignatureVersion") != "1.0" {
		return reject(&apiError{400, "InvalidParameter", "Unsupported SignatureMethod or SignatureVersion."})
	}
	ts, err := time.Parse(timeLayout, params.Get("Timestamp"))
	now := s.now()
	if err != nil || ts.Sub(now) > skew || now.Sub(ts) > skew {
		return reject(&apiError{400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."})
	}
	sts := StringToSign(r.Method, params)
	if !hmac.Equal([]byte(Sign(secret, sts)), []byte(sig)) {
		return reject(&apiError{400, "SignatureDoesNotMatch", signatureMsg + sts})
	}
	if s.token != "" && params.Get("SecurityToken") != s.token {
		return reject(&apiError{400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken is invalid."})
	}
	// Forget nonces older than the timestamp window: a request costs the
	// same at the millionth nonce as at the first.
	for len(s.nonceOrder) > 0 && now.Sub(s.nonceOrder[0].at) > skew {
		delete(s.nonces, s.nonceOrder[0].nonce)
		s.nonceOrder[0] = usedNonce{}
		s.nonceOrder = s.nonceOrder[1:]
	}
	nonce := params.Get("SignatureNonce")
	if _, used := s.nonces[nonce]; used {
		return reject(&apiError{400, "SignatureNonceUsed", "Specified signature nonce was used already."})
	}
	s.nonces[nonce] = now
	s.nonceOrder = append(s.nonceOrder, usedNonce{nonce, now})
	if params.Get("Version") != version {
		return reject(&apiError{400, "InvalidVersion", "Specified parameter Version is not valid."})
	}
	action := params.Get("Action")
	switch action {
	case "CreateAlertContact", "SearchAlertContact", "UpdateAlertContact", "DeleteAlertContact",
		"CreateAlertContactGroup", "SearchAlertContactGroup", "UpdateAlertContactGroup", "DeleteAlertContactGroup":
		// The legacy family documents RegionId as required.
		if params.Get("RegionId") == "" {
			return reject(&apiError{400, "ParameterRegionIdMissing", "RegionId is mandatory."})
		}
	case "CreateOrUpdateContact", "DescribeContacts", "DeleteContact", "SendTTSVerifyLink",
		"CreateOrUpdateContactGroup", "DescribeContactGroups", "DeleteContactGroup",
		"ListNotificationPolicies", "CreateOrUpdateIMRobot", "DescribeIMRobots", "DeleteIMRobot":
	default:
		return reject(&apiError{404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."})
	}
	return params, action, nil
}

func (s *Server) dispatch(action string, p url.Values, rid string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch action {
	case "CreateAlertContact":
		return s.create(p, rid)
	case "SearchAlertContact":
		return s.search(p, rid)
	case "UpdateAlertContact":
		return s.update(p, rid)
	case "DeleteAlertContact":
		return s.delete(p, rid)
	case "CreateAlertContactGroup":
		return s.createGroup(p, rid)
	case "SearchAlertContactGroup":
		return s.searchGroups(p, rid)
	case "UpdateAlertContactGroup":
		return s.updateGroup(p, rid)
	case "DeleteAlertContactGroup":
		return s.deleteGroup(p, rid)
	case "CreateOrUpdateContact":
		return s.createOrUpdateContact(p, rid)
	case "DescribeContacts":
		return s.describeContacts(p, rid)
	case "DeleteContact":
		return s.deleteContact(p, rid)
	case "SendTTSVerifyLink":
		return s.sendTTSVerifyLink(p, rid)
	case "CreateOrUpdateContactGroup":
		return s.createOrUpdateContactGroup(p, rid)
	case "DescribeContactGroups":
		return s.describeContactGroups(p, rid)
	case "DeleteContactGroup":
		return s.deleteContactGroup(p, rid)
	case "ListNotificationPolicies":
		return s.listNotificationPolicies(p, rid)
	case "CreateOrUpdateIMRobot":
		return s.createOrUpdateIMRobot(p, rid)
	case "DescribeIMRobots":
		return s.describeIMRobots(p, rid)
	case "DeleteIMRobot":
		return s.deleteIMRobot(p, rid)
	}
	return nil, &apiError{404, "InvalidAction.NotFound", "Specified api is not found."}
}

func (s *Server) create(p url.Values, rid string) (any, *apiError) {
	c := Contact{
		ContactName: p.Get("ContactName"),
		Phone:       p.Get("PhoneNum"),
		Email:       p.Get("Email"),
		DingRobot:   p.Get("DingRobotWebhookUrl"),
		SystemNoc:   p.Get("SystemNoc") == "true",
	}
	if e := s.checkContact(c, 0); e != nil {
		return nil, e
	}
	if len(s.contacts) >= s.max {
		return nil, &apiError{400, "ParameterIllegal", "The number of alert contacts has reached the upper limit of 100."}
	}
	s.nextID++
	c.ContactID = s.nextID
	c.CreateTime = s.now().UnixMilli()
	c.UpdateTime = c.CreateTime
	s.put(&c)
	return map[string]any{"ContactId": strconv.FormatInt(c.ContactID, 10), "RequestId": rid}, nil
}

// checkContact applies the documented rules: at least one channel, and a
// phone or email belongs to at most one contact. The error codes for the
// uniqueness rule are not documented; the stand-in uses ParameterIllegal.
func (s *Server) checkContact(c Contact, self int64) *apiError {
	if c.Phone == "" && c.Email == "" && c.DingRobot == "" {
		return &apiError{400, "ParameterMissing", "At least one of PhoneNum, Email and DingRobotWebhookUrl is required."}
	}
	if c.ContactName == "" {
		return &apiError{400, "ParameterMissing", "ContactName is mandatory for this action."}
	}
	if s.allowDup {
		return nil
	}
	if id, ok := s.owners["p:"+c.Phone]; ok && c.Phone != "" && id != self {
		return &apiError{400, "ParameterIllegal", "The phone number is already used by another contact."}
	}
	if id, ok := s.owners["e:"+strings.ToLower(c.Email)]; ok && c.Email != "" && id != self {
		return &apiError{400, "ParameterIllegal", "The email is already used by another contact."}
	}
	return nil
}

func (s *Server) search(p url.Values, rid string) (any, *apiError) {
	page, size := atoiOr(p.Get("CurrentPage"), 1), atoiOr(p.Get("PageSize"), defaultPage)
	if page < 1 || size < 1 || size > maxPageSize {
		return nil, &apiError{400, "ParameterIllegal", "CurrentPage or PageSize is out of range."}
	}
	ids := parseIDs(p.Get("ContactIds"))
	name, phone, email := p.Get("ContactName"), p.Get("Phone"), strings.ToLower(p.Get("Email"))
	var match []Contact
	for _, c := range s.contacts {
		switch {
		case len(ids) > 0 && !ids[c.ContactID]:
		case name != "" && !strings.Contains(c.ContactName, name):
		case phone != "" && !strings.Contains(c.Phone, phone):
		case email != "" && !strings.Contains(c.emailKey, email):
		default:
			match = append(match, *c)
		}
	}
	// Newest first, as the console lists them.
	sort.Slice(match, func(i, j int) bool { return match[i].ContactID > match[j].ContactID })
	total := len(match)
	from := min((page-1)*size, total)
	to := min(from+size, total)
	return map[string]any{
		"RequestId": rid,
		"PageBean": map[string]any{
			"PageNumber": page, "PageSize": size, "TotalCount": total, "Contacts": match[from:to],
		},
	}, nil
}

func (s *Server) update(p url.Values, rid string) (any, *apiError) {
	id, err := strconv.ParseInt(p.Get("ContactId"), 10, 64)
	if err != nil {
		return nil, &apiError{400, "ParameterMissing", "ContactId is mandatory for this action."}
	}
	old, ok := s.contacts[id]
	if !ok {
		return nil, &apiError{400, "ParameterIllegal", "The contact does not exist."}
	}
	// As documented, every channel the request omits is cleared.
	c := Contact{
		ContactID:   id,
		ContactName: p.Get("ContactName"),
		Phone:       p.Get("PhoneNum"),
		Email:       p.Get("Email"),
		DingRobot:   p.Get("DingRobotWebhookUrl"),
		SystemNoc:   p.Get("SystemNoc") == "true",
		CreateTime:  old.CreateTime,
		UpdateTime:  s.now().UnixMilli(),
	}
	if e := s.checkContact(c, id); e != nil {
		return nil, e
	}
	s.put(&c)
	return map[string]any{"IsSuccess": true, "RequestId": rid}, nil
}

func (s *Server) delete(p url.Values, rid string) (any, *apiError) {
	id, err := strconv.ParseInt(p.Get("ContactId"), 10, 64)
	if err != nil {
		return nil, &apiError{400, "ParameterMissing", "ContactId is mandatory for this action."}
	}
	c, ok := s.contacts[id]
	if !ok {
		if s.missing400 {
			return nil, &apiError{400, "InvalidParameter", "The contact " + strconv.FormatInt(id, 10) + " does not exist."}
		}
		return map[string]any{"IsSuccess": false, "RequestId": rid}, nil
	}
	s.unindex(c)
	delete(s.contacts, id)
	for _, g := range s.groups { // a deleted contact leaves its groups
		g.members = slices.DeleteFunc(g.members, func(m int64) bool { return m == id })
	}
	return map[string]any{"IsSuccess": true, "RequestId": rid}, nil
}

// parseIDs accepts the forms seen in the wild: [1,2], ["1","2"], "1,2", "1 2".
func parseIDs(s string) map[int64]bool {
	s = strings.Trim(s, "[] ")
	if s == "" {
		return nil
	}
	out := map[int64]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if n, err := strconv.ParseInt(strings.Trim(f, `"`), 10, 64); err == nil {
			out[n] = true
		}
	}
	if len(out) == 0 {
		out[-1] = true // a filter that matches nothing, not everything
	}
	return out
}

func atoiOr(s string, def int) int {
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func writeError(w http.ResponseWriter, rid string, e *apiError) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"Code":      e.code,
		"Message":   e.message,
		"RequestId": rid,
		"HostId":    hostID,
		"Recommend": "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.code) + "&product=ARMS",
	})
}

func requestID() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(rand.UintN(256))
	}
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]))
}

// Listen serves s on a new loopback listener and returns its base URL and a
// function that stops it. It is how `bot --sandbox` runs the stand-in.
func (s *Server) Listen() (baseURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s.URL = "http://" + ln.Addr().String()
	return s.URL, func() { s.Close(); _ = srv.Close() }, nil
}

// usedNonce is a nonce and when it came.
type usedNonce struct {
	nonce string
	at    time.Time
}
