package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dispatch"
	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxBody bounds a callback body; real messages are a few KiB.
const maxBody = "64K"

// readyCheck is one thing the bot needs to take messages, by name.
type readyCheck struct {
	name  string
	check func(ctx context.Context) error
}

// routes is what the HTTP server serves.
type routes struct {
	ready   []readyCheck
	metrics *metrics
	webhook *webhook   // nil: no DingTalk callback (Stream mode)
	cards   *cardRoute // nil: card clicks do not come over HTTP
	scrape  bool       // serve /metrics here (not on BOT_METRICS_LISTEN)
}

// cardRoute takes card clicks over HTTP, at a path only DingTalk knows
// (registered at start with the OpenAPI).
type cardRoute struct {
	path   string
	origin dingtalk.Origin
	d      *dispatch.Dispatcher
}

// webhook is the DingTalk callback: who may call it, and where its
// messages go.
type webhook struct {
	verify dingtalk.Verifier
	origin dingtalk.Origin
	d      *dispatch.Dispatcher
	// bodyTimeout bounds the wait for a body once the headers are in: a
	// caller that stops sending gets 408, not a held connection.
	bodyTimeout time.Duration
}

// NewServer returns the HTTP handler: health, readiness, metrics when
// scraped here, and the DingTalk callback when there is one.
func NewServer(log *slog.Logger, r routes) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.Use(middleware.RequestID())
	e.Use(echoprometheus.NewMiddlewareWithConfig(echoprometheus.MiddlewareConfig{
		Namespace: "armsbot", Subsystem: "http", Registerer: r.metrics.reg, DoNotUseRequestPathFor404: true,
		// Labels never take what a caller chooses (its Host header, a
		// made-up method): each new value would be a new series.
		LabelFuncs: map[string]echoprometheus.LabelValueFunc{
			"host":   func(echo.Context, error) string { return "" },
			"method": func(c echo.Context, _ error) string { return knownMethod(c.Request().Method) },
		},
	}))
	e.HTTPErrorHandler = errorHandler(log)

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", handleReady(r.ready))
	if r.scrape {
		e.GET("/metrics", scrapeHandler(r.metrics))
	}
	if r.webhook != nil {
		e.POST("/dingtalk/webhook", handleWebhook(log, r.webhook, r.metrics), middleware.BodyLimit(maxBody))
	}
	if r.cards != nil {
		e.POST(r.cards.path, handleCardClick(log, r.cards), middleware.BodyLimit("64K"))
	}
	return e
}

// metricsServer serves /metrics alone, for BOT_METRICS_LISTEN: a port the
// monitoring namespace may reach and the ingress controller may not.
func metricsServer(m *metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

func scrapeHandler(m *metrics) echo.HandlerFunc {
	return echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: m.reg})
}

func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// handleReady answers 503 while the bot cannot take messages: Redis does
// not answer (no message could be de-duplicated), or, with the Stream
// ingress, the stream is not connected. Like the Kubernetes API server's
// /readyz, it names each check, and ?exclude=redis (repeated, or
// comma-separated) leaves checks out: a Deployment's probe keeps pods in
// service while the shared Redis is down, so that DingTalk still gets the
// bot's "temporarily unavailable" reply instead of a refused connection.
func handleReady(checks []readyCheck) echo.HandlerFunc {
	return func(c echo.Context) error {
		excluded := map[string]bool{}
		for _, v := range c.QueryParams()["exclude"] {
			for _, name := range strings.Split(v, ",") {
				excluded[strings.TrimSpace(name)] = true
			}
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		var b strings.Builder
		failed := false
		for _, ch := range checks {
			err := ch.check(ctx)
			switch {
			case excluded[ch.name]:
				fmt.Fprintf(&b, "[+]%s excluded: ok\n", ch.name)
			case err != nil:
				failed = true
				fmt.Fprintf(&b, "[-]%s failed: %s\n", ch.name, err)
			default:
				fmt.Fprintf(&b, "[+]%s ok\n", ch.name)
			}
		}
		if failed {
			b.WriteString("readyz check failed\n")
			return c.String(http.StatusServiceUnavailable, b.String())
		}
		b.WriteString("readyz check passed\n")
		return c.String(http.StatusOK, b.String())
	}
}

// errStreamDown: the stream ingress has no connection.
var errStreamDown = errors.New("not connected to DingTalk's stream gateway")

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
			refuseUnread(c)
			return echo.NewHTTPError(http.StatusUnauthorized, "invalid signature")
		}
		if media, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || media != echo.MIMEApplicationJSON {
			refuseUnread(c)
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
		m.ClearBotFields()
		if err := hook.origin.Check(&m); err != nil {
			mt.webhooks.WithLabelValues("bad_origin").Inc()
			log.Warn("webhook rejected", "outcome", "bad_origin", "reason", err.Error(), "msg_id", m.MsgID)
			return echo.NewHTTPError(http.StatusForbidden, "message from another organisation or robot")
		}
		a := hook.d.Webhook(r.Context(), &m, c.Response().Header().Get(echo.HeaderXRequestID))
		mt.webhooks.WithLabelValues(string(a.Outcome)).Inc()
		if r.Context().Err() != nil {
			// DingTalk is gone: a reply in this answer would be lost.
			a.Report(false)
			return nil
		}
		// Delivered means written to a live connection, in full.
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(a.Body)))
		c.Response().WriteHeader(http.StatusOK)
		_, err = c.Response().Write(a.Body)
		if err == nil {
			err = http.NewResponseController(c.Response().Writer).Flush()
		}
		if err == nil && !dingtalk.IsEmptyReply(a.Body) {
			mt.deliveries.WithLabelValues("sync", "ok").Inc()
		}
		a.Report(err == nil)
		return nil
	}
}

// refuseUnread readies a refusal of a request whose body is not read: Go's
// server would otherwise read what is left of the body before answering,
// so that the connection can take another request, and a caller that
// stops sending would hold the connection, unanswered, until the read
// timeout. The answer goes out at once and the connection is closed.
func refuseUnread(c echo.Context) {
	c.Response().Header().Set(echo.HeaderConnection, "close")
	_ = http.NewResponseController(c.Response().Writer).SetReadDeadline(time.Now())
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
			if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
				refuseUnread(c) // no route reads a body it does not serve
			}
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

// handleCardClick answers a click at once; the command it stands for runs
// as the clicker's message and its reply updates the card.
func handleCardClick(log *slog.Logger, cr *cardRoute) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "unreadable body")
		}
		click, err := dingtalk.DecodeCardClick(raw)
		if err != nil {
			log.Warn("card click rejected", "reason", err.Error())
			return echo.NewHTTPError(http.StatusBadRequest, "not a card callback")
		}
		if cr.origin.CorpID != "" && click.CorpID != cr.origin.CorpID {
			log.Warn("card click rejected", "reason", "another organisation", "out_track_id", click.OutTrackID)
			return echo.NewHTTPError(http.StatusForbidden, "card click from another organisation")
		}
		return c.JSONBlob(http.StatusOK, cr.d.Click(c.Request().Context(), click).JSON())
	}
}
