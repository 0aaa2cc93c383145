// Package arms talks to Alibaba Cloud ARMS (API version 2019-08-08) through
// the official SDK, for the core's Contacts port. It is the only package
// that imports the SDK, and it decides what ARMS's answers mean: which
// error is which kind of fault, whether a call may have taken effect, and
// whether it may be sent again (errors.go).
package arms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	sdkarms "github.com/aliyun/alibaba-cloud-sdk-go/services/arms"

	"github.com/armsbot/armsbot/commands"
)

// Family is a family of ARMS's contact APIs; both are in API version
// 2019-08-08 and signed alike.
type Family string

const (
	// Legacy is CreateAlertContact and its kin, which ARMS no longer
	// maintains.
	Legacy Family = "legacy"
	// AlertManagement is CreateOrUpdateContact and its kin, behind the
	// console's Alert Management → Notification Objects.
	AlertManagement Family = "alert-management"
)

// ParseFamily reads ARMS_CONTACT_API.
func ParseFamily(s string) (Family, error) {
	switch f := Family(strings.ToLower(strings.TrimSpace(s))); f {
	case "", Legacy:
		return Legacy, nil
	case AlertManagement:
		return f, nil
	}
	return "", fmt.Errorf("%q is not legacy or alert-management", s)
}

// Config holds what the client needs; Run fills it from the environment.
type Config struct {
	// Family is the contact API family to use: Legacy when empty.
	Family          Family
	Region          string
	Endpoint        string // full URL overriding the regional endpoint; its scheme decides http/https
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
	Timeout         time.Duration // per call, bounded further by the caller's deadline
	Clients         int           // SDK clients in the pool: calls that may run at once
	// OIDC, when set, takes credentials from RRSA (see OIDC).
	OIDC *OIDC
	// DefaultChain uses the SDK's default credential chain (environment,
	// profiles, ECS RAM role, credentials URI) instead of an AccessKey pair.
	DefaultChain bool
	// Observe, when set, is told of every call: its action, its ARMS error
	// code ("" on success, "transport" when no answer came), what kind of
	// failure that is (Error.Fault; "" on success) and its latency.
	Observe func(action, code string, fault commands.Fault, d time.Duration)
}

// Client calls ARMS. It is safe for concurrent use: the SDK client is not
// (it rewrites its own timeout and transport on every call), so Client keeps
// a pool of SDK clients, each with its own transport, and lends one to each
// call.
type Client struct {
	family    Family
	pool      *pool
	timeout   time.Duration
	retryBase time.Duration
	observe   func(action, code string, fault commands.Fault, d time.Duration)
	log       *slog.Logger
	creds     *provider // nil with an AccessKey pair
}

type pooled struct {
	sdk *sdkarms.Client
	rt  *callTransport
	// calls are run by the client's own goroutine, whose stack is shallow:
	// the SDK's request nonce formats the calling goroutine's whole stack
	// (utils.GetNonce reads the goroutine id from runtime.Stack), and a
	// handler's stack is deep.
	calls chan func()
}

func (p *pooled) serve() {
	for f := range p.calls {
		f()
	}
}

// pool lends the client returned last (a stack, not a queue): calls reuse
// the fewest clients, so their connections to ARMS stay warm and few,
// instead of a burst leaving every client with a connection of its own.
type pool struct {
	mu   sync.Mutex
	idle []*pooled
	free chan struct{} // one token per idle client
}

func newPool(n int) *pool { return &pool{free: make(chan struct{}, n)} }

