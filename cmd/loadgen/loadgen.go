// Command loadgen drives load through a real armsbot process (README
// "Performance"): it starts the ARMS stand-in and a DingTalk stand-in
// (sessionWebhooks and the Stream gateway) in-process, runs the bot binary
// against them and a Redis, sends unique, real-shaped messages at a given
// rate and concurrency, signed to the webhook or pushed over the stream
// (--ingress), and reports throughput, latency percentiles of the webhook's
// answer or the stream's acknowledgement, errors, ARMS creates and the
// bot's memory. In the same run it measures a baseline: an
// Echo handler that only verifies the signature, decodes the message and
// does one Redis SET NX, written with the bare libraries on purpose, so that
// it shows what the bot's own layers cost.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
)

const (
	secret = "loadgen-app-secret"
	appKey = "loadgen-app-key"
)

type options struct {
	botBin      string
	redisURL    string
	n           int
	concurrency int
	rate        float64
	armsLatency time.Duration
	command     string
	budget      time.Duration
	workers     int
	armsClients int
	baseline    bool
	settle      time.Duration
	debug       string
	ingress     string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// run parses flags, runs the scenario and prints a report.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.botBin, "bot-bin", "", "path of the bot binary (go build -o /tmp/armsbot ./cmd/bot)")
	fs.StringVar(&o.redisURL, "redis", getenv("REDIS_URL"), "Redis URL shared by the bot and the baseline (REDIS_URL)")
	fs.IntVar(&o.n, "n", 2000, "messages to send")
	fs.IntVar(&o.concurrency, "concurrency", 64, "requests in flight at most")
	fs.Float64Var(&o.rate, "rate", 0, "messages per second (0: as fast as the concurrency allows)")
	fs.DurationVar(&o.armsLatency, "arms-latency", 0, "latency of every ARMS stand-in answer")
	fs.StringVar(&o.command, "command", "add", "add (/contact add: search + create) or show (/contact show: one search)")
	fs.DurationVar(&o.budget, "budget", 1500*time.Millisecond, "the bot's BOT_SYNC_REPLY_BUDGET")
	fs.IntVar(&o.workers, "workers", 1024, "the bot's BOT_WORKERS")
	fs.IntVar(&o.armsClients, "arms-clients", 1024, "the bot's ARMS_CLIENTS")
	fs.BoolVar(&o.baseline, "baseline", true, "also measure the signature + SET NX baseline")
	fs.DurationVar(&o.settle, "settle", 30*time.Second, "how long to wait for late replies after the load")
	fs.StringVar(&o.debug, "bot-debug-listen", "", "the bot's BOT_DEBUG_LISTEN, to profile it during the run")
	fs.StringVar(&o.ingress, "ingress", "http", "http (signed webhooks; latency is the HTTP answer's) or stream (frames from the gateway stand-in; latency is the acknowledgement's, every reply is late)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if o.botBin == "" || o.redisURL == "" {
		return errors.New("--bot-bin and --redis (or REDIS_URL) are required")
	}
	if o.command != "add" && o.command != "show" {
		return fmt.Errorf("--command %q: want add or show", o.command)
	}
	switch o.ingress {
	case "http":
	case "stream":
		o.baseline = false // the baseline is a webhook's
	default:
		return fmt.Errorf("--ingress %q: want http or stream", o.ingress)
	}

	botRes, err := runBot(ctx, o, stderr)
	if err != nil {
		return err
	}
	var base *result
	if o.baseline {
		if base, err = runBaseline(ctx, o); err != nil {
			return err
		}
	}
	report(stdout, o, botRes, base)
	return nil
}

// result is what one load run measured.
type result struct {
	name       string
	sent       int
	elapsed    time.Duration
	latencies  []time.Duration
	errors     int // transport errors and non-200 answers
	sync       int // replies in the HTTP answer
	async      int // "empty" answers
	late       int // replies that arrived on the sessionWebhook
	creates    int
	contacts   int
	rssIdleKB  int
	rssPeakKB  int
	cpuPerMsg  time.Duration // the bot's CPU time (user+system) per message
	exitErr    error
	errSamples []string
}

