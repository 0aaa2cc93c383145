package commands

import (
	"errors"
	"fmt"

	"github.com/armsbot/armsbot/commands/catalog"
)

// Code classifies a failure the way a person in the chat experiences it.
type Code string

const (
	EINVALID     Code = "invalid"     // the message cannot be run as typed
	EFORBIDDEN   Code = "denied"      // the sender lacks the scope
	ENOTFOUND    Code = "not_found"   // the contact named does not exist
	ECONFLICT    Code = "exists"      // the contact to add already exists
	EUNAVAILABLE Code = "unavailable" // our own state store failed
	EUPSTREAM    Code = "arms_error"  // ARMS answered with an error
	ELOST        Code = "lost"        // another process owns the message now; no reply
	EINTERNAL    Code = "error"       // anything else; details only in logs
)

// Error is a failure with a message for the sender. Key and Args select the
// localised text; Hint and Usage are appended after it.
type Error struct {
	Code  Code
	Key   string
	Args  []any
	Hint  string // already localised, e.g. "did you mean /contact?"
	Usage *Spec  // when set, the reply ends with this command's usage line
	Err   error  // cause, for logs only
	// Also are the other problems of the same message, reported with
	// this one.
	Also []*Error
}

func (e *Error) Error() string {
	msg := catalog.EN.T(e.Key, e.Args...)
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, msg)
}

func (e *Error) Unwrap() error { return e.Err }

func invalid(usage *Spec, key string, args ...any) *Error {
	return &Error{Code: EINVALID, Key: key, Args: args, Usage: usage}
}

// ErrUnavailable marks failures of the bot's own state store (Redis). The
// store wraps its errors with it so that the sender is told to retry later and
// no ARMS call follows.
var ErrUnavailable = errors.New("state store unavailable")

// ErrLostOwnership: another process owns the message now (this one was
// taken for dead, or handed it over); it finishes the message and replies.
var ErrLostOwnership = errors.New("another process owns this message now")

// ErrNotFound: the contact named does not exist (any more).
var ErrNotFound = errors.New("not found")

// Fault is what kind of failure a call to ARMS met, as far as the sender
// needs to know. The arms package decides which of ARMS's error codes is
// which; errorReply turns each into advice.
type Fault string

const (
	FaultOther        Fault = "other"         // ARMS said no; its code and message tell why
	FaultUnreachable  Fault = "unreachable"   // nothing was sent: ARMS could not be reached
	FaultNoAnswer     Fault = "no_answer"     // sent, and no answer came: whether it took effect is unknown
	FaultThrottled    Fault = "throttled"     // refused before ARMS did anything
	FaultForbidden    Fault = "forbidden"     // the bot's RAM identity may not call the action
	FaultCredentials  Fault = "credentials"   // the AccessKey or STS token is not valid
	FaultNotActivated Fault = "not_activated" // ARMS is not activated for the account
	FaultUnavailable  Fault = "unavailable"   // ARMS failed on its side
	FaultInvalid      Fault = "invalid"       // ARMS rejected the parameters
	FaultTooFrequent  Fault = "too_frequent"  // asked too often (verification links): later
)

// ARMSError is what the core needs to know of a failed ARMS call; the arms
// package's error type implements it.
type ARMSError interface {
	error
	Fault() Fault
	Action() string
	ErrorCode() string // ARMS's own code, quoted to the sender; empty when no answer came
	Message() string   // ARMS's explanation, or the transport failure; free of secrets
	RequestID() string
	// OutcomeUnknown: it may have reached ARMS and nothing says whether it
	// took effect (lost response, timeout, server error).
	OutcomeUnknown() bool
}

// CodeOf returns the Code of err, EINTERNAL for unclassified errors.
func CodeOf(err error) Code {
	var e *Error
	var a ARMSError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrLostOwnership):
		return ELOST
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrUnavailable):
		return EUNAVAILABLE
	case errors.As(err, &a):
		return EUPSTREAM
	}
	return EINTERNAL
}

// LogText renders err for logs. A sender's mistake is logged by its catalog
// key only: the rendered text would echo what they typed, which may be a
// phone number or a robot token.
func LogText(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Err == nil {
		return string(e.Code) + ": " + e.Key
	}
	return err.Error()
}
