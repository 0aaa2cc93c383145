package dingtalk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-dingtalk/dingtalk-stream-sdk-go/client"
	"github.com/open-dingtalk/dingtalk-stream-sdk-go/handler"
	sdklogger "github.com/open-dingtalk/dingtalk-stream-sdk-go/logger"
	"github.com/open-dingtalk/dingtalk-stream-sdk-go/payload"
)

// Stream mode: the bot opens a WebSocket to DingTalk's gateway and receives
// robot messages over it, with no public address. The official SDK
// (github.com/open-dingtalk/dingtalk-stream-sdk-go, pinned at
// v0.9.2-beta.1: v0.9.1 panics after network drops) carries the frames; this
// file supervises it, because the SDK does not retry a failed first
// registration and says nothing of its connection's state.

// BotMessageTopic is the topic of robot messages.
const BotMessageTopic = payload.BotMessageCallbackTopic

// StreamOptions are a stream's settings; zero values take defaults.
type StreamOptions struct {
	// Watchdog bounds how long a dead connection goes unnoticed (default
	// 90s): after a third of it with no frame, the SDK pings the gateway
	// (a WebSocket ping) and closes the connection when no pong comes
	// within 5s; Run then connects anew. A quiet connection whose pings are
	// answered stays up, however long no frame comes.
	Watchdog time.Duration
	// MinBackoff and MaxBackoff bound the wait between registration
	// attempts (default 500ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	// Handlers bounds the frames handled at once; beyond it the SDK leaves
	// frames unacknowledged, and DingTalk sends them again (default 100).
	Handlers int
	// OnConnected is told when the stream connects (true) or is lost.
	OnConnected func(connected bool)
	// OnFrame is told of every frame: its topic, how it ended (ok,
	// bad_frame, panic, closing) and how long until its acknowledgement.
	OnFrame func(topic, outcome string, ack time.Duration)
	// OnRegistration is told of every registration attempt's error (nil on
	// success).
	OnRegistration func(err error)
}

// StreamHandler handles one robot message from the stream. It must return
// as soon as the message is safely taken: the acknowledgement (code 200)
// follows it. There is no asking for the message again: whether DingTalk
// re-sends a frame acknowledged with an error is undocumented, so a
// handler that cannot take a message now answers its sender itself.
type StreamHandler func(ctx context.Context, m Message)

// CardHandler answers a click on a card's button, within DingTalk's 2
// seconds.
type CardHandler func(ctx context.Context, c CardClick) CardAnswer

// Stream receives robot messages over DingTalk's Stream mode.
type Stream struct {
	base, appKey, appSecret string
	opt                     StreamOptions
	log                     *slog.Logger

	handlers  gate // frames in a handler: Run returns after them
	connected atomic.Bool
	cards     CardHandler // nil: card clicks are not subscribed to
}

// HandleCards subscribes to card clicks, for connections opened from now
// on; call it before Run.
func (s *Stream) HandleCards(h CardHandler) { s.cards = h }

// NewStream connects as the app appKey, registering at base (the OpenAPI:
// https://api.dingtalk.com, or a stand-in).
func NewStream(base, appKey, appSecret string, opt StreamOptions, log *slog.Logger) *Stream {
	if opt.Watchdog <= 0 {
		opt.Watchdog = 90 * time.Second
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = 500 * time.Millisecond
	}
	if opt.MaxBackoff < opt.MinBackoff {
		opt.MaxBackoff = max(30*time.Second, opt.MinBackoff)
	}
	if opt.Handlers <= 0 {
		opt.Handlers = 100
	}
	if opt.OnConnected == nil {
		opt.OnConnected = func(bool) {}
	}
	if opt.OnFrame == nil {
		opt.OnFrame = func(string, string, time.Duration) {}
	}
	if opt.OnRegistration == nil {
		opt.OnRegistration = func(error) {}
	}
	routeStreamLogs(log)
	return &Stream{base: strings.TrimRight(base, "/"), appKey: appKey, appSecret: appSecret, opt: opt, log: log}
}

// Connected reports whether the stream is connected now.
func (s *Stream) Connected() bool { return s.connected.Load() }

