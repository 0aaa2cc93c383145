// Command loadgen drives load through a real armsbot process (README
// "Performance") and, in the same invocation, through the floor of the job:
// a bare handler that does the least any bot doing it must do (signature,
// one SET NX, one signed CreateAlertContact, a reply with the ContactId).
// The ARMS stand-in and the floor run as processes of their own, so that
// the CPU time of each process (the bot or the floor, the stand-in, Redis)
// is measured per message. Messages are unique and real-shaped, signed to
// the webhook or pushed over the stream (--ingress); the report gives
// throughput, latency percentiles, errors, ARMS creates, memory and start
// time, and with --rounds the medians of alternating rounds.
package main

import (
	"context"
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/armsbot/armsbot/arms/armstest"
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
	abort       bool
	sustain     time.Duration
	armsLatency time.Duration
	command     string
	budget      time.Duration
	workers     int
	armsClients int
	floor       bool
	floorSDK    bool
	baseline    bool
	rounds      int
	settle      time.Duration
	debug       string
	ingress     string
	family      string
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

// run parses flags, runs the scenario and prints a report. It is also the
// ARMS stand-in's and the floor's process, started by itself.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		switch args[1] {
		case "serve-arms":
			return serveARMS(ctx, args[2:], stdout)
		case "serve-floor":
			return serveFloor(ctx, args[2:], stdout)
		}
	}
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.botBin, "bot-bin", "", "path of the bot binary (go build -o /tmp/armsbot ./cmd/bot)")
	fs.StringVar(&o.redisURL, "redis", getenv("REDIS_URL"), "Redis URL shared by the bot, the floor and the baseline (REDIS_URL)")
	fs.IntVar(&o.n, "n", 2000, "messages to send to each target")
	fs.IntVar(&o.concurrency, "concurrency", 64, "requests in flight at most")
	fs.Float64Var(&o.rate, "rate", 0, "messages per second (0: as fast as the concurrency allows)")
	fs.DurationVar(&o.sustain, "sustain", 0, "a sustained run instead: --rate messages per second (default 80% of a quick maximum run) for this long, reported minute by minute with Redis's memory and what stays in Redis")
	fs.BoolVar(&o.abort, "abort", false, "in each bot round: a measured run, then a burst abandoned with requests in flight, then the measured run again in the same process")
	fs.DurationVar(&o.armsLatency, "arms-latency", 0, "latency of every ARMS stand-in answer")
	fs.StringVar(&o.command, "command", "add", "add (/contact add) or show (/contact show: one search)")
	fs.DurationVar(&o.budget, "budget", 1500*time.Millisecond, "the bot's BOT_SYNC_REPLY_BUDGET")
	fs.IntVar(&o.workers, "workers", 1024, "the bot's BOT_WORKERS")
	fs.IntVar(&o.armsClients, "arms-clients", 1024, "the bot's ARMS_CLIENTS")
	fs.BoolVar(&o.floor, "floor", true, "also measure the floor: signature, SET NX, one CreateAlertContact, a reply (add only)")
	fs.BoolVar(&o.floorSDK, "floor-sdk", false, "in each round, also the floor with its create sent through the official SDK: the most a bot bound to the SDK can reach")
	fs.BoolVar(&o.baseline, "baseline", false, "also measure the bare baseline: signature and SET NX, no ARMS call")
	fs.IntVar(&o.rounds, "rounds", 1, "alternating rounds of the bot and the floor; the report gives each and their medians")
	fs.DurationVar(&o.settle, "settle", 30*time.Second, "how long to wait for late replies after the load")
	fs.StringVar(&o.debug, "bot-debug-listen", "", "the bot's BOT_DEBUG_LISTEN, to profile it during the run")
	fs.StringVar(&o.family, "arms-contact-api", "legacy", "the bot's ARMS_CONTACT_API: legacy (an add searches for the phone and email first) or alert-management (an add is one create)")
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
		o.floor, o.floorSDK, o.baseline = false, false, false // all are webhooks
	default:
		return fmt.Errorf("--ingress %q: want http or stream", o.ingress)
	}
	if o.command != "add" {
		o.floor, o.floorSDK = false, false // the floor creates
	}

	opts, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	arms, err := startHelper(ctx, stderr, "serve-arms", "--latency", o.armsLatency.String())
	if err != nil {
		return err
	}
	defer arms.stop()
	env := &bench{o: o, rdb: rdb, arms: arms, stderr: stderr}

	// Every run starts from an empty stand-in.
	fresh := func(run func(context.Context) (*result, error)) (*result, error) {
		if err := arms.reset(); err != nil {
			return nil, err
		}
		return run(ctx)
	}
	if o.sustain > 0 {
		return env.sustained(ctx, stdout)
	}
	var bots, floors, sdkFloors []*result
	for range max(o.rounds, 1) {
		r, err := fresh(env.runBot)
		if err != nil {
			return err
		}
		bots = append(bots, r)
		if o.floor {
			f, err := fresh(env.runFloor)
			if err != nil {
				return err
			}
			floors = append(floors, f)
		}
		if o.floorSDK {
			f, err := fresh(func(ctx context.Context) (*result, error) { return env.runFloorWith(ctx, "floor+sdk", "--sdk") })
			if err != nil {
				return err
			}
			sdkFloors = append(sdkFloors, f)
		}
	}
	var base *result
	if o.baseline {
		if base, err = env.runBaseline(ctx); err != nil {
			return err
		}
	}
	report(stdout, o, bots, floors, sdkFloors, base)
	return nil
}