func (r *result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(p * float64(len(r.latencies)-1))
	return r.latencies[i]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// message builds the i-th real-shaped group message.
func message(run string, i int, sessionBase, text string) []byte {
	now := time.Now()
	m := dingtalk.NewTextMessage("load-"+run+"-"+strconv.Itoa(i), "load-"+strconv.Itoa(i%10), text, now)
	m.ConversationID, m.ConversationTitle = "cidLoad==", "load"
	m.ChatbotCorpID, m.ChatbotUserID, m.RobotCode = "dingcorp", "$:LWCP_v1:$bot", "dingrobot"
	m.AtUsers = []dingtalk.AtUser{{DingtalkID: m.ChatbotUserID}}
	m.SessionWebhook = sessionBase + dingtalktest.SessionPath + "?session=" + run + "-" + strconv.Itoa(i)
	m.SessionWebhookExpiredTime = dingtalk.MillisOf(now.Add(90 * time.Minute))
	b, err := m.Body()
	if err != nil {
		panic(err) // a text message always encodes
	}
	return b
}

// answer is how the bot took one message.
type answer int

const (
	answeredSync  answer = iota // the reply was in the HTTP answer
	answeredAsync               // the reply comes later, on the sessionWebhook
)

// webhook sends bodies to the bot's webhook, signed.
func webhook(o options, url string) (func(ctx context.Context, body []byte) (answer, error), func()) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: o.concurrency, MaxIdleConnsPerHost: o.concurrency, IdleConnTimeout: time.Minute,
	}}
	return func(ctx context.Context, body []byte) (answer, error) {
		req, err := dingtalk.NewCallbackRequest(ctx, url, secret, time.Now(), body)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode != http.StatusOK:
			return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
		case dingtalk.IsEmptyReply(raw):
			return answeredAsync, nil
		}
		return answeredSync, nil
	}, client.CloseIdleConnections
}

// stream pushes bodies through the gateway stand-in and waits for their
// acknowledgement.
func stream(gw *dingtalktest.Server) func(ctx context.Context, body []byte) (answer, error) {
	return func(ctx context.Context, body []byte) (answer, error) {
		id, err := gw.Push(body)
		if err != nil {
			return 0, err
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ack, err := gw.WaitAck(actx, id)
		if err != nil {
			return 0, fmt.Errorf("no acknowledgement: %w", err)
		}
		if ack.Code != http.StatusOK {
			return 0, fmt.Errorf("acknowledged with code %d", ack.Code)
		}
		return answeredAsync, nil
	}
}

// drive sends n bodies and measures how each is answered.
func drive(ctx context.Context, o options, send func(ctx context.Context, body []byte) (answer, error), body func(i int) []byte) *result {
	res := &result{sent: o.n}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, o.concurrency)
	)
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) / o.rate)
	}
	start := time.Now()
	for i := range o.n {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d) // the schedule of an open-loop load
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return res
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			b := body(i)
			t0 := time.Now()
			a, err := send(ctx, b)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			res.latencies = append(res.latencies, d)
			switch {
			case err != nil:
				res.errors++
				res.sample(err.Error())
			case a == answeredAsync:
				res.async++
			default:
				res.sync++
			}
		}(i)
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

func (r *result) sample(s string) {
	if len(r.errSamples) < 5 {
		r.errSamples = append(r.errSamples, s)
	}
}

// cpuTime reads a process's user+system CPU time from /proc (Linux clock
// ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// rssKB reads a process's resident set size.
func rssKB(pid int) int {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

func runBot(ctx context.Context, o options, stderr io.Writer) (*result, error) {
	run := randomHex(4)
	arms := armstest.NewServer(armstest.WithMaxContacts(1 << 30))
	defer arms.Close()
	// Late replies arrive at a stand-in for DingTalk's sessionWebhooks,
	// which is also the Stream gateway.
	recv := dingtalktest.NewServer(appKey, secret)
	defer recv.Close()
	sessionBase := recv.URL

	var showID string
	if o.command == "show" {
		showID = strconv.FormatInt(arms.AddContact(armstest.Contact{ContactName: "Shown", Email: "shown@example.com"}), 10)
	}
	arms.SetLatency(o.armsLatency)

	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admins := make([]string, 10)
	for i := range admins {
		admins[i] = "load-" + strconv.Itoa(i)
	}
	cmd := exec.CommandContext(ctx, o.botBin, "serve")
	cmd.Env = append(os.Environ(),
		"BOT_LISTEN="+addr, "DINGTALK_APP_SECRET="+secret, "REDIS_URL="+o.redisURL, "BOT_REDIS_PREFIX=loadgen-"+run+":",
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+armstest.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+armstest.AccessKeySecret,
		"ARMS_ENDPOINT="+arms.URL, "BOT_ADMINS="+strings.Join(admins, ","), "BOT_RATE_LIMIT=100000000",
		"BOT_SYNC_REPLY_BUDGET="+o.budget.String(), "BOT_WORKERS="+strconv.Itoa(o.workers), "BOT_QUEUE_SIZE=4096",
		"ARMS_CLIENTS="+strconv.Itoa(o.armsClients), "BOT_LOG_LEVEL=warn", "BOT_DEBUG_LISTEN="+o.debug,
		"DINGTALK_SESSION_WEBHOOK_PREFIXES="+recv.SessionPrefix(),
		"BOT_INGRESS="+o.ingress, "DINGTALK_APP_KEY="+appKey, "DINGTALK_OPENAPI_BASE="+recv.URL)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the bot: %w", err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	// Ready: Redis answers and, with the stream, it is connected.
	if err := waitHealthy(ctx, "http://"+addr+"/readyz"); err != nil {
		return nil, err
	}
	time.Sleep(500 * time.Millisecond) // let the idle process settle before reading its memory
	idle := rssKB(cmd.Process.Pid)

	peak := atomic.Int64{}
	stopSampling := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				if v := int64(rssKB(cmd.Process.Pid)); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	cpu0 := cpuTime(cmd.Process.Pid)
	send, closeIdle := webhook(o, "http://"+addr+"/dingtalk/webhook")
	defer closeIdle()
	if o.ingress == "stream" {
		send = stream(recv)
	}
	res := drive(ctx, o, send, func(i int) []byte {
		text := fmt.Sprintf("/contact add name=L%d email=load-%s-%d@example.com", i, run, i)
		if o.command == "show" {
			text = "/contact show " + showID
		}
		return message(run, i, sessionBase, text)
	})
	deadline := time.Now().Add(o.settle)
	for recv.Count() < res.async && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // waiting for the bot's late replies
	}
	close(stopSampling)
	res.cpuPerMsg = (cpuTime(cmd.Process.Pid) - cpu0) / time.Duration(o.n)
	res.name = "armsbot"
	res.late = recv.Count()
	res.creates = len(arms.Calls("CreateAlertContact"))
	res.contacts = len(arms.Contacts())
	res.rssIdleKB, res.rssPeakKB = idle, int(peak.Load())
	_ = cmd.Process.Signal(os.Interrupt)
	res.exitErr = cmd.Wait()
	return res, nil
}

