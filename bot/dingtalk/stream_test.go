package dingtalk_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
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
	// The client is connected a moment before the gateway has counted the
	// connection: a test that drops it must find it there.
	eventually(t, func() bool { return s.Connected() && gw.StreamConnections() > 0 })
	return gw, s, logs
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
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

// A quiet connection, on which DingTalk sends no frame at all, stays up as
// long as the gateway answers the SDK's WebSocket pings: no re-registration.
func TestStreamKeepsAQuietConnection(t *testing.T) {
	t.Parallel()
	gw, s, _ := runStream(t, dingtalk.StreamOptions{Watchdog: 10 * time.Second}, func(context.Context, dingtalk.Message) {})
	// Three pings answered: as long as the watchdog, and not one frame.
	eventually(t, func() bool { return gw.PingsAnswered() >= 3 })
	if n := gw.StreamConnectionsOpened(); n != 1 || !s.Connected() {
		t.Errorf("%d connections opened (connected: %v) on a quiet, healthy gateway; want the first kept", n, s.Connected())
	}
}

// When the gateway stops answering pings, the SDK closes the connection
// and Run connects anew, once: nothing of the old connection tears the new
// one down.
func TestStreamReconnectsWhenPingsGoUnanswered(t *testing.T) {
	t.Parallel()
	var got atomic.Int32
	gw, s, logs := runStream(t, dingtalk.StreamOptions{Watchdog: 10 * time.Second, MinBackoff: 10 * time.Millisecond}, func(context.Context, dingtalk.Message) {
		got.Add(1)
	})
	gw.SetStreamOptions(dingtalktest.StreamOptions{IgnorePings: true})
	eventually(t, func() bool { return gw.StreamConnectionsOpened() == 2 && s.Connected() })
	gw.SetStreamOptions(dingtalktest.StreamOptions{})
	if !strings.Contains(logs.String(), "ping went unanswered") {
		t.Errorf("the reconnect does not say why:\n%s", logs)
	}
	pongs := gw.PingsAnswered()
	eventually(t, func() bool { return gw.PingsAnswered() >= pongs+2 })
	if n := gw.StreamConnectionsOpened(); n != 2 {
		t.Errorf("%d connections opened, want 2: one reconnect, not a second spurious one", n)
	}
	if _, err := gw.Push(robotMessage(t, "after-reconnect")); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return got.Load() == 1 })
}

// A connection that ends before any frame came on it is noticed at once,
// not when the watchdog finds it silent.
func TestStreamNoticesADropBeforeTheFirstFrame(t *testing.T) {
	gw := newGateway(t)
	gw.SetStreamOptions(dingtalktest.StreamOptions{}) // no pings: no frame at all
	_, s, logs := runStreamAt(t, gw, dingtalk.StreamOptions{Watchdog: time.Hour, MinBackoff: 10 * time.Millisecond}, func(context.Context, dingtalk.Message) {})
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
	gw, _, logs := runStream(t, dingtalk.StreamOptions{}, func(_ context.Context, m dingtalk.Message) {
		if calls.Add(1) == 1 {
			panic("bug in a handler")
		}
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

// A frame that is not a robot message is acknowledged (sending it again
// would not help) and never reaches the handler.
func TestStreamBadFrameIsDropped(t *testing.T) {
	var calls atomic.Int32
	gw, _, logs := runStream(t, dingtalk.StreamOptions{}, func(context.Context, dingtalk.Message) {
		calls.Add(1)
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
	gw, s, logs := runStream(t, dingtalk.StreamOptions{}, func(context.Context, dingtalk.Message) {})
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
