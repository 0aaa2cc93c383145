package dingtalk_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
)

// The Stream client through the official SDK against the gateway stand-in.

const (
	streamKey    = "stream-app-key"
	streamSecret = "stream-app-secret-value"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runStream connects a Stream to a fresh gateway and runs it until the test
// ends; handle gets every robot message.
func runStream(t *testing.T, opt dingtalk.StreamOptions, handle dingtalk.StreamHandler) (*dingtalktest.Server, *dingtalk.Stream, *lockedBuffer) {
	t.Helper()
	return runStreamAt(t, newGateway(t), opt, handle)
}

func newGateway(t *testing.T) *dingtalktest.Server {
	gw := dingtalktest.NewServer(streamKey, streamSecret)
	t.Cleanup(gw.Close)
	return gw
}

func runStreamAt(t *testing.T, gw *dingtalktest.Server, opt dingtalk.StreamOptions, handle dingtalk.StreamHandler) (*dingtalktest.Server, *dingtalk.Stream, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	s := dingtalk.NewStream(gw.URL, streamKey, streamSecret, opt, slog.New(slog.NewJSONHandler(logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, handle) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, s.Connected)
	return gw, s, logs
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not timing behaviour
	}
}

func robotMessage(t *testing.T, id string) []byte {
	t.Helper()
	m := dingtalk.NewTextMessage(id, "staff-1", "/whoami", time.Now())
	body, err := m.Body()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func ackCodes(gw *dingtalktest.Server, id string) []int {
	var codes []int
	for _, a := range gw.Acks() {
		if a.MessageID == id {
			codes = append(codes, a.Code)
		}
	}
	return codes
}

// A connection on which nothing arrives, not even a ping, is replaced.
func TestStreamWatchdogReplacesASilentConnection(t *testing.T) {
	var got atomic.Int32
	gw, s, logs := runStream(t, dingtalk.StreamOptions{Watchdog: time.Second, MinBackoff: 10 * time.Millisecond}, func(context.Context, dingtalk.Message) error {
		got.Add(1)
		return nil
	})
	gw.SetStreamOptions(dingtalktest.StreamOptions{}) // silent from now on
	eventually(t, func() bool { return gw.StreamConnectionsOpened() >= 2 })
	if !strings.Contains(logs.String(), "no frame for 1s") {
		t.Errorf("the reconnect does not say why:\n%s", logs)
	}
	gw.SetStreamOptions(dingtalktest.StreamOptions{PingEvery: 100 * time.Millisecond})
	eventually(t, s.Connected)
	if _, err := gw.Push(robotMessage(t, "after-watchdog")); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return got.Load() == 1 })
}

// A connection that ends before any frame came on it is noticed at once,
// not when the watchdog finds it silent.
func TestStreamNoticesADropBeforeTheFirstFrame(t *testing.T) {
	gw := newGateway(t)
	gw.SetStreamOptions(dingtalktest.StreamOptions{}) // no pings: no frame at all
	_, s, logs := runStreamAt(t, gw, dingtalk.StreamOptions{Watchdog: time.Hour, MinBackoff: 10 * time.Millisecond}, func(context.Context, dingtalk.Message) error { return nil })
	gw.DropStreams()
	eventually(t, func() bool { return gw.StreamConnectionsOpened() == 2 && s.Connected() })
	if !strings.Contains(logs.String(), "the connection ended") {
		t.Errorf("the reconnect does not say why:\n%s", logs)
	}
}

// A panic in the handler answers the frame with an error, so that DingTalk
// sends it again; the connection stays up and takes the next frame.
func TestStreamHandlerPanicKeepsTheConnection(t *testing.T) {
	var calls atomic.Int32
	gw, _, logs := runStream(t, dingtalk.StreamOptions{}, func(_ context.Context, m dingtalk.Message) error {
		if calls.Add(1) == 1 {
			panic("bug in a handler")
		}
		return nil
	})
	first, err := gw.Push(robotMessage(t, "m1"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return len(ackCodes(gw, first)) == 1 })
	if c := ackCodes(gw, first)[0]; c == http.StatusOK {
		t.Errorf("a frame whose handler panicked was acknowledged with %d", c)
	}
	second, err := gw.Push(robotMessage(t, "m2"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return len(ackCodes(gw, second)) == 1 })
	if c := ackCodes(gw, second)[0]; c != http.StatusOK {
		t.Errorf("the next frame was answered %d, want 200", c)
	}
	if n := gw.StreamConnectionsOpened(); n != 1 {
		t.Errorf("%d connections opened, want the first kept", n)
	}
	if !strings.Contains(logs.String(), "bug in a handler") {
		t.Error("the panic is not logged")
	}
}

// A handler's error (no worker free) leaves the frame to DingTalk, which
// sends it again; then it is taken and acknowledged.
func TestStreamHandlerErrorMeansSendAgain(t *testing.T) {
	var calls atomic.Int32
	gw, _, _ := runStream(t, dingtalk.StreamOptions{}, func(context.Context, dingtalk.Message) error {
		if calls.Add(1) == 1 {
			return errors.New("busy")
		}
		return nil
	})
	gw.SetStreamOptions(dingtalktest.StreamOptions{PingEvery: 500 * time.Millisecond, ResendAfter: 50 * time.Millisecond})
	id, err := gw.Push(robotMessage(t, "busy-once"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return slices.Contains(ackCodes(gw, id), http.StatusOK) })
	if codes := ackCodes(gw, id); codes[0] == http.StatusOK || gw.Sent(id) < 2 {
		t.Errorf("acks %v after %d sends: want an error first, then a 200 for a re-send", codes, gw.Sent(id))
	}
}

// A frame that is not a robot message is acknowledged (sending it again
// would not help) and never reaches the handler.
func TestStreamBadFrameIsDropped(t *testing.T) {
	var calls atomic.Int32
	gw, _, logs := runStream(t, dingtalk.StreamOptions{}, func(context.Context, dingtalk.Message) error {
		calls.Add(1)
		return nil
	})
	id, err := gw.Push([]byte(`{"msgtype":"text","text":`))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return len(ackCodes(gw, id)) == 1 })
	if c := ackCodes(gw, id)[0]; c != http.StatusOK || calls.Load() != 0 {
		t.Errorf("bad frame answered %d and handled %d times, want 200 and 0", c, calls.Load())
	}
	if !strings.Contains(logs.String(), "not a robot message") {
		t.Error("the dropped frame is not logged")
	}
}

// The app secret and connection tickets stay out of the logs, and a wrong
// secret is reported with DingTalk's answer.
func TestStreamLogsNoSecrets(t *testing.T) {
	gw, s, logs := runStream(t, dingtalk.StreamOptions{}, func(context.Context, dingtalk.Message) error { return nil })
	gw.DropStreams()
	eventually(t, func() bool { return gw.StreamConnectionsOpened() == 2 && s.Connected() })
	bad := dingtalk.NewStream(gw.URL, streamKey, "wrong-secret", dingtalk.StreamOptions{}, slog.New(slog.NewJSONHandler(logs, nil)))
	err := bad.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "authFailed") {
		t.Errorf("Check with a wrong secret: %v, want DingTalk's authFailed", err)
	}
	for _, secret := range []string{streamSecret, "wrong-secret"} {
		if strings.Contains(logs.String(), secret) || (err != nil && strings.Contains(err.Error(), secret)) {
			t.Errorf("%q appears in the logs or the error", secret)
		}
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if i := strings.Index(line, "ticket="); i >= 0 && !strings.HasPrefix(line[i+len("ticket="):], "…") {
			t.Errorf("a ticket is logged: %s", line)
		}
	}
}