// bench is what the runs share: the options, Redis, the ARMS stand-in.
type bench struct {
	o      options
	rdb    *redis.Client
	arms   *helper
	stderr io.Writer
}

// measure drives the load through a target process (pid) answering at
// url, and takes the CPU time of the target, the stand-in and Redis, the
// target's memory, and the stand-in's creates.
func (b *bench) measure(ctx context.Context, name string, pid int, send sender, body func(i int) []byte, late func() int) *result {
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
				if v := int64(rssKB(pid)); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	before := b.arms.stats()
	cpu0 := cpuSplit{cpuTime(pid), cpuTime(b.arms.cmd.Process.Pid), redisCPU(ctx, b.rdb)}
	res := drive(ctx, b.o, send, body)
	deadline := time.Now().Add(b.o.settle)
	for late() < res.async && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // waiting for late replies
	}
	close(stopSampling)
	n := time.Duration(b.o.n)
	res.cpu = cpuSplit{(cpuTime(pid) - cpu0.target) / n, (cpuTime(b.arms.cmd.Process.Pid) - cpu0.arms) / n, (redisCPU(ctx, b.rdb) - cpu0.redis) / n}
	after := b.arms.stats()
	res.name, res.late = name, late()
	res.creates, res.contacts = after.Creates-before.Creates, after.Contacts-before.Contacts
	res.rssPeakKB = int(peak.Load())
	return res
}

