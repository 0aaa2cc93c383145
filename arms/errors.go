package arms

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

	"github.com/armsbot/armsbot/commands"
)

// Error is a failed ARMS call. This package decides what ARMS's error codes
// mean: which kind of fault each is (Fault), whether the call may have taken
// effect (OutcomeUnknown), and whether it is safe to send again. Its text
// never carries credentials, request URLs or raw SDK dumps.
type Error struct {
	action    string
	code      string
	message   string
	requestID string
	status    int
	sent      bool
	cause     error // transport-level cause, already stripped of URLs
}

var _ commands.ARMSError = (*Error)(nil)

func (e *Error) Action() string    { return e.action }
func (e *Error) ErrorCode() string { return e.code }
func (e *Error) RequestID() string { return e.requestID }
func (e *Error) HTTPStatus() int   { return e.status }
func (e *Error) Sent() bool        { return e.sent }

// Fault sorts ARMS's codes into the kinds the chat explains.
// codeCredentials is this package's code for a call that could not be
// signed: no credentials could be had (RRSA's token exchange failed, say).
// It is the code armsbot_arms_calls_total counts it under.
const codeCredentials = "CredentialsUnavailable"

func (e *Error) Fault() commands.Fault {
	switch code := e.code; {
	case code == "" && e.sent:
		return commands.FaultNoAnswer
	case code == "":
		return commands.FaultUnreachable
	case code == "Forbidden.RAM" || code == "APINotAuthorize" || strings.HasPrefix(code, "Forbidden"):
		return commands.FaultForbidden
	case strings.HasPrefix(code, "Throttling"):
		return commands.FaultThrottled
	case code == "AlertPhoneVerifyTooFrequently":
		return commands.FaultTooFrequent
	case code == "ARMSNotOpen":
		return commands.FaultNotActivated
	case strings.HasPrefix(code, "InvalidAccessKeyId") || code == "SignatureDoesNotMatch" ||
		strings.HasPrefix(code, "InvalidSecurityToken") || code == codeCredentials:
		return commands.FaultCredentials
	case e.status >= 500 || code == "ServiceUnavailable" || code == "InternalError":
		return commands.FaultUnavailable
	case e.status == 400:
		return commands.FaultInvalid
	}
	return commands.FaultOther
}

// OutcomeUnknown: the request may have reached ARMS, and no answer says
// whether it took effect (a lost response, a timeout, a server error).
func (e *Error) OutcomeUnknown() bool { return e.sent && (e.code == "" || e.status >= 500) }

// missing reports that ARMS refused the call because what it names does not
// exist. ARMS documents no code for it (a delete of a missing id may also
// answer HTTP 200 with IsSuccess false), so its words decide.
func (e *Error) missing() bool {
	if e.status != 400 && e.status != 404 {
		return false
	}
	code, msg := strings.ToLower(e.code), strings.ToLower(e.message)
	return strings.Contains(code, "notexist") || strings.Contains(code, "notfound") ||
		strings.Contains(msg, "not exist") || strings.Contains(msg, "not found") || strings.Contains(e.message, "不存在")
}

// retrySafe reports whether a call that may be repeated (a read, a
// full-replace update, a delete) may be sent again after e: throttling,
// server errors and transport failures.
func (e *Error) retrySafe() bool {
	return e.throttled() || e.code == "ServiceUnavailable" || e.status >= 500 || e.code == ""
}

// throttled: the gateway refused the call before ARMS did anything, or it
// was never sent (no credentials to sign it with), so even a create may be
// sent again.
func (e *Error) throttled() bool {
	return strings.HasPrefix(e.code, "Throttling") || e.code == codeCredentials
}

// Message is ARMS's explanation, or the transport failure, shortened.
func (e *Error) Message() string {
	if e.message != "" {
		return e.message
	}
	if e.cause != nil {
		return e.cause.Error()
	}
	return ""
}

func (e *Error) Error() string {
	if e.code != "" {
		return fmt.Sprintf("arms %s: %s (HTTP %d, RequestId %s): %s", e.action, e.code, e.status, e.requestID, e.message)
	}
	return fmt.Sprintf("arms %s: %v (sent=%t)", e.action, e.cause, e.sent)
}

func (e *Error) Unwrap() error { return e.cause }

// classify turns an SDK failure into an *Error.
func classify(action string, err error, sent bool) *Error {
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		return &Error{
			action:    action,
			code:      se.ErrorCode(),
			message:   cleanMessage(se.Message()),
			requestID: se.RequestId(),
			status:    se.HttpStatus(),
			sent:      true,
		}
	}
	var ce0 *credentialsError
	if errors.As(err, &ce0) {
		// Nothing was signed, so nothing was sent.
		return &Error{action: action, code: codeCredentials, cause: ce0}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error's text holds the request URL, which carries the
		// AccessKey id and signature; keep only the cause.
		return &Error{action: action, sent: sent, cause: ue.Err}
	}
	var ce *sdkerrors.ClientError
	if errors.As(err, &ce) {
		return &Error{action: action, sent: sent, cause: fmt.Errorf("%s: %s", ce.ErrorCode(), cleanMessage(ce.Message()))}
	}
	return &Error{action: action, sent: sent, cause: errors.New(cleanMessage(err.Error()))}
}

// cleanMessage drops the gateway's echo of the string to sign (it names the
// AccessKey id) and bounds the length.
func cleanMessage(m string) string {
	if i := strings.Index(m, "server string to sign is:"); i >= 0 {
		m = strings.TrimSpace(m[:i])
	}
	if i := strings.Index(m, "AccessKeyId="); i >= 0 {
		m = strings.TrimSpace(m[:i]) + " …"
	}
	if r := []rune(m); len(r) > 200 {
		m = string(r[:200]) + "…"
	}
	return m
}
