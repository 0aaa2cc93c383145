package dingtalk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// What DingTalk's failures mean: which are worth retrying, and which say a
// sessionWebhook is gone.

// codeError is DingTalk's in-body failure report on an HTTP 200
// (sessionWebhooks and the old oapi endpoints).
type codeError struct {
	Code int    `json:"errcode"`
	Msg  string `json:"errmsg"`
}

func (e *codeError) Error() string { return fmt.Sprintf("dingtalk errcode %d: %s", e.Code, e.Msg) }

// The errcodes this package acts on.
const (
	codeSessionGone = 300001 // the sessionWebhook has expired
	codeBusy        = -1     // the system is busy
	codeThrottled   = 410100 // too many requests
)

// apiError is an OpenAPI failure: a non-2xx answer with {code, message}.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("dingtalk openapi: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// httpStatusError is a non-2xx answer from a sessionWebhook.
type httpStatusError struct{ status int }

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("post sessionWebhook: HTTP %d", e.status)
}

// SessionExpired reports whether err says the sessionWebhook is gone, so
// that the reply must take another way.
func SessionExpired(err error) bool {
	var ce *codeError
	return errors.As(err, &ce) && ce.Code == codeSessionGone
}

// Retryable reports whether a delivery that failed with err is worth
// sending again: DingTalk was busy or throttling, answered 5xx or 429, or
// the network failed.
func Retryable(err error) bool {
	var ce *codeError
	var ae *apiError
	var se *httpStatusError
	var nd *notDelivered
	switch {
	case MayHaveArrived(err):
		return false
	case errors.As(err, &nd):
		return nd.retry
	case errors.As(err, &ce):
		return ce.Code == codeBusy || ce.Code == codeThrottled
	case errors.As(err, &ae):
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
	case errors.As(err, &se):
		return se.status >= 500 || se.status == http.StatusTooManyRequests
	case errors.Is(err, ErrForbiddenWebhook):
		return false
	}
	return !errors.Is(err, context.Canceled) // network trouble
}

// unanswered is a request that went out whole and got no answer (a
// timeout, a connection reset while waiting): DingTalk may have taken it,
// and nothing tells whether it did.
type unanswered struct{ err error }

func (e *unanswered) Error() string { return e.err.Error() + " (sent in full; no answer)" }
func (e *unanswered) Unwrap() error { return e.err }

// MayHaveArrived reports whether err says a post went out whole and no
// answer came: sending it again might show the reply twice, and DingTalk
// offers no way to ask whether the first arrived.
func MayHaveArrived(err error) bool {
	var u *unanswered
	return errors.As(err, &u)
}

// do sends req once, and tells an error after the request was written
// whole (unanswered) from one before (nothing reached DingTalk).
func do(client *http.Client, req *http.Request) (*http.Response, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) { wrote.Store(i.Err == nil) }}
	resp, err := client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil && wrote.Load() {
		return nil, &unanswered{err}
	}
	return resp, err
}