func (p *pool) get(ctx context.Context) (*pooled, error) {
	select {
	case <-p.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	return c, nil
}

func (p *pool) put(c *pooled) {
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
	p.free <- struct{}{}
}

// New builds a client. It does not contact ARMS.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	if cfg.Region == "" {
		return nil, errors.New("arms: region is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 8
	}
	scheme, domain := "HTTPS", "arms."+cfg.Region+".aliyuncs.com"
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("arms: endpoint %q must be a URL such as https://arms.cn-hangzhou.aliyuncs.com", cfg.Endpoint)
		}
		scheme, domain = strings.ToUpper(u.Scheme), u.Host
	}
	var (
		cred  auth.Credential
		creds *provider
	)
	switch {
	case cfg.AccessKeyID == "" && cfg.AccessKeySecret == "" && cfg.OIDC != nil:
		p, err := newOIDCProvider(*cfg.OIDC)
		if err != nil {
			return nil, err
		}
		creds = &provider{p: p}
		cred = creds
	case cfg.AccessKeyID == "" && cfg.AccessKeySecret == "" && cfg.DefaultChain:
		creds = &provider{p: credentials.NewDefaultCredentialsProvider()}
		cred = creds
	case cfg.AccessKeyID == "" || cfg.AccessKeySecret == "":
		return nil, errors.New("arms: an AccessKey id and secret are required")
	case cfg.SecurityToken != "":
		cred = credentials.NewStsTokenCredential(cfg.AccessKeyID, cfg.AccessKeySecret, cfg.SecurityToken)
	default:
		cred = credentials.NewAccessKeyCredential(cfg.AccessKeyID, cfg.AccessKeySecret)
	}
	if cfg.Family == "" {
		cfg.Family = Legacy
	}
	c := &Client{family: cfg.Family, pool: newPool(cfg.Clients), timeout: cfg.Timeout, retryBase: 200 * time.Millisecond, observe: cfg.Observe, log: log, creds: creds}
	if c.observe == nil {
		c.observe = func(string, string, commands.Fault, time.Duration) {}
	}
	for range cfg.Clients {
		rt := &callTransport{base: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          4,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: cfg.Timeout,
			ForceAttemptHTTP2:     true,
		}}
		// AutoRetry stays off: a retried create can duplicate a contact, and
		// callers decide what is safe to retry.
		sc := sdk.NewConfig().WithScheme(scheme).WithAutoRetry(false).WithTimeout(cfg.Timeout)
		sc.Transport = rt
		cl, err := newSDKClient(cfg.Region, sc, cred)
		if err != nil {
			return nil, fmt.Errorf("arms: new sdk client: %w", err)
		}
		cl.Domain = domain
		p := &pooled{sdk: cl, rt: rt, calls: make(chan func())}
		go p.serve()
		c.pool.put(p)
	}
	return c, nil
}

// callTransport carries the caller's context into the SDK's requests (the
// SDK has no context parameter) and records whether a request was written
// to the wire, which decides whether a failed create may have happened.
// Each pooled SDK client has its own, used by one call at a time.
type callTransport struct {
	base *http.Transport
	ctx  context.Context
	sent atomic.Bool
}

func (t *callTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := t.ctx
	if ctx == nil {
		ctx = r.Context()
	}
	trace := &httptrace.ClientTrace{WroteHeaders: func() { t.sent.Store(true) }}
	return t.base.RoundTrip(r.WithContext(httptrace.WithClientTrace(ctx, trace)))
}

// do runs one SDK action with a pooled client, bounded by ctx and the
// configured timeout.
func (c *Client) do(ctx context.Context, action string, req requests.AcsRequest, resp responses.AcsResponse) error {
	if err := ctx.Err(); err != nil {
		return &Error{action: action, cause: err}
	}
	p, err := c.pool.get(ctx)
	if err != nil {
		return &Error{action: action, cause: err}
	}
	defer c.pool.put(p)

	timeout := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	req.SetReadTimeout(timeout)
	p.rt.ctx = ctx
	p.rt.sent.Store(false)
	start := time.Now()
	done := make(chan error, 1)
	p.calls <- func() { done <- p.sdk.DoAction(req, resp) }
	err = <-done
	p.rt.ctx = nil
	sent := p.rt.sent.Load()

	elapsed := time.Since(start)
	// The context carries the message's own log attributes (its msg_id).
	if err != nil {
		e := classify(action, err, sent)
		code := e.code
		if code == "" {
			code = "transport"
		}
		c.observe(action, code, e.Fault(), elapsed)
		c.log.WarnContext(ctx, "arms call failed", "arms_action", action, "elapsed_ms", elapsed.Milliseconds(),
			"code", e.code, "http_status", e.status, "arms_request_id", e.requestID, "sent", sent, "err", e.Error())
		return e
	}
	c.observe(action, "", "", elapsed)
	// Finding the request id decodes the answer: only for a line written.
	if c.log.Enabled(ctx, slog.LevelInfo) {
		c.log.InfoContext(ctx, "arms call", "arms_action", action, "elapsed_ms", elapsed.Milliseconds(),
			"http_status", resp.GetHttpStatus(), "arms_request_id", requestIDOf(resp))
	}
	return nil
}

// requestIDOf is the RequestId ARMS put in its answer: every generated
// response type has the field, and none has a method for it.
func requestIDOf(resp responses.AcsResponse) string {
	if cr, ok := resp.(*responses.CommonResponse); ok {
		var body struct {
			RequestID string `json:"RequestId"`
		}
		if json.Unmarshal(cr.GetHttpContentBytes(), &body) == nil && body.RequestID != "" {
			return body.RequestID
		}
	}
	v := reflect.ValueOf(resp)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		if f := v.Elem().FieldByName("RequestId"); f.IsValid() && f.Kind() == reflect.String && f.String() != "" {
			return f.String()
		}
	}
	if h := resp.GetHttpHeaders()["X-Acs-Request-Id"]; len(h) > 0 {
		return h[0]
	}
	return ""
}

