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
	"path"
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

// NewSessionClient posts with (a copy of) client, to URLs under prefixes
// only, and follows no redirect: a 3xx from an allowed host would re-post
// the reply wherever it points.
func NewSessionClient(client *http.Client, prefixes []string) *SessionClient {
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &SessionClient{client: &c, prefixes: prefixes}
}

// ErrForbiddenWebhook: a sessionWebhook outside the allowed prefixes.
var ErrForbiddenWebhook = errors.New("sessionWebhook is outside DINGTALK_SESSION_WEBHOOK_PREFIXES")

// Allowed compares scheme and host exactly and the path by whole segments,
// so that a prefix can never be stretched to another host
// (oapi.dingtalk.com.evil) or path (/sendBySessionEVIL). The path must be
// clean as written: no dot segments, no percent-encoding (%2e%2e, %2f) that
// a server might decode into them, no empty segments.
func (s *SessionClient) Allowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" || u.Opaque != "" || u.Fragment != "" ||
		u.RawPath != "" || strings.Contains(u.EscapedPath(), "%") || path.Clean(u.Path) != u.Path {
		return false
	}
	for _, p := range s.prefixes {
		pu, err := url.Parse(p)
		if err != nil {
			continue
		}
		base := strings.TrimSuffix(pu.Path, "/")
		if u.Scheme == pu.Scheme && strings.EqualFold(u.Host, pu.Host) &&
			(u.Path == base || strings.HasPrefix(u.Path, base+"/")) {
			return true
		}
	}
	return false
}

// PostTimeout bounds one post of a reply: DingTalk's sessionWebhook
// answers within a few seconds even when slow, and a post that gets no
// answer in time is not sent again (MayHaveArrived).
const PostTimeout = 10 * time.Second

// Send posts the JSON reply b to webhook once. An error for which
// MayHaveArrived holds means the post went out and no answer came.
func (s *SessionClient) Send(ctx context.Context, webhook string, b []byte) error {
	if !s.Allowed(webhook) {
		return ErrForbiddenWebhook
	}
	ctx, cancel := context.WithTimeoutCause(ctx, PostTimeout, errors.New("sessionWebhook post timed out"))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhook, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("build sessionWebhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := do(s.client, req)
	if err != nil {
		// The URL carries the session token; keep it out of the error.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = redactURL(err, ue)
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

// redactURL is err with the url.Error ue, which names the URL, replaced by
// the error it wraps, keeping whether the post may have arrived.
func redactURL(err error, ue *url.Error) error {
	if MayHaveArrived(err) {
		return &unanswered{ue.Err}
	}
	return ue.Err
}