func (b *bench) runBot(ctx context.Context) (*result, error) {
	o := b.o
	run := randomHex(4)
	// Late replies arrive at a stand-in for DingTalk's sessionWebhooks,
	// which is also the Stream gateway.
	recv := dingtalktest.NewServer(appKey, secret)
	defer recv.Close()
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
		"BOT_LISTEN="+addr, "DINGTALK_APP_SECRET="+secret, "REDIS_URL="+o.redisURL, "BOT_REDIS_PREFIX=loadgen-"+run+":", "BOT_REDIS_EPHEMERAL=true", "ARMS_CONTACT_API="+o.family,
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+armstest.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+armstest.AccessKeySecret,
		"ARMS_ENDPOINT="+b.arms.url, "BOT_ADMINS="+strings.Join(admins, ","), "BOT_RATE_LIMIT=100000000",
		"BOT_SYNC_REPLY_BUDGET="+o.budget.String(), "BOT_WORKERS="+strconv.Itoa(o.workers), "BOT_QUEUE_SIZE=4096",
		"ARMS_CLIENTS="+strconv.Itoa(o.armsClients), "BOT_LOG_LEVEL=warn", "BOT_DEBUG_LISTEN="+o.debug,
		"DINGTALK_SESSION_WEBHOOK_PREFIXES="+recv.SessionPrefix(),
		"BOT_INGRESS="+o.ingress, "DINGTALK_APP_KEY="+appKey, "DINGTALK_OPENAPI_BASE="+recv.URL)
	cmd.Stderr = b.stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the bot: %w", err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	// Ready: Redis answers and, with the stream, it is connected.
	if err := waitReady(ctx, "http://"+addr+"/readyz"); err != nil {
		return nil, err
	}
	ready := time.Since(start)
	time.Sleep(500 * time.Millisecond) // let the idle process settle before reading its memory
	idle := rssKB(cmd.Process.Pid)

	var showID string
	if o.command == "show" {
		// One contact to show, created through the bot's own ARMS.
		showID, err = createContact(ctx, http.DefaultClient, b.arms.url, "Shown", "shown-"+run+"@example.com", 1)
		if err != nil {
			return nil, err
		}
	}
	send, closeIdle := webhook(o, "http://"+addr+"/dingtalk/webhook")
	defer closeIdle()
	if o.ingress == "stream" {
		send = stream(recv)
	}
	body := func(run string) func(i int) []byte {
		return func(i int) []byte {
			text := fmt.Sprintf("/contact add name=L%d email=load-%s-%d@example.com", i, run, i)
			if o.command == "show" {
				text = "/contact show " + showID
			}
			return message(run, i, recv.URL, text)
		}
	}
	if o.sustain > 0 {
		stop := make(chan struct{})
		startKB := redisMemoryKB(ctx, b.rdb)
		samples := sampleMinutes(ctx, b.rdb, func() cpuSplit {
			return cpuSplit{cpuTime(cmd.Process.Pid), cpuTime(b.arms.cmd.Process.Pid), redisCPU(ctx, b.rdb)}
		}, stop)
		res := b.measure(ctx, "armsbot sustained", cmd.Process.Pid, send, body(run), recv.Count)
		close(stop)
		res.minutes = minutes(res, <-samples)
		res.keys = countKeys(ctx, b.rdb, "loadgen-"+run+":")
		res.rssIdleKB, res.ready = idle, ready
		_ = cmd.Process.Signal(os.Interrupt)
		res.exitErr = cmd.Wait()
		res.memory = expireRun(ctx, b.rdb, "loadgen-"+run+":", startKB)
		return res, nil
	}
	var first *result
	if o.abort {
		// A run as fast as the bot goes; then a burst whose callers give
		// up with requests in flight; then the same run again: the bot
		// must not slump after the abandoned burst.
		first = b.measure(ctx, "armsbot", cmd.Process.Pid, send, body(run), recv.Count)
		burst := run + "x"
		actx, abandon := context.WithCancel(ctx)
		go func() {
			time.Sleep(first.elapsed / 2)
			abandon()
		}()
		drive(actx, b.o, send, body(burst))
		abandon()
		// What the burst's callers gave up on still runs (the bot owns
		// it): the next run starts once the stand-in has seen the last of
		// its creates, so that it measures the bot and not the tail.
		for last, quiet := b.arms.stats().Creates, 0; quiet < 5; quiet++ {
			time.Sleep(100 * time.Millisecond)
			if now := b.arms.stats().Creates; now != last {
				last, quiet = now, 0
			}
		}
		// The stand-in starts empty for the second run as for the first
		// (it slows as it fills, which is not the bot's doing).
		if err := b.arms.reset(); err != nil {
			return nil, err
		}
		run += "y"
		lateBefore := recv.Count()
		res := b.measure(ctx, "armsbot after an abandoned burst", cmd.Process.Pid, send, body(run), func() int { return recv.Count() - lateBefore })
		res.before = first
		res.rssIdleKB, res.ready = idle, ready
		_ = cmd.Process.Signal(os.Interrupt)
		res.exitErr = cmd.Wait()
		return res, nil
	}
	res := b.measure(ctx, "armsbot", cmd.Process.Pid, send, body(run), recv.Count)
	res.rssIdleKB, res.ready = idle, ready
	_ = cmd.Process.Signal(os.Interrupt)
	res.exitErr = cmd.Wait()
	return res, nil
}

func (b *bench) runFloor(ctx context.Context) (*result, error) {
	return b.runFloorWith(ctx, "floor")
}

func (b *bench) runFloorWith(ctx context.Context, name string, flags ...string) (*result, error) {
	start := time.Now()
	f, err := startHelper(ctx, b.stderr, append([]string{"serve-floor", "--redis", b.o.redisURL, "--arms", b.arms.url}, flags...)...)
	if err != nil {
		return nil, err
	}
	defer f.stop()
	if err := waitReady(ctx, f.url+"/readyz"); err != nil {
		return nil, err
	}
	ready := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	idle := rssKB(f.cmd.Process.Pid)
	run := randomHex(4)
	send, closeIdle := webhook(b.o, f.url+"/webhook")
	defer closeIdle()
	res := b.measure(ctx, name, f.cmd.Process.Pid, send, func(i int) []byte {
		return message(run, i, "http://127.0.0.1:1", fmt.Sprintf("/contact add name=F%d email=floor-%s-%d@example.com", i, run, i))
	}, func() int { return 0 })
	res.rssIdleKB, res.ready = idle, ready
	return res, nil
}

// runBaseline drives the bare baseline, served in this process.
func (b *bench) runBaseline(ctx context.Context) (*result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: bareBaseline(b.rdb)}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	run := randomHex(4)
	send, closeIdle := webhook(b.o, "http://"+ln.Addr().String()+"/webhook")
	defer closeIdle()
	res := drive(ctx, b.o, send, func(i int) []byte {
		return message(run, i, "http://127.0.0.1:1", "/contact add name=B email=b@example.com")
	})
	res.name = "baseline"
	res.sync, res.async = res.async, 0 // the baseline's "empty" is its whole answer
	return res, nil
}

