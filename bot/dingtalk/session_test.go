package dingtalk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSessionWebhookPrefixes(t *testing.T) {
	s := NewSessionClient(http.DefaultClient, []string{DefaultSessionPrefix})
	tests := []struct {
		url  string
		want bool
	}{
		{"https://oapi.dingtalk.com/robot/sendBySession?session=abc", true},
		{"https://oapi.dingtalk.com/robot/send?access_token=abc", false},
		{"http://oapi.dingtalk.com/robot/sendBySession?session=abc", false},
		{"https://oapi.dingtalk.com.evil.example/robot/sendBySession", false},
		{"https://evil.example/?https://oapi.dingtalk.com/robot/sendBySession", false},
		{"https://user@oapi.dingtalk.com/robot/sendBySession?session=abc", false},
		{"", false},
		{"https://oapi.dingtalk.com/robot/sendBySession/../../x?session=abc", false},
		{"https://oapi.dingtalk.com/robot/sendBySession/%2e%2e/%2e%2e/x", false},
		{"https://oapi.dingtalk.com/robot/sendBySession%2f..%2f..%2fx", false},
		{"https://oapi.dingtalk.com/robot/sendBySessionEVIL?session=abc", false},
		{"https://oapi.dingtalk.com/robot/sendBySession/./x", false},
		{"https://oapi.dingtalk.com/robot//sendBySession", false},
		{"https://oapi.dingtalk.com/robot/sendBySession#frag", false},
		{"https://OAPI.dingtalk.com/robot/sendBySession?session=abc", true},
		{"https://oapi.dingtalk.com/robot/sendBySession/sub?session=abc", true},
	}
	for _, tc := range tests {
		if got := s.Allowed(tc.url); got != tc.want {
			t.Errorf("Allowed(%q) = %v, want %v", tc.url, got, tc.want)
		}
	}
	// Even a prefix written without a path cannot be stretched to another host.
	loose := NewSessionClient(http.DefaultClient, []string{"https://oapi.dingtalk.com"})
	if loose.Allowed("https://oapi.dingtalk.com.evil.example/robot/sendBySession") {
		t.Error("host-only prefix matched a different host")
	}
}

// What a sessionWebhook's answers mean: worth retrying, gone, or final.
func TestSendClassifiesAnswers(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		ok        bool
		retryable bool
		expired   bool
	}{
		{"accepted", 200, `{"errcode":0,"errmsg":"ok"}`, true, false, false},
		{"session expired", 200, `{"errcode":300001,"errmsg":"session 不存在"}`, false, false, true},
		{"busy", 200, `{"errcode":-1,"errmsg":"系统繁忙"}`, false, true, false},
		{"throttled", 200, `{"errcode":410100,"errmsg":"发送速度太快而限流"}`, false, true, false},
		{"refused for good", 200, `{"errcode":400013,"errmsg":"群已被解散"}`, false, false, false},
		{"server error", 502, ``, false, true, false},
		{"too many requests", 429, ``, false, true, false},
		{"not found", 404, ``, false, false, false},
		{"bad request", 400, ``, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			err := NewSessionClient(srv.Client(), []string{srv.URL}).Send(t.Context(), srv.URL+"/robot/sendBySession?session=s", []byte(`{}`))
			if (err == nil) != tc.ok || (err != nil && (Retryable(err) != tc.retryable || SessionExpired(err) != tc.expired)) {
				t.Errorf("Send = %v: retryable=%v expired=%v; want ok=%v retryable=%v expired=%v",
					err, err != nil && Retryable(err), SessionExpired(err), tc.ok, tc.retryable, tc.expired)
			}
		})
	}
}

func TestSendNeverCallsAForbiddenWebhook(t *testing.T) {
	called := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	defer srv.Close()
	err := NewSessionClient(srv.Client(), []string{DefaultSessionPrefix}).Send(t.Context(), srv.URL+"/robot/sendBySession", []byte(`{}`))
	if !errors.Is(err, ErrForbiddenWebhook) || Retryable(err) || called {
		t.Fatalf("Send to a forbidden URL: %v (retryable=%v, called=%v)", err, Retryable(err), called)
	}
}

func TestNetworkFailuresAreRetryableButCancellationIsNot(t *testing.T) {
	if !Retryable(errors.New("connection reset by peer")) {
		t.Error("a network failure is not retryable")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(time.Second) }))
	defer srv.Close()
	err := NewSessionClient(srv.Client(), []string{srv.URL}).Send(ctx, srv.URL+"/s", []byte(`{}`))
	if err == nil || Retryable(err) {
		t.Errorf("a cancelled send: %v, retryable=%v; want a final error", err, err != nil && Retryable(err))
	}
}

// A redirect from an allowed host is not followed: the reply would be
// posted wherever it points.
func TestSendFollowsNoRedirect(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		elsewhere := false
		evil := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere = true }))
		allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, evil.URL+"/collect", status)
		}))
		err := NewSessionClient(allowed.Client(), []string{allowed.URL}).Send(t.Context(), allowed.URL+"/robot/sendBySession?session=s", []byte(`{}`))
		if err == nil || Retryable(err) || elsewhere {
			t.Errorf("HTTP %d: Send = %v (retryable %v), redirect followed: %v", status, err, err != nil && Retryable(err), elsewhere)
		}
		evil.Close()
		allowed.Close()
	}
}

// A post that got no answer in time, or whose connection broke after it
// went out whole, may have arrived: it is not worth sending again (the
// reply could show twice). One that never went out is.
func TestSendTellsAPostThatMayHaveArrived(t *testing.T) {
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close() // read in full, then the connection breaks
	}))
	defer reset.Close()
	// Nothing listens on port 1 (a closed test server's port may be taken
	// by another test's listener meanwhile).
	refusedURL := "http://127.0.0.1:1"

	tests := []struct {
		name    string
		url     string
		arrived bool
	}{
		{"no answer in time", slow.URL, true},
		{"connection broken after the post", reset.URL, true},
		{"connection refused", refusedURL, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			c := NewSessionClient(&http.Client{}, []string{tc.url})
			err := c.Send(ctx, tc.url+"/robot/sendBySession?session=secret-token", []byte(`{}`))
			if err == nil || MayHaveArrived(err) != tc.arrived || Retryable(err) == tc.arrived {
				t.Errorf("Send = %v: may have arrived %v, retryable %v; want %v, %v", err, MayHaveArrived(err), err != nil && Retryable(err), tc.arrived, !tc.arrived)
			}
			if err != nil && strings.Contains(err.Error(), "secret-token") {
				t.Errorf("the error names the session token: %v", err)
			}
		})
	}
}
