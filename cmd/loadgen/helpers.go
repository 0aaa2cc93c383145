package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
)

// statsPath is where the ARMS stand-in process reports its counts.
const statsPath = "/loadgen/stats"

// resetPath empties the stand-in before each run: a run that finds the
// contacts of the runs before it would be measured against a busier ARMS.
const resetPath = "/loadgen/reset"

// serveARMS runs the ARMS stand-in as a process of its own, so that its
// CPU time is measured apart from the load generator's.
func serveARMS(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve-arms", flag.ContinueOnError)
	latency := fs.Duration("latency", 0, "latency of every answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	arms := armstest.NewUnstartedServer(armstest.WithMaxContacts(1 << 30))
	arms.SetLatency(*latency)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+statsPath, func(w http.ResponseWriter, _ *http.Request) {
		creates := len(arms.Calls("CreateAlertContact"))
		for _, c := range arms.Calls("CreateOrUpdateContact") {
			if c.Params.Get("ContactId") == "" {
				creates++
			}
		}
		_ = json.NewEncoder(w).Encode(armsStats{Creates: creates, Contacts: len(arms.Contacts()), Calls: len(arms.Calls(""))})
	})
	mux.HandleFunc("POST "+resetPath, func(http.ResponseWriter, *http.Request) { arms.Reset() })
	mux.Handle("/", arms)
	return serveUntilDone(ctx, mux, stdout)
}

// serveUntilDone serves h on a loopback port, prints its URL, and stops
// when ctx ends.
func serveUntilDone(ctx context.Context, h http.Handler, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintln(stdout, "http://"+ln.Addr().String())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serveFloor is the floor of the job: what any bot doing it must do and
// nothing more. It checks the callback's signature, records the msgId with
// one SET NX, sends one signed CreateAlertContact (RPC v1, HMAC-SHA1) to
// the ARMS stand-in over kept-alive connections with a plain HTTP client,
// and answers with the ContactId. Written with the bare libraries on
// purpose: the bot's throughput is measured against it.
func serveFloor(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve-floor", flag.ContinueOnError)
	redisURL := fs.String("redis", "", "Redis URL")
	armsURL := fs.String("arms", "", "the ARMS stand-in's URL")
	viaSDK := fs.Bool("sdk", false, "send the create through the official SDK instead of by hand")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts, err := redis.ParseURL(*redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	create := func(ctx context.Context, name, email string, n int64) (string, error) {
		return createContact(ctx, client, *armsURL, name, email, n)
	}
	if *viaSDK {
		if create, err = sdkCreator(*armsURL); err != nil {
			return err
		}
	}
	run := randomHex(4)
	var nonce atomic.Int64
	verifier := dingtalk.NewVerifier(secret, time.Now)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/readyz", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	e.POST("/webhook", func(c echo.Context) error {
		if err := verifier.VerifyRequest(c.Request().Header); err != nil {
			return c.NoContent(http.StatusUnauthorized)
		}
		// Decoded plainly: the floor does not check for ambiguous bodies.
		var m dingtalk.Message
		if err := json.NewDecoder(c.Request().Body).Decode(&m); err != nil || m.MsgID == "" {
			return c.NoContent(http.StatusBadRequest)
		}
		ctx := c.Request().Context()
		if err := rdb.SetNX(ctx, "loadgen-floor-"+run+":"+m.MsgID, 1, time.Hour).Err(); err != nil {
			return c.NoContent(http.StatusServiceUnavailable)
		}
		var name, email string
		for _, f := range strings.Fields(m.Text.Content) {
			if v, ok := strings.CutPrefix(f, "name="); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(f, "email="); ok {
				email = v
			}
		}
		id, err := create(ctx, name, email, nonce.Add(1))
		if err != nil {
			return c.String(http.StatusBadGateway, err.Error())
		}
		return c.JSONBlob(http.StatusOK, dingtalk.MarkdownReply("Done", "Created alert contact **"+name+"**, ContactId: **"+id+"**", ""))
	})
	return serveUntilDone(ctx, e, stdout)
}

// createContact signs and sends one CreateAlertContact, as the RPC v1
// signature method says.
func createContact(ctx context.Context, client *http.Client, base, name, email string, nonce int64) (string, error) {
	p := url.Values{
		"Format": {"JSON"}, "Version": {"2019-08-08"}, "AccessKeyId": {armstest.AccessKeyID}, "SignatureMethod": {"HMAC-SHA1"},
		"SignatureVersion": {"1.0"}, "SignatureNonce": {strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatInt(nonce, 36)},
		"Timestamp": {time.Now().UTC().Format("2006-01-02T15:04:05Z")}, "Action": {"CreateAlertContact"}, "RegionId": {"cn-hangzhou"},
		"ContactName": {name}, "Email": {email},
	}
	p.Set("Signature", armstest.Sign(armstest.AccessKeySecret, armstest.StringToSign(http.MethodGet, p)))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/?"+p.Encode(), nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct{ ContactId, Code string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.ContactId == "" {
		return "", fmt.Errorf("CreateAlertContact: HTTP %d %s", resp.StatusCode, out.Code)
	}
	return out.ContactId, nil
}

// sdkCreator sends the floor's create through the official SDK, as
// plainly as the SDK allows: one client, a CommonRequest per call. The
// floor with it is the most a bot bound to the SDK can reach.
func sdkCreator(base string) (func(ctx context.Context, name, email string, n int64) (string, error), error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	sc := sdk.NewConfig().WithScheme("HTTP").WithAutoRetry(false).WithTimeout(30 * time.Second)
	// Wrapped: the SDK rewrites an *http.Transport's TLS settings on every
	// call, a data race between concurrent calls on one client.
	sc.Transport = struct{ http.RoundTripper }{&http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	cl, err := sdk.NewClientWithOptions("cn-hangzhou", sc, credentials.NewAccessKeyCredential(armstest.AccessKeyID, armstest.AccessKeySecret))
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, name, email string, _ int64) (string, error) {
		req := requests.NewCommonRequest()
		req.Method, req.Domain = requests.GET, u.Host
		req.Product, req.Version, req.ApiName = "ARMS", "2019-08-08", "CreateAlertContact"
		req.QueryParams["RegionId"], req.QueryParams["ContactName"], req.QueryParams["Email"] = "cn-hangzhou", name, email
		resp, err := cl.ProcessCommonRequest(req)
		if err != nil {
			return "", err
		}
		var out struct{ ContactId string }
		if err := json.Unmarshal(resp.GetHttpContentBytes(), &out); err != nil || out.ContactId == "" {
			return "", fmt.Errorf("CreateAlertContact: HTTP %d", resp.GetHttpStatus())
		}
		return out.ContactId, nil
	}, nil
}

// bareBaseline serves less than the job: the signature check and one SET
// NX, no ARMS call; it shows what the HTTP stack and Redis alone cost.
func bareBaseline(rdb *redis.Client) http.Handler {
	run := randomHex(4)
	verifier := dingtalk.NewVerifier(secret, time.Now)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/webhook", func(c echo.Context) error {
		if err := verifier.VerifyRequest(c.Request().Header); err != nil {
			return c.NoContent(http.StatusUnauthorized)
		}
		m, err := dingtalk.DecodeMessage(c.Request().Body)
		if err != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		if err := rdb.SetNX(c.Request().Context(), "loadgen-baseline-"+run+":"+m.MsgID, 1, time.Hour).Err(); err != nil {
			return c.NoContent(http.StatusServiceUnavailable)
		}
		return c.JSONBlob(http.StatusOK, dingtalk.EmptyReply())
	})
	return e
}
