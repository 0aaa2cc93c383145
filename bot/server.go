package bot

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// maxBody bounds a callback body; real messages are a few KiB.
const maxBody = "64K"

// NewServer returns the HTTP handler: the DingTalk callback and health.
func NewServer(log *slog.Logger, v verifier, d *dispatcher) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.HTTPErrorHandler = errorHandler(log)

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.POST("/dingtalk/webhook", handleWebhook(log, v, d), middleware.BodyLimit(maxBody))
	return e
}

// handleWebhook verifies, decodes and dispatches one callback.
func handleWebhook(log *slog.Logger, v verifier, d *dispatcher) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if err := v.verify(r.Header.Get("timestamp"), r.Header.Get("sign")); err != nil {
			log.Warn("webhook rejected", "outcome", "bad_signature", "reason", err.Error(), "remote", c.RealIP())
			return echo.NewHTTPError(http.StatusUnauthorized, "invalid signature")
		}
		var m inbound
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
				log.Warn("webhook rejected", "outcome", "bad_request", "reason", "body too large")
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body too large")
			}
			log.Warn("webhook rejected", "outcome", "bad_request", "reason", "malformed JSON")
			return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON body")
		}
		if m.MsgID == "" {
			log.Warn("webhook rejected", "outcome", "bad_request", "reason", "no msgId")
			return echo.NewHTTPError(http.StatusBadRequest, "msgId is required")
		}
		res := d.dispatch(r.Context(), &m)
		return c.JSON(http.StatusOK, res.body)
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
