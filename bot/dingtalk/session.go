package dingtalk

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

// DefaultSessionPrefix is where DingTalk's sessionWebhooks live.
const DefaultSessionPrefix = "https://oapi.dingtalk.com/robot/sendBySession"

// SessionClient posts replies to a message's sessionWebhook. The URL comes
// from the message body, which DingTalk's signature does not cover, so only
// URLs under the configured prefixes are ever called.
type SessionClient struct {
	client   *http.Client
	prefixes []string
}

// NewSessionClient posts with client, to URLs under prefixes only.
func NewSessionClient(client *http.Client, prefixes []string) *SessionClient {
	return &SessionClient{client: client, prefixes: prefixes}
}

// ErrForbiddenWebhook: a sessionWebhook outside the allowed prefixes.
var ErrForbiddenWebhook = errors.New("sessionWebhook is outside DINGTALK_SESSION_WEBHOOK_PREFIXES")

// Allowed compares scheme and host exactly and the path by prefix, so that a
// prefix can never be stretched to another host (oapi.dingtalk.com.evil).
func (s *SessionClient) Allowed(raw string) bool {
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

// Send posts the JSON reply b to webhook once.
func (s *SessionClient) Send(ctx context.Context, webhook string, b []byte) error {
	if !s.Allowed(webhook) {
		return ErrForbiddenWebhook
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
		return &httpStatusError{resp.StatusCode}
	}
	var de codeError
	if json.Unmarshal(raw, &de) == nil && de.Code != 0 {
		return &de
	}
	return nil
}
