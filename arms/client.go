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
	"strconv"
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

// Config holds what the client needs; Run fills it from the environment.
type Config struct {
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
	// code ("" on success, "transport" when no answer came) and latency.
	Observe func(action, code string, d time.Duration)
}

// Client calls ARMS. It is safe for concurrent use: the SDK client is not
// (it rewrites its own timeout and transport on every call), so Client keeps
// a pool of SDK clients, each with its own transport, and lends one to each
// call.
type Client struct {
	pool      *pool
	timeout   time.Duration
	retryBase time.Duration
	observe   func(action, code string, d time.Duration)
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
	c := &Client{pool: newPool(cfg.Clients), timeout: cfg.Timeout, retryBase: 200 * time.Millisecond, observe: cfg.Observe, log: log, creds: creds}
	if c.observe == nil {
		c.observe = func(string, string, time.Duration) {}
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
		cl, err := sdkarms.NewClientWithOptions(cfg.Region, sc, cred)
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
	log := c.log.With("arms_action", action, "elapsed_ms", elapsed.Milliseconds())
	if err != nil {
		e := classify(action, err, sent)
		code := e.code
		if code == "" {
			code = "transport"
		}
		c.observe(action, code, elapsed)
		log.WarnContext(ctx, "arms call failed", "code", e.code, "http_status", e.status, "arms_request_id", e.requestID, "sent", sent, "err", e.Error())
		return e
	}
	c.observe(action, "", elapsed)
	log.InfoContext(ctx, "arms call", "http_status", resp.GetHttpStatus(), "arms_request_id", requestIDOf(resp))
	return nil
}

// requestIDOf is the RequestId ARMS put in its answer: every generated
// response type has the field, and none has a method for it.
func requestIDOf(resp responses.AcsResponse) string {
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

// CreateContact calls CreateAlertContact. It retries only throttling, which
// the gateway answers before ARMS does anything; whether any other failed
// create may have happened is reported by the error's OutcomeUnknown.
func (c *Client) CreateContact(ctx context.Context, ct commands.Contact) (commands.Receipt, error) {
	req := createContactRequest(ct)
	resp := sdkarms.CreateCreateAlertContactResponse()
	if _, err := c.doRetrying(ctx, "CreateAlertContact", req, resp, (*Error).throttled); err != nil {
		return commands.Receipt{}, err
	}
	if resp.ContactId == "" {
		return commands.Receipt{}, &Error{action: "CreateAlertContact", requestID: resp.RequestId, sent: true,
			cause: errors.New("response carries no ContactId")}
	}
	return commands.Receipt{ContactID: resp.ContactId, RequestID: resp.RequestId}, nil
}

// Close releases the pooled connections and their goroutines; the client
// is not used afterwards.
func (c *Client) Close() {
	for range cap(c.pool.free) {
		p, _ := c.pool.get(context.Background())
		p.rt.base.CloseIdleConnections()
		close(p.calls)
	}
}

// SearchContacts calls SearchAlertContact. Filters may match partially, as
// the console's search does; callers wanting exact matches filter further.
func (c *Client) SearchContacts(ctx context.Context, q commands.ContactQuery) (commands.ContactPage, error) {
	req := sdkarms.CreateSearchAlertContactRequest()
	req.ContactName = q.Name
	req.Phone = q.Phone
	req.Email = q.Email
	if len(q.IDs) > 0 {
		// A JSON array of strings, as Terraform sends it.
		b, _ := json.Marshal(q.IDs)
		req.ContactIds = string(b)
	}
	if q.Page > 0 {
		req.CurrentPage = strconv.Itoa(q.Page)
	}
	if q.PageSize > 0 {
		req.PageSize = strconv.Itoa(q.PageSize)
	}
	resp := sdkarms.CreateSearchAlertContactResponse()
	if _, err := c.doRetrying(ctx, "SearchAlertContact", req, resp, (*Error).retrySafe); err != nil {
		return commands.ContactPage{}, err
	}
	pb := resp.PageBean
	page := commands.ContactPage{Total: pb.TotalCount, Page: pb.PageNumber, PageSize: pb.PageSize, RequestID: resp.RequestId}
	for _, ct := range pb.Contacts {
		c := commands.Contact{
			ID:        strconv.FormatInt(ct.ContactId, 10),
			Name:      ct.ContactName,
			Phone:     ct.Phone,
			Email:     ct.Email,
			Webhook:   ct.DingRobot,
			SystemNoc: ct.SystemNoc,
		}
		if ct.CreateTime > 0 {
			c.Created = time.UnixMilli(ct.CreateTime)
		}
		page.Contacts = append(page.Contacts, c)
	}
	return page, nil
}

// UpdateContact calls UpdateAlertContact with every field of ct: ARMS clears
// the channels an update leaves out, so callers pass the whole contact.
func (c *Client) UpdateContact(ctx context.Context, ct commands.Contact) (commands.Receipt, error) {
	req := updateContactRequest(ct)
	resp := sdkarms.CreateUpdateAlertContactResponse()
	if _, err := c.doRetrying(ctx, "UpdateAlertContact", req, resp, (*Error).retrySafe); err != nil {
		return commands.Receipt{}, err
	}
	// A 2xx answer can still say it did nothing.
	if !resp.UpdateAlertContactIsSuccess {
		return commands.Receipt{}, &Error{action: "UpdateAlertContact", code: "IsSuccess.False", requestID: resp.RequestId,
			status: resp.GetHttpStatus(), sent: true, message: "ARMS answered IsSuccess=false"}
	}
	return commands.Receipt{ContactID: ct.ID, RequestID: resp.RequestId}, nil
}

// DeleteContact calls DeleteAlertContact. It reports commands.ErrNotFound
// when ARMS says there was nothing to delete.
func (c *Client) DeleteContact(ctx context.Context, id string) (commands.Receipt, error) {
	req := deleteContactRequest(id)
	resp := sdkarms.CreateDeleteAlertContactResponse()
	unknown, err := c.doRetrying(ctx, "DeleteAlertContact", req, resp, (*Error).retrySafe)
	nothing, err := nothingDeleted(err, resp.DeleteAlertContactIsSuccess)
	switch {
	case err != nil:
		return commands.Receipt{}, err
	case nothing && !unknown:
		return commands.Receipt{RequestID: resp.RequestId}, fmt.Errorf("delete contact %s: %w", id, commands.ErrNotFound)
	}
	// After an attempt whose answer was lost, "nothing to delete" means
	// that attempt deleted it.
	return commands.Receipt{ContactID: id, RequestID: resp.RequestId}, nil
}

// CreateGroup calls CreateAlertContactGroup. Like a contact's create, it
// is retried only when ARMS surely did nothing.
func (c *Client) CreateGroup(ctx context.Context, name string, contactIDs []string) (commands.Receipt, error) {
	req := createGroupRequest(commands.Group{Name: name, ContactIDs: contactIDs})
	resp := sdkarms.CreateCreateAlertContactGroupResponse()
	if _, err := c.doRetrying(ctx, "CreateAlertContactGroup", req, resp, (*Error).throttled); err != nil {
		return commands.Receipt{}, err
	}
	if resp.ContactGroupId == "" {
		return commands.Receipt{}, &Error{action: "CreateAlertContactGroup", requestID: resp.RequestId, sent: true,
			cause: errors.New("response carries no ContactGroupId")}
	}
	return commands.Receipt{GroupID: resp.ContactGroupId, RequestID: resp.RequestId}, nil
}

// SearchGroups calls SearchAlertContactGroup, which is not paged.
func (c *Client) SearchGroups(ctx context.Context, q commands.GroupQuery) (commands.GroupList, error) {
	req := sdkarms.CreateSearchAlertContactGroupRequest()
	req.ContactGroupName = q.Name
	if len(q.IDs) > 0 {
		b, _ := json.Marshal(q.IDs) // a JSON array of strings, as Terraform sends it
		req.ContactGroupIds = string(b)
	}
	if q.ContactID != "" {
		req.ContactId = requests.Integer(q.ContactID)
	}
	req.IsDetail = requests.NewBoolean(q.Detail)
	resp := sdkarms.CreateSearchAlertContactGroupResponse()
	if _, err := c.doRetrying(ctx, "SearchAlertContactGroup", req, resp, (*Error).retrySafe); err != nil {
		return commands.GroupList{}, err
	}
	out := commands.GroupList{RequestID: resp.RequestId}
	for _, g := range resp.ContactGroups {
		group := commands.Group{ID: strconv.FormatInt(g.ContactGroupId, 10), Name: g.ContactGroupName}
		for _, ct := range g.Contacts {
			id := strconv.FormatInt(ct.ContactId, 10)
			group.ContactIDs = append(group.ContactIDs, id)
			group.Members = append(group.Members, commands.Contact{ID: id, Name: ct.ContactName, Phone: ct.Phone,
				Email: ct.Email, Webhook: ct.DingRobot, SystemNoc: ct.SystemNoc})
		}
		out.Groups = append(out.Groups, group)
	}
	return out, nil
}

// UpdateGroup calls UpdateAlertContactGroup with the group's name and its
// complete member list: ARMS replaces both.
func (c *Client) UpdateGroup(ctx context.Context, g commands.Group) (commands.Receipt, error) {
	req := updateGroupRequest(g)
	resp := sdkarms.CreateUpdateAlertContactGroupResponse()
	if _, err := c.doRetrying(ctx, "UpdateAlertContactGroup", req, resp, (*Error).retrySafe); err != nil {
		return commands.Receipt{}, err
	}
	if !resp.UpdateAlertContactGroupIsSuccess {
		return commands.Receipt{}, &Error{action: "UpdateAlertContactGroup", code: "IsSuccess.False", requestID: resp.RequestId,
			status: resp.GetHttpStatus(), sent: true, message: "ARMS answered IsSuccess=false"}
	}
	return commands.Receipt{GroupID: g.ID, RequestID: resp.RequestId}, nil
}

// DeleteGroup calls DeleteAlertContactGroup; commands.ErrNotFound when ARMS
// says there was nothing to delete.
func (c *Client) DeleteGroup(ctx context.Context, id string) (commands.Receipt, error) {
	req := deleteGroupRequest(id)
	resp := sdkarms.CreateDeleteAlertContactGroupResponse()
	unknown, err := c.doRetrying(ctx, "DeleteAlertContactGroup", req, resp, (*Error).retrySafe)
	nothing, err := nothingDeleted(err, resp.DeleteAlertContactGroupIsSuccess)
	switch {
	case err != nil:
		return commands.Receipt{}, err
	case nothing && !unknown:
		return commands.Receipt{RequestID: resp.RequestId}, fmt.Errorf("delete group %s: %w", id, commands.ErrNotFound)
	}
	return commands.Receipt{GroupID: id, RequestID: resp.RequestId}, nil
}

// nothingDeleted reads a delete's outcome: ARMS says there was nothing to
// delete with HTTP 200 and IsSuccess false, or refuses with a 400 that
// says so; any other error stands.
func nothingDeleted(err error, success bool) (bool, error) {
	var e *Error
	if errors.As(err, &e) && e.missing() {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return !success, nil
}