// newClient is one SDK client, for one connection: its frames come to
// handle; DingTalk's pings and disconnects are counted and answered as the
// SDK always does. Each connection has a client of its own, so that
// nothing of a connection that ended can reach the next.
func (s *Stream) newClient(handle StreamHandler) *client.StreamClient {
	cli := client.NewStreamClient(
		client.WithAppCredential(client.NewAppCredentialConfig(s.appKey, s.appSecret)),
		client.WithOpenApiHost(s.base),
		client.WithAutoReconnect(false), // Run reconnects, with its own backoff
		client.WithKeepAlive(keepAlive(s.opt.Watchdog)),
		client.WithMaxPendingHandlers(s.opt.Handlers),
	)
	cli.RegisterRouter("SYSTEM", "ping", func(ctx context.Context, df *payload.DataFrame) (*payload.DataFrameResponse, error) {
		s.opt.OnFrame("ping", "ok", 0)
		pong := payload.NewDataFrameAckPong(df.GetMessageId())
		pong.Data = df.Data
		return pong, nil
	})
	cli.RegisterRouter("SYSTEM", "disconnect", func(ctx context.Context, df *payload.DataFrame) (*payload.DataFrameResponse, error) {
		// The SDK acknowledges, then closes this connection; Run connects
		// anew when it has ended.
		s.opt.OnFrame("disconnect", "ok", 0)
		s.log.Info("the stream gateway asked to reconnect")
		return nil, nil
	})
	cli.RegisterCallbackRouter(BotMessageTopic, s.guarded(BotMessageTopic, handle != nil, func(ctx context.Context, df *payload.DataFrame) (*payload.DataFrameResponse, string, error) {
		m, derr := DecodeMessage(strings.NewReader(df.Data))
		if derr != nil {
			// Sending it again would not help.
			s.log.Warn("stream frame dropped: not a robot message", "message_id", df.GetMessageId(), "err", derr.Error())
			return payload.NewSuccessDataFrameResponse(), "bad_frame", nil
		}
		m.ClearBotFields()
		handle(ctx, m)
		return payload.NewSuccessDataFrameResponse(), "ok", nil
	}))
	if s.cards != nil {
		cli.RegisterCallbackRouter(CardCallbackTopic, s.guarded(CardCallbackTopic, true, func(ctx context.Context, df *payload.DataFrame) (*payload.DataFrameResponse, string, error) {
			c, derr := DecodeCardClick([]byte(df.Data))
			if derr != nil {
				s.log.Warn("card click dropped: not a card callback", "message_id", df.GetMessageId(), "err", derr.Error())
				return payload.NewSuccessDataFrameResponse(), "bad_frame", nil
			}
			resp := payload.NewSuccessDataFrameResponse()
			// DingTalk takes the answer under "response", as the SDK's own
			// card handler sends it.
			if err := resp.SetJson(map[string]json.RawMessage{"response": s.cards(ctx, c).JSON()}); err != nil {
				return nil, "bad_frame", err
			}
			return resp, "ok", nil
		}))
	}
	return cli
}

// guarded runs a topic's frame handler as every handler runs: not once
// Run has returned (DingTalk then gives the frame to a replica that runs),
// counted with its outcome and time, and answered with an error rather
// than taking the connection down when it panics (DingTalk sends it
// again).
func (s *Stream) guarded(topic string, open bool, h func(ctx context.Context, df *payload.DataFrame) (*payload.DataFrameResponse, string, error)) handler.IFrameHandler {
	return func(ctx context.Context, df *payload.DataFrame) (resp *payload.DataFrameResponse, err error) {
		start := time.Now()
		if !open || !s.handlers.enter() {
			s.opt.OnFrame(topic, "closing", 0)
			return nil, errors.New("the stream is closing")
		}
		defer s.handlers.leave()
		outcome := "ok"
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("stream frame handler panicked", "topic", topic, "panic", fmt.Sprint(p))
				outcome, resp, err = "panic", nil, fmt.Errorf("internal error")
			}
			s.opt.OnFrame(topic, outcome, time.Since(start))
		}()
		resp, outcome, err = h(ctx, df)
		return resp, err
	}
}

// Run keeps the stream connected until ctx ends: it registers (retrying a
// refused registration with backoff, however long it takes), connects, and
// connects anew when the connection ends (the SDK closes one whose ping
// went unanswered).
// Messages go to handle. Run returns once the stream is closed and no
// handler runs.
func (s *Stream) Run(ctx context.Context, handle StreamHandler) {
	defer s.handlers.close()
	backoff := s.opt.MinBackoff
	for ctx.Err() == nil {
		cli := s.newClient(handle)
		if err := cli.Start(ctx); err != nil {
			cli.Close()
			if ctx.Err() != nil {
				return
			}
			s.opt.OnRegistration(err)
			s.log.Error("stream not connected; retrying", "err", redactTickets(err.Error()), "retry_in", backoff.String())
			if !wait(ctx, jittered(backoff)) {
				return
			}
			backoff = min(2*backoff, s.opt.MaxBackoff)
			continue
		}
		s.opt.OnRegistration(nil)
		connectedAt := time.Now()
		s.connected.Store(true)
		s.opt.OnConnected(true)
		s.log.Info("stream connected")
		reason := s.watch(ctx, cli)
		cli.Close()
		s.connected.Store(false)
		s.opt.OnConnected(false)
		if ctx.Err() != nil {
			s.log.Info("stream closed")
			return
		}
		s.log.Warn("stream lost; reconnecting", "reason", reason)
		if time.Since(connectedAt) > s.opt.MaxBackoff {
			backoff = s.opt.MinBackoff // it had been up a good while
		}
		if !wait(ctx, jittered(backoff)) {
			return
		}
		backoff = min(2*backoff, s.opt.MaxBackoff)
	}
}

