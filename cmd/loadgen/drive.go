package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
)

// result is what one load run of one target measured.
type result struct {
	name       string
	sent       int
	elapsed    time.Duration
	latencies  []time.Duration
	errors     int // transport errors and non-200 answers
	sync       int // replies in the HTTP answer
	async      int // "empty" answers
	late       int // replies that arrived on the sessionWebhook
	creates    int // contact creates the stand-in took, in either family
	contacts   int // contacts it holds after the run, of this run
	rssIdleKB  int
	rssPeakKB  int
	ready      time.Duration // from the process's start to /readyz answering 200
	cpu        cpuSplit      // per message
	exitErr    error
	errSamples []string
	// before is the same run before an abandoned burst (--abort).
	before *result
	// timeline is when each message was sent (from the start) and how
	// long its answer took, for per-minute figures (--sustain).
	timeline []sample
	// minutes are the sustained run's, and keys what it left in Redis.
	minutes []minute
	keys    keyCount
	memory  afterExpiry
}

type sample struct{ at, took time.Duration }

func (r *result) throughput() float64 { return float64(len(r.latencies)) / r.elapsed.Seconds() }

func (r *result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[int(p*float64(len(r.latencies)-1))]
}

func (r *result) sample(s string) {
	if len(r.errSamples) < 5 {
		r.errSamples = append(r.errSamples, s)
	}
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

// answer is how a target took one message.
type answer int

const (
	answeredSync  answer = iota // the reply was in the HTTP answer
	answeredAsync               // the reply comes later, on the sessionWebhook
)

type sender func(ctx context.Context, body []byte) (answer, error)

// webhook sends bodies to a webhook, signed as DingTalk signs them.
func webhook(o options, url string) (sender, func()) {
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
func stream(gw *dingtalktest.Server) sender {
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
func drive(ctx context.Context, o options, send sender, body func(i int) []byte) *result {
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
			res.timeline = append(res.timeline, sample{t0.Sub(start), d})
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