func waitHealthy(ctx context.Context, url string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not healthy after 15s", url)
}

// runBaseline serves the least a webhook must do, signature check and one
// SET NX, and drives the same load through it.
func runBaseline(ctx context.Context, o options) (*result, error) {
	opts, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: e}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	send, closeIdle := webhook(o, "http://"+ln.Addr().String()+"/webhook")
	defer closeIdle()
	res := drive(ctx, o, send, func(i int) []byte {
		return message(run, i, "http://127.0.0.1:1", "/contact add name=B email=b@example.com")
	})
	res.name = "baseline"
	res.sync, res.async = res.async, 0 // the baseline's "empty" is its whole answer
	return res, nil
}

func report(w io.Writer, o options, r, base *result) {
	rate := "max"
	if o.rate > 0 {
		rate = strconv.FormatFloat(o.rate, 'f', -1, 64) + "/s"
	}
	fmt.Fprintf(w, "scenario: %d × %s via %s, concurrency %d, rate %s, ARMS latency %s, budget %s\n\n",
		o.n, o.command, o.ingress, o.concurrency, rate, o.armsLatency, o.budget)
	if o.ingress == "stream" {
		fmt.Fprintln(w, "latency: from the push of a frame to its acknowledgement")
	}
	fmt.Fprintln(w, "| target | msg/s | p50 | p90 | p99 | max | errors | sync | async (late arrived) | creates / contacts | RSS idle → peak |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, x := range []*result{r, base} {
		if x == nil {
			continue
		}
		thr := float64(len(x.latencies)) / x.elapsed.Seconds()
		extra := fmt.Sprintf("%d (%d)", x.async, x.late)
		cc := fmt.Sprintf("%d / %d", x.creates, x.contacts)
		mem := fmt.Sprintf("%.1f → %.1f MiB", float64(x.rssIdleKB)/1024, float64(x.rssPeakKB)/1024)
		if x.name == "baseline" {
			extra, cc, mem = "-", "-", "-"
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %d | %d | %s | %s | %s |\n", x.name, thr,
			ms(x.percentile(.5)), ms(x.percentile(.9)), ms(x.percentile(.99)), ms(x.percentile(1)), x.errors, x.sync, extra, cc, mem)
	}
	if base != nil {
		fmt.Fprintf(w, "\nthroughput armsbot / baseline: %.2f\n", (float64(len(r.latencies))/r.elapsed.Seconds())/(float64(len(base.latencies))/base.elapsed.Seconds()))
	}
	if o.command == "add" {
		fmt.Fprintf(w, "one create per message: %v (%d messages, %d creates)\n", r.creates == o.n && r.contacts == o.n, o.n, r.creates)
	}
	fmt.Fprintf(w, "all replies delivered: %v; bot exit: %v; bot CPU per message: %s\n", r.sync+r.late == o.n, exitText(r.exitErr), r.cpuPerMsg)
	for _, s := range append(r.errSamples, errSamples(base)...) {
		fmt.Fprintln(w, "error sample:", s)
	}
}

func errSamples(r *result) []string {
	if r == nil {
		return nil
	}
	return r.errSamples
}

func exitText(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}
