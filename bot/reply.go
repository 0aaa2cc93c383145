package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sessionSender posts replies to a message's sessionWebhook. The URL comes
// from the callback body, which DingTalk's signature does not cover, so only
// URLs under the configured prefixes are ever called.
type sessionSender struct {
	client   *http.Client
	prefixes []string
}

var errForbiddenWebhook = errors.New("sessionWebhook is outside DINGTALK_SESSION_WEBHOOK_PREFIXES")

// allowed compares scheme and host exactly and the path by prefix, so that a
// prefix can never be stretched to another host (oapi.dingtalk.com.evil).
func (s *sessionSender) allowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" {
		return false
	}
	for _, p := range s.prefixes {
		pu, err := url.Parse(p)
		if err != nil {
			continue
		}
		if u.Scheme == pu.Scheme && u.Host == pu.Host && strings.HasPrefix(u.Path, pu.Path) &&
			strings.HasPrefix(raw, p) {
			return true
		}
	}
	return false
}

// httpStatusError is a retryable HTTP status from the sessionWebhook.
type httpStatusError struct{ status int }

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("post sessionWebhook: HTTP %d", e.status)
}

// dingError is DingTalk's in-body failure report on an HTTP 200.
type dingError struct {
	Code int    `json:"errcode"`
	Msg  string `json:"errmsg"`
}

func (e *dingError) Error() string { return fmt.Sprintf("dingtalk errcode %d: %s", e.Code, e.Msg) }

// send posts the JSON reply b to webhook once.
func (s *sessionSender) send(ctx context.Context, webhook string, b []byte) error {
	if !s.allowed(webhook) {
		return errForbiddenWebhook
	}
	ctx, cancel := context.WithTimeoutCause(ctx, 5*time.Second, errors.New("sessionWebhook post timed out"))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhook, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("build sessionWebhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL carries the session token; keep it out of the error.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return fmt.Errorf("post sessionWebhook: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return &httpStatusError{resp.StatusCode}
		}
		return fmt.Errorf("post sessionWebhook: HTTP %d", resp.StatusCode)
	}
	var de dingError
	if json.Unmarshal(raw, &de) == nil && de.Code != 0 {
		return &de
	}
	return nil
}