// doRetrying runs a repeatable action, retrying with backoff while the
// caller's deadline allows. unknown reports whether an earlier attempt
// failed in a way that leaves open whether ARMS did the work.
func (c *Client) doRetrying(ctx context.Context, action string, req requests.AcsRequest, resp responses.AcsResponse, retry func(*Error) bool) (unknown bool, err error) {
	backoff := c.retryBase
	for attempt := 1; ; attempt++ {
		err = c.do(ctx, action, req, resp)
		var e *Error
		if err == nil || !errors.As(err, &e) || !retry(e) || attempt == maxAttempts {
			return unknown, err
		}
		unknown = unknown || e.OutcomeUnknown()
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < backoff {
			return unknown, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return unknown, err
		}
		backoff = min(2*backoff, 3*time.Second)
	}
}

// maxAttempts bounds retries of repeatable calls.
const maxAttempts = 4

// Close releases the pooled connections and their goroutines; the client
// is not used afterwards.
func (c *Client) Close() {
	for range cap(c.pool.free) {
		p, _ := c.pool.get(context.Background())
		p.rt.base.CloseIdleConnections()
		close(p.calls)
	}
}

// Traits are what the configured family promises and offers.
func (c *Client) Traits() commands.Traits {
	am := c.family == AlertManagement
	return commands.Traits{Family: string(c.family), Unique: am, Robots: !am, Verification: am, Fallback: am, SystemNoc: !am, IMRobots: am}
}

// CreateContact creates ct. It retries only throttling, which the gateway
// answers before ARMS does anything; whether any other failed create may
// have happened is reported by the error's OutcomeUnknown.
func (c *Client) CreateContact(ctx context.Context, ct commands.Contact) (commands.Receipt, error) {
	if c.family == AlertManagement {
		return c.amCreateContact(ctx, ct)
	}
	return c.legacyCreateContact(ctx, ct)
}

// SearchContacts finds contacts. Filters may match partially, as the
// console's search does; callers wanting exact matches filter further.
func (c *Client) SearchContacts(ctx context.Context, q commands.ContactQuery) (commands.ContactPage, error) {
	if c.family == AlertManagement {
		return c.amSearchContacts(ctx, q)
	}
	return c.legacySearchContacts(ctx, q)
}

// UpdateContact replaces every field of ct.ID with ct's: ARMS clears what
// an update leaves out, so callers pass the whole contact.
func (c *Client) UpdateContact(ctx context.Context, ct commands.Contact) (commands.Receipt, error) {
	if c.family == AlertManagement {
		return c.amUpdateContact(ctx, ct)
	}
	return c.legacyUpdateContact(ctx, ct)
}

// DeleteContact deletes the contact id; commands.ErrNotFound when ARMS says
// there was nothing to delete.
func (c *Client) DeleteContact(ctx context.Context, id string) (commands.Receipt, error) {
	if c.family == AlertManagement {
		return c.amDeleteContact(ctx, id)
	}
	return c.legacyDeleteContact(ctx, id)
}

// CreateGroup creates a contact group; like a contact's create, it is
// retried only when ARMS surely did nothing.
func (c *Client) CreateGroup(ctx context.Context, name string, contactIDs []string) (commands.Receipt, error) {
	if c.family == AlertManagement {
		return c.amCreateGroup(ctx, name, contactIDs)
	}
	return c.legacyCreateGroup(ctx, name, contactIDs)
}

// SearchGroups finds contact groups, every one that matches.
func (c *Client) SearchGroups(ctx context.Context, q commands.GroupQuery) (commands.GroupList, error) {
	if c.family == AlertManagement {
		return c.amSearchGroups(ctx, q)
	}
	return c.legacySearchGroups(ctx, q)
}

// UpdateGroup replaces the group's name and its complete member list.
func (c *Client) UpdateGroup(ctx context.Context, g commands.Group) (commands.Receipt, error) {
	if c.family == AlertManagement {
		return c.amUpdateGroup(ctx, g)
	}
	return c.legacyUpdateGroup(ctx, g)
}

// DeleteGroup deletes the group id; commands.ErrNotFound when ARMS says
// there was nothing to delete.
func (c *Client) DeleteGroup(ctx context.Context, id string) (commands.Receipt, error) {
	if c.family == AlertManagement {
		return c.amDeleteGroup(ctx, id)
	}
	return c.legacyDeleteGroup(ctx, id)
}

// sdkClients serialises the SDK's constructor: it fills a package-level
// endpoint map on first use without a lock, so two clients made at once
// (two bots in one process, tests in parallel) race on it. The one
// package-level variable here guards the SDK's own.
var sdkClients sync.Mutex

func newSDKClient(region string, sc *sdk.Config, cred auth.Credential) (*sdkarms.Client, error) {
	sdkClients.Lock()
	defer sdkClients.Unlock()
	return sdkarms.NewClientWithOptions(region, sc, cred)
}
