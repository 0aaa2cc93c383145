package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

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

// NewServer returns the HTTP handler: the DingTalk callback and health.
func NewServer(log *slog.Logger, v verifier, g guard, ready Pinger, d *dispatcher, m *metrics) http.Handler {
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
	e.POST("/dingtalk/webhook", handleWebhook(log, v, g, d, m), middleware.BodyLimit(maxBody))
	return e
}

// handleReady answers 503 while Redis does not: without it no message can
// be de-duplicated, so a load balancer should send traffic elsewhere.
func handleReady(p Pinger) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			return c.String(http.StatusServiceUnavailable, "redis unavailable\n")
		}
		return c.String(http.StatusOK, "ready\n")
	}
}

// guard holds the optional origin checks. DingTalk's signature covers only
// the timestamp, so a captured signature could carry any body for an hour;
// these pin the body to this organisation and robot.
type guard struct {
	corpID    string
	robotCode string
}

func (g guard) check(m *inbound) string {
	switch {
	case g.corpID != "" && m.ChatbotCorpID != g.corpID:
		return "chatbotCorpId does not match DINGTALK_CORP_ID"
	case g.corpID != "" && m.SenderCorpID != "" && m.SenderCorpID != g.corpID:
		return "senderCorpId does not match DINGTALK_CORP_ID"
	case g.robotCode != "" && m.RobotCode != g.robotCode:
		return "robotCode does not match DINGTALK_ROBOT_CODE"
	}
	return ""
}

// handleWebhook verifies, decodes and dispatches one callback.
func handleWebhook(log *slog.Logger, v verifier, g guard, d *dispatcher, mt *metrics) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if err := v.verify(r.Header.Get("timestamp"), r.Header.Get("sign")); err != nil {
			mt.webhooks.WithLabelValues("bad_signature").Inc()
			log.Warn("webhook rejected", "outcome", "bad_signature", "reason", err.Error(), "remote", c.RealIP())
			return echo.NewHTTPError(http.StatusUnauthorized, "invalid signature")
		}
		var m inbound
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&m); err != nil {
			mt.webhooks.WithLabelValues("bad_request").Inc()
			if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
				log.Warn("webhook rejected", "outcome", "bad_request", "reason", "body too large")
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body too large")
			}
			log.Warn("webhook rejected", "outcome", "bad_request", "reason", "malformed JSON")
			return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON body")
		}
		if m.MsgID == "" {
			mt.webhooks.WithLabelValues("bad_request").Inc()
			log.Warn("webhook rejected", "outcome", "bad_request", "reason", "no msgId")
			return echo.NewHTTPError(http.StatusBadRequest, "msgId is required")
		}
		if reason := g.check(&m); reason != "" {
			mt.webhooks.WithLabelValues("bad_origin").Inc()
			log.Warn("webhook rejected", "outcome", "bad_origin", "reason", reason, "msg_id", m.MsgID)
			return echo.NewHTTPError(http.StatusForbidden, "message from another organisation or robot")
		}
		body, outcome := d.dispatch(r.Context(), &m, c.Response().Header().Get(echo.HeaderXRequestID))
		mt.webhooks.WithLabelValues(outcome).Inc()
		if !bytes.Equal(body, emptyBody) {
			mt.deliveries.WithLabelValues("sync", "ok").Inc()
		}
		return c.JSONBlob(http.StatusOK, body)
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