func report(w io.Writer, o options, bots, floors, sdkFloors []*result, base *result) {
	rate := "max"
	if o.rate > 0 {
		rate = strconv.FormatFloat(o.rate, 'f', -1, 64) + "/s"
	}
	fmt.Fprintf(w, "scenario: %d × %s via %s, concurrency %d, rate %s, ARMS latency %s, budget %s, %d round(s)\n\n",
		o.n, o.command, o.ingress, o.concurrency, rate, o.armsLatency, o.budget, max(o.rounds, 1))
	if o.ingress == "stream" {
		fmt.Fprintln(w, "latency: from the push of a frame to its acknowledgement")
	}
	fmt.Fprintln(w, "| target | msg/s | p50 | p90 | p99 | max | errors | replies (late) | creates / contacts | CPU/msg: target · ARMS stand-in · Redis | RSS idle → peak | start → ready |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	rows := slices.Concat(bots, floors, sdkFloors)
	if base != nil {
		rows = append(rows, base)
	}
	for _, x := range rows {
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %d | %d (%d) | %d / %d | %s · %s · %s | %.1f → %.1f MiB | %s |\n", x.name, x.throughput(),
			ms(x.percentile(.5)), ms(x.percentile(.9)), ms(x.percentile(.99)), ms(x.percentile(1)), x.errors, x.sync+x.late, x.late,
			x.creates, x.contacts, us(x.cpu.target), us(x.cpu.arms), us(x.cpu.redis),
			float64(x.rssIdleKB)/1024, float64(x.rssPeakKB)/1024, ms(x.ready))
	}
	if len(floors) > 0 {
		b, f := median(bots, (*result).throughput), median(floors, (*result).throughput)
		fmt.Fprintf(w, "\nmedian throughput: armsbot %.0f/s, floor %.0f/s: armsbot / floor = %.2f\n", b, f, b/f)
		bc := median(bots, func(r *result) float64 { return float64(r.cpu.target) })
		fc := median(floors, func(r *result) float64 { return float64(r.cpu.target) })
		fmt.Fprintf(w, "median CPU per message: armsbot %s, floor %s\n", us(time.Duration(bc)), us(time.Duration(fc)))
	}
	if len(floors) > 0 && len(sdkFloors) > 0 {
		f, s := median(floors, (*result).throughput), median(sdkFloors, (*result).throughput)
		fmt.Fprintf(w, "median throughput: floor with the SDK %.0f/s: floor+sdk / floor = %.2f\n", s, s/f)
	}
	if base != nil {
		fmt.Fprintf(w, "bare baseline (no ARMS call): %.0f/s\n", base.throughput())
	}
	for _, r := range bots {
		if r.before != nil {
			fmt.Fprintf(w, "abandoned burst: %.0f/s before it, %.0f/s right after (%.2f), p99 %s → %s\n",
				r.before.throughput(), r.throughput(), r.throughput()/r.before.throughput(), ms(r.before.percentile(.99)), ms(r.percentile(.99)))
		}
	}
	ok := true
	for _, r := range slices.Concat(bots, floors, sdkFloors) {
		if o.command == "add" && (r.creates != o.n || r.contacts != o.n || r.errors != 0) {
			ok = false
		}
	}
	if o.command == "add" {
		fmt.Fprintf(w, "no errors and one create per message in every run: %v\n", ok)
	}
	for _, r := range bots {
		fmt.Fprintf(w, "armsbot: all replies delivered: %v; exit: %v\n", r.sync+r.late == o.n, exitText(r.exitErr))
		for _, s := range r.errSamples {
			fmt.Fprintln(w, "error sample:", s)
		}
	}
	for _, r := range slices.Concat(floors, sdkFloors) {
		for _, s := range r.errSamples {
			fmt.Fprintln(w, "floor error sample:", s)
		}
	}
}

func median(rs []*result, f func(*result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
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

func us(d time.Duration) string {
	return strconv.FormatInt(d.Microseconds(), 10) + " µs"
}

// sustained measures the bot at a fixed rate for o.sustain: 80 % of a
// quick maximum run unless --rate says.
func (b *bench) sustained(ctx context.Context, stdout io.Writer) error {
	if b.o.rate <= 0 {
		quick := b.o
		quick.sustain, quick.n = 0, 3000
		qb := *b
		qb.o = quick
		if err := b.arms.reset(); err != nil {
			return err
		}
		max, err := qb.runBot(ctx)
		if err != nil {
			return err
		}
		b.o.rate = 0.8 * max.throughput()
		fmt.Fprintf(stdout, "maximum: %.0f/s; sustaining 80%%: %.0f/s\n", max.throughput(), b.o.rate)
	}
	b.o.n = int(b.o.rate * b.o.sustain.Seconds())
	if err := b.arms.reset(); err != nil {
		return err
	}
	res, err := b.runBot(ctx)
	if err != nil {
		return err
	}
	report(stdout, b.o, []*result{res}, nil, nil, nil)
	reportSustained(stdout, res, b.o.rate)
	return nil
}