// watch waits until the current connection ends or ctx does, and says
// which. Liveness is the transport's: the SDK pings a quiet connection and
// closes it when the pong does not come, and alive sees it closed. No
// frame is expected of DingTalk on a quiet, healthy connection.
func (s *Stream) watch(ctx context.Context, cli *client.StreamClient) string {
	tick := time.NewTicker(min(max(s.opt.Watchdog/100, 10*time.Millisecond), 250*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return "closing"
		case <-tick.C:
			if !alive(cli) {
				return "the connection ended (closed, or a ping went unanswered)"
			}
		}
	}
}

// keepAlive is how long a connection may be quiet before the SDK pings:
// a third of the watchdog, so that the ping, the SDK's 5s wait for its
// pong, and the look that finds the connection closed fit within it. The
// SDK raises anything below 3s to 3s.
func keepAlive(watchdog time.Duration) time.Duration {
	return max(watchdog/3, 3*time.Second)
}

// alive asks the SDK whether its connection is still up. The SDK says so
// nowhere but in Start, which returns at once, without a call, on a client
// that is connected; with a context already done it cannot connect anew.
// A connection that dropped, that the gateway closed, or that the SDK's
// keepalive closed, is found this way.
func alive(cli *client.StreamClient) bool {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	return cli.Start(done) == nil
}

// Check registers and connects once, then closes: for `bot check`.
func (s *Stream) Check(ctx context.Context) error {
	// No handler: a frame that comes in the moment the check is connected
	// is answered with an error, not taken and dropped.
	cli := s.newClient(nil)
	defer cli.Close()
	if err := cli.Start(ctx); err != nil {
		return fmt.Errorf("stream registration: %s", redactTickets(err.Error()))
	}
	return nil
}

// gate admits handlers until it closes, and closing waits for those inside:
// a frame the SDK read as its connection closed may still reach a handler.
type gate struct {
	mu     sync.Mutex
	closed bool
	inside sync.WaitGroup
}

func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.inside.Add(1)
	return true
}

func (g *gate) leave() { g.inside.Done() }

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.inside.Wait()
}

func jittered(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d/5)+1))
}

func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// The SDK logs through a package-level logger; it goes to slog once per
// process, without the SDK's debug lines (they dump the registration
// request, app secret included) and without tickets.
var streamLogsOnce sync.Once

func routeStreamLogs(log *slog.Logger) {
	streamLogsOnce.Do(func() { sdklogger.SetLogger(sdkLog{log}) })
}

var ticketRE = regexp.MustCompile(`(ticket=|sessionId=\[)[^\]&\s]+`)

func redactTickets(s string) string { return ticketRE.ReplaceAllString(s, "${1}…") }

type sdkLog struct{ log *slog.Logger }

func (l sdkLog) Debugf(string, ...any) {}
func (l sdkLog) Infof(f string, a ...any) {
	l.log.Info("stream sdk", "detail", redactTickets(fmt.Sprintf(f, a...)))
}
func (l sdkLog) Warningf(f string, a ...any) { l.warn(fmt.Sprintf(f, a...)) }
func (l sdkLog) Errorf(f string, a ...any)   { l.warn(fmt.Sprintf(f, a...)) }

// warn logs the SDK's complaints, except those every closing connection
// makes: Run itself says, once, when a connection is lost.
func (l sdkLog) warn(detail string) {
	level := slog.LevelWarn
	if strings.Contains(detail, "use of closed network connection") || strings.Contains(detail, "connection process is closed") {
		level = slog.LevelInfo
	}
	l.log.Log(context.Background(), level, "stream sdk", "detail", redactTickets(detail))
}
func (l sdkLog) Fatalf(f string, a ...any) {
	l.log.Error("stream sdk", "detail", redactTickets(fmt.Sprintf(f, a...)))
}
