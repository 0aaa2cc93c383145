package arms_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms"
	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/commands"
)

func newClient(t *testing.T, endpoint string, mod func(*arms.Config)) *arms.Client {
	t.Helper()
	cfg := arms.Config{
		Region: "cn-hangzhou", Endpoint: endpoint, Timeout: 2 * time.Second, Clients: 4,
		AccessKeyID: armstest.AccessKeyID, AccessKeySecret: armstest.AccessKeySecret,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := arms.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// closedEndpoint is an address where nothing listens: connections are refused.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

func armsErr(t *testing.T, err error) *arms.Error {
	t.Helper()
	var ae *arms.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *arms.Error", err, err)
	}
	return ae
}

func TestCreateContact(t *testing.T) {
	srv := armstest.NewServer()
	defer srv.Close()
	c := newClient(t, srv.URL, nil)
	rc, err := c.CreateContact(t.Context(), commands.Contact{
		Name: "John Doe", Email: "someone@example.com", Phone: "13811112222",
		Webhook: "https://oapi.dingtalk.com/robot/send?access_token=abc", SystemNoc: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Contacts()
	if len(got) != 1 || rc.ContactID != itoa(got[0].ContactID) || rc.RequestID == "" {
		t.Fatalf("receipt %+v, stand-in holds %+v", rc, got)
	}
	want := armstest.Contact{ContactID: got[0].ContactID, ContactName: "John Doe", Email: "someone@example.com", Phone: "13811112222",
		DingRobot: "https://oapi.dingtalk.com/robot/send?access_token=abc", SystemNoc: true, CreateTime: got[0].CreateTime, UpdateTime: got[0].UpdateTime}
	if got[0] != want {
		t.Errorf("stored %+v, want %+v", got[0], want)
	}
}

func TestSecurityTokenIsSent(t *testing.T) {
	srv := armstest.NewServer(armstest.WithSecurityToken("sts-token"))
	defer srv.Close()
	if _, err := newClient(t, srv.URL, nil).CreateContact(t.Context(), commands.Contact{Name: "A", Email: "a@example.com"}); err == nil {
		t.Fatal("create without the required STS token succeeded")
	}
	c := newClient(t, srv.URL, func(c *arms.Config) { c.SecurityToken = "sts-token" })
	if _, err := c.CreateContact(t.Context(), commands.Contact{Name: "A", Email: "a@example.com"}); err != nil {
		t.Fatalf("create with STS token: %v", err)
	}
}

func TestErrorsAreClassifiedWithoutSecrets(t *testing.T) {
	srv := armstest.NewServer()
	defer srv.Close()
	tests := []struct {
		name   string
		setup  func()
		client func(*arms.Config)
		code   string
		status int
	}{
		{"wrong secret", nil, func(c *arms.Config) { c.AccessKeySecret = "wrong-secret" }, "SignatureDoesNotMatch", 400},
		{"unknown key", nil, func(c *arms.Config) { c.AccessKeyID = "nobody" }, "InvalidAccessKeyId.NotFound", 404},
		{"RAM denies", func() { srv.Fail("CreateAlertContact", "Forbidden.RAM", 403, 1) }, nil, "Forbidden.RAM", 403},
		{"throttled past every retry", func() { srv.Fail("", "Throttling.User", 400, 4) }, nil, "Throttling.User", 400},
		{"server error", func() { srv.Fail("", "InternalError", 500, 1) }, nil, "InternalError", 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			_, err := newClient(t, srv.URL, tc.client).CreateContact(t.Context(), commands.Contact{Name: "A", Email: "a@example.com"})
			ae := armsErr(t, err)
			if ae.ErrorCode() != tc.code || ae.HTTPStatus() != tc.status || ae.RequestID() == "" || !ae.Sent() {
				t.Fatalf("got code=%q status=%d rid=%q sent=%v, want %s/%d", ae.ErrorCode(), ae.HTTPStatus(), ae.RequestID(), ae.Sent(), tc.code, tc.status)
			}
			for _, leak := range []string{armstest.AccessKeyID, armstest.AccessKeySecret, "wrong-secret", "Signature=", "string to sign"} {
				if strings.Contains(err.Error(), leak) || strings.Contains(ae.Message(), leak) {
					t.Errorf("error text leaks %q: %s", leak, err)
				}
			}
		})
	}
	if n := len(srv.Contacts()); n != 0 {
		t.Errorf("failed calls created %d contacts", n)
	}
}

// Throttling is refused before ARMS does anything, so even a create is
// sent again; a server error is not (it may have been done).
func TestRetries(t *testing.T) {
	srv := armstest.NewServer()
	defer srv.Close()
	c := newClient(t, srv.URL, nil)
	srv.Fail("CreateAlertContact", "Throttling.User", 400, 2)
	if _, err := c.CreateContact(t.Context(), commands.Contact{Name: "A", Email: "a@example.com"}); err != nil {
		t.Fatalf("create after two throttles: %v", err)
	}
	if n := len(srv.Calls("CreateAlertContact")); n != 3 {
		t.Errorf("%d create calls, want 3", n)
	}
	srv.Fail("CreateAlertContact", "InternalError", 500, 1)
	_, err := c.CreateContact(t.Context(), commands.Contact{Name: "B", Email: "b@example.com"})
	if ae := armsErr(t, err); !ae.OutcomeUnknown() {
		t.Errorf("a 5xx create is not reported as unknown")
	}
	if n := len(srv.Calls("CreateAlertContact")); n != 4 {
		t.Errorf("a 5xx create was retried blindly (%d calls, want 4)", n)
	}
	srv.Fail("SearchAlertContact", "ServiceUnavailable", 503, 2)
	if _, err := c.SearchContacts(t.Context(), commands.ContactQuery{}); err != nil {
		t.Errorf("search after two 503s: %v", err)
	}
	// A delete whose first answer was lost: ARMS then says there is nothing
	// to delete, which means the first attempt did it.
	id := strconv.FormatInt(srv.AddContact(armstest.Contact{ContactName: "D", Email: "d@example.com"}), 10)
	srv.DropResponse("DeleteAlertContact", 1)
	if _, err := c.DeleteContact(t.Context(), id); err != nil {
		t.Errorf("delete after a lost answer: %v", err)
	}
	if _, err := c.DeleteContact(t.Context(), id); !errors.Is(err, commands.ErrNotFound) {
		t.Errorf("deleting a missing contact: %v, want ErrNotFound", err)
	}
}

// Whether a failed create may have happened decides whether it is safe to
// retry: a refused connection sent nothing, a lost response did.
func TestSentTellsUnknownOutcomes(t *testing.T) {
	_, err := newClient(t, closedEndpoint(t), nil).CreateContact(t.Context(), commands.Contact{Name: "A", Email: "a@example.com"})
	if ae := armsErr(t, err); ae.Sent() || ae.ErrorCode() != "" {
		t.Errorf("refused connection: sent=%v code=%q, want not sent", ae.Sent(), ae.ErrorCode())
	}
	if strings.Contains(err.Error(), "AccessKeyId") {
		t.Errorf("transport error leaks the request URL: %v", err)
	}

	srv := armstest.NewServer()
	defer srv.Close()
	srv.DropResponse("CreateAlertContact", 1)
	_, err = newClient(t, srv.URL, nil).CreateContact(t.Context(), commands.Contact{Name: "A", Email: "a@example.com"})
	if ae := armsErr(t, err); !ae.Sent() {
		t.Errorf("lost response: sent=false, want true")
	}
	if n := len(srv.Contacts()); n != 1 {
		t.Errorf("the dropped create should have committed; stand-in holds %d", n)
	}

	srv.SetLatency(time.Second)
	_, err = newClient(t, srv.URL, func(c *arms.Config) { c.Timeout = 100 * time.Millisecond }).
		CreateContact(t.Context(), commands.Contact{Name: "B", Email: "b@example.com"})
	if ae := armsErr(t, err); !ae.Sent() {
		t.Errorf("timeout: sent=false, want true")
	}
}

func TestCallerDeadlineBoundsTheCall(t *testing.T) {
	srv := armstest.NewServer()
	defer srv.Close()
	srv.SetLatency(5 * time.Second)
	c := newClient(t, srv.URL, func(c *arms.Config) { c.Timeout = 30 * time.Second })
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.CreateContact(ctx, commands.Contact{Name: "A", Email: "a@example.com"})
	if err == nil {
		t.Fatal("create succeeded despite the caller's deadline")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("call took %s despite a 200ms deadline", d)
	}
}

// The SDK client is not safe for concurrent use; the pool makes Client so.
// Run with -race.
func TestConcurrentCalls(t *testing.T) {
	srv := armstest.NewServer()
	defer srv.Close()
	c := newClient(t, srv.URL, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.CreateContact(t.Context(), commands.Contact{Name: "C", Email: "c" + itoa(int64(i)) + "@example.com"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(srv.Contacts()); n != 32 {
		t.Errorf("stand-in holds %d contacts, want 32", n)
	}
	if srv.Rejected() != 0 {
		t.Errorf("%d requests failed signature checks under concurrency", srv.Rejected())
	}
}

// Calls reuse the client returned last, so that the bot keeps as few
// connections to ARMS as it has calls in flight, however large its pool: a
// pool lent in turn would give every client a connection of its own.
func TestCallsReuseWarmConnections(t *testing.T) {
	srv := armstest.NewServer(armstest.WithMaxContacts(1000))
	defer srv.Close()
	c := newClient(t, srv.URL, func(cfg *arms.Config) { cfg.Clients = 32 })
	defer c.Close()
	create := func(i int) {
		if _, err := c.CreateContact(t.Context(), commands.Contact{Name: "C", Email: "w" + strconv.Itoa(i) + "@example.com"}); err != nil {
			t.Error(err)
		}
	}
	for i := range 40 {
		create(i)
	}
	if n := srv.Conns(); n != 1 {
		t.Errorf("40 calls one after another opened %d connections, want 1", n)
	}
	const inFlight = 4
	var wg sync.WaitGroup
	for g := range inFlight {
		wg.Go(func() {
			for i := range 25 {
				create(100 + g*100 + i)
			}
		})
	}
	wg.Wait()
	if n := srv.Conns(); n > inFlight {
		t.Errorf("%d callers opened %d connections, want at most %d", inFlight, n, inFlight)
	}
}

// This package decides what ARMS's codes mean: each answer, and each way of
// getting none, is sorted into the kind of fault the chat explains.
func TestFaults(t *testing.T) {
	tests := []struct {
		code    string
		status  int
		fault   commands.Fault
		unknown bool // the create may have happened
	}{
		{"Forbidden.RAM", 403, commands.FaultForbidden, false},
		{"APINotAuthorize", 403, commands.FaultForbidden, false},
		{"Throttling.User", 400, commands.FaultThrottled, false},
		{"ARMSNotOpen", 400, commands.FaultNotActivated, false},
		{"InvalidAccessKeyId.NotFound", 404, commands.FaultCredentials, false},
		{"SignatureDoesNotMatch", 400, commands.FaultCredentials, false},
		{"InvalidSecurityToken.Expired", 400, commands.FaultCredentials, false},
		{"InternalError", 500, commands.FaultUnavailable, true},
		{"ServiceUnavailable", 503, commands.FaultUnavailable, true},
		{"ParameterIllegal", 400, commands.FaultInvalid, false},
		{"SomethingElse", 409, commands.FaultOther, false},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			srv := armstest.NewServer()
			defer srv.Close()
			// Throttling is retried; make it last past every attempt.
			srv.Fail("CreateAlertContact", tc.code, tc.status, 4)
			_, err := newClient(t, srv.URL, nil).CreateContact(t.Context(), commands.Contact{Name: "F", Email: "f@example.com"})
			ae := armsErr(t, err)
			if ae.Fault() != tc.fault || ae.OutcomeUnknown() != tc.unknown {
				t.Errorf("%s (HTTP %d): fault %q, unknown=%v; want %q, %v", tc.code, tc.status, ae.Fault(), ae.OutcomeUnknown(), tc.fault, tc.unknown)
			}
		})
	}

	// No answer at all: refused before sending, or lost after.
	_, err := newClient(t, closedEndpoint(t), nil).CreateContact(t.Context(), commands.Contact{Name: "U", Email: "u@example.com"})
	if f := armsErr(t, err).Fault(); f != commands.FaultUnreachable {
		t.Errorf("refused connection: fault %q, want unreachable", f)
	}
	srv := armstest.NewServer()
	defer srv.Close()
	srv.DropResponse("CreateAlertContact", 1)
	_, err = newClient(t, srv.URL, nil).CreateContact(t.Context(), commands.Contact{Name: "N", Email: "n@example.com"})
	if ae := armsErr(t, err); ae.Fault() != commands.FaultNoAnswer || !ae.OutcomeUnknown() {
		t.Errorf("lost answer: fault %q, unknown=%v; want no_answer, true", ae.Fault(), ae.OutcomeUnknown())
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, cfg := range []arms.Config{
		{Region: "", AccessKeyID: "a", AccessKeySecret: "b"},
		{Region: "cn-hangzhou"},
		{Region: "cn-hangzhou", AccessKeyID: "a", AccessKeySecret: "b", Endpoint: "ftp://x"},
		{Region: "cn-hangzhou", AccessKeyID: "a", AccessKeySecret: "b", Endpoint: "127.0.0.1:9000"},
	} {
		if _, err := arms.New(cfg, log); err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// ARMS may say "nothing to delete" with HTTP 200 and IsSuccess false, or
// refuse with a 400 that says the id does not exist; either way, after an
// attempt whose answer was lost it means that attempt deleted it, and
// otherwise it is ErrNotFound, never a refusal shown to the sender.
func TestDeleteOfAMissingIDInEitherForm(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(map[bool]string{false: "IsSuccess false", true: "HTTP 400"}[refuse], func(t *testing.T) {
			srv := armstest.NewServer()
			defer srv.Close()
			srv.RefuseMissingDeletes(refuse)
			c := newClient(t, srv.URL, nil)
			id := strconv.FormatInt(srv.AddContact(armstest.Contact{ContactName: "D", Email: "d@example.com"}), 10)
			gid := strconv.FormatInt(srv.AddGroup("G"), 10)
			srv.DropResponse("DeleteAlertContact", 1)
			srv.DropResponse("DeleteAlertContactGroup", 1)
			if _, err := c.DeleteContact(t.Context(), id); err != nil {
				t.Errorf("contact delete after a lost answer: %v", err)
			}
			if _, err := c.DeleteGroup(t.Context(), gid); err != nil {
				t.Errorf("group delete after a lost answer: %v", err)
			}
			if _, err := c.DeleteContact(t.Context(), id); !errors.Is(err, commands.ErrNotFound) {
				t.Errorf("deleting a missing contact: %v, want ErrNotFound", err)
			}
			if _, err := c.DeleteGroup(t.Context(), gid); !errors.Is(err, commands.ErrNotFound) {
				t.Errorf("deleting a missing group: %v, want ErrNotFound", err)
			}
			// Another refusal stays a refusal.
			srv.Fail("DeleteAlertContact", "Forbidden.RAM", 403, 1)
			if _, err := c.DeleteContact(t.Context(), id); errors.Is(err, commands.ErrNotFound) || err == nil {
				t.Errorf("a refused delete: %v, want the refusal", err)
			}
		})
	}
}
