package bot

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// maxBody bounds a callback body; real messages are a few KiB.
const maxBody = "64K"

// Pinger reports whether the shared state answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// webhook is the DingTalk callback: who may call it, and where its
// messages go.
type webhook struct {
	verify dingtalk.Verifier
	origin dingtalk.Origin
	d      *dispatcher
	// bodyTimeout bounds the wait for a body once the headers are in: a
	// caller that stops sending gets 408, not a held connection.
	bodyTimeout time.Duration
}

// NewServer returns the HTTP handler: health, metrics and, unless hook is
// nil, the DingTalk callback. ready says whether the bot can take messages.
func NewServer(log *slog.Logger, ready Pinger, m *metrics, hook *webhook) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.Use(middleware.RequestID())
	e.Use(echoprometheus.NewMiddlewareWithConfig(echoprometheus.MiddlewareConfig{
		Namespace: "armsbot", Subsystem: "http", Registerer: m.reg, DoNotUseRequestPathFor404: true,
	}))
	e.HTTPErrorHandler = errorHandler(log)

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", handleReady(ready))
	e.GET("/metrics", echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: m.reg}))
	if hook != nil {
		e.POST("/dingtalk/webhook", handleWebhook(log, hook, m), middleware.BodyLimit(maxBody))
	}
	return e
}

// handleReady answers 503 while the bot cannot take messages: Redis does
// not answer (no message could be de-duplicated), or, with the Stream
// ingress, the stream is not connected.
func handleReady(p Pinger) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			var nr notReady
			if errors.As(err, &nr) {
				return c.String(http.StatusServiceUnavailable, string(nr)+"\n")
			}
			return c.String(http.StatusServiceUnavailable, "redis unavailable\n")
		}
		return c.String(http.StatusOK, "ready\n")
	}
}

// notReady is why the bot is not ready, when it is not Redis.
type notReady string

func (e notReady) Error() string { return string(e) }

// readiness is ready when Redis answers and the stream, if any, is up.
type readiness struct {
	store  Pinger
	stream *dingtalk.Stream
}

func (r readiness) Ping(ctx context.Context) error {
	if err := r.store.Ping(ctx); err != nil {
		return err
	}
	if r.stream != nil && !r.stream.Connected() {
		return notReady("stream not connected")
	}
	return nil
}

// handleWebhook verifies, decodes and dispatches one callback.
func handleWebhook(log *slog.Logger, hook *webhook, mt *metrics) echo.HandlerFunc {
	reject := func(code int, outcome, reason, answer string) error {
		mt.webhooks.WithLabelValues(outcome).Inc()
		log.Warn("webhook rejected", "outcome", outcome, "reason", reason)
		return echo.NewHTTPError(code, answer)
	}
	return func(c echo.Context) error {
		r := c.Request()
		if err := hook.verify.VerifyRequest(r.Header); err != nil {
			mt.webhooks.WithLabelValues("bad_signature").Inc()
			log.Warn("webhook rejected", "outcome", "bad_signature", "reason", err.Error(), "remote", c.RealIP())
			return echo.NewHTTPError(http.StatusUnauthorized, "invalid signature")
		}
		if media, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || media != echo.MIMEApplicationJSON {
			return reject(http.StatusUnsupportedMediaType, "bad_request", "content type "+strconv.Quote(r.Header.Get(echo.HeaderContentType)), "Content-Type must be application/json")
		}
		// The connection's own read deadline gives way to the body's.
		_ = http.NewResponseController(c.Response().Writer).SetReadDeadline(time.Now().Add(hook.bodyTimeout))
		m, err := dingtalk.DecodeMessage(r.Body)
		switch {
		case errors.Is(err, echo.ErrStatusRequestEntityTooLarge):
			return reject(http.StatusRequestEntityTooLarge, "bad_request", "body too large", "body too large")
		case errors.Is(err, os.ErrDeadlineExceeded):
			return reject(http.StatusRequestTimeout, "bad_request", "body not sent within "+hook.bodyTimeout.String(), "the body did not arrive in time")
		case errors.Is(err, dingtalk.ErrNoMsgID):
			return reject(http.StatusBadRequest, "bad_request", "no msgId", "msgId is required")
		case errors.Is(err, dingtalk.ErrAmbiguous):
			return reject(http.StatusBadRequest, "bad_request", err.Error(), "ambiguous JSON body: a key given twice (in any case), or data after the object")
		case err != nil:
			return reject(http.StatusBadRequest, "bad_request", "malformed JSON", "malformed JSON body")
		}
		if err := hook.origin.Check(&m); err != nil {
			mt.webhooks.WithLabelValues("bad_origin").Inc()
			log.Warn("webhook rejected", "outcome", "bad_origin", "reason", err.Error(), "msg_id", m.MsgID)
			return echo.NewHTTPError(http.StatusForbidden, "message from another organisation or robot")
		}
		a := hook.d.dispatch(r.Context(), &m, c.Response().Header().Get(echo.HeaderXRequestID))
		mt.webhooks.WithLabelValues(a.outcome).Inc()
		if r.Context().Err() != nil {
			// DingTalk is gone: a reply in this answer would be lost.
			a.report(false)
			return nil
		}
		// Delivered means written to a live connection, in full.
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(a.body)))
		c.Response().WriteHeader(http.StatusOK)
		_, err = c.Response().Write(a.body)
		if err == nil {
			err = http.NewResponseController(c.Response().Writer).Flush()
		}
		if err == nil && !dingtalk.IsEmptyReply(a.body) {
			mt.deliveries.WithLabelValues("sync", "ok").Inc()
		}
		a.report(err == nil)
		return nil
	}
}

func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code, msg := http.StatusInternalServerError, "internal error"
		var he *echo.HTTPError
		if errors.As(err, &he) {
			code = he.Code
			if s, ok := he.Message.(string); ok {
				msg = s
			} else {
				msg = http.StatusText(code)
			}
		} else {
			log.Error("request failed", "path", c.Path(), "err", err)
		}
		if err := c.JSON(code, map[string]string{"error": msg}); err != nil {
			log.Warn("write error response", "err", err)
		}
	}
}
