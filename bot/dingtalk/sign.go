package dingtalk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// DingTalk signs each HTTP callback in two headers: the time it was sent,
// and an HMAC of that time keyed by the app secret. The body is not signed.

// maxSkew is DingTalk's documented validity window for a callback timestamp.
const maxSkew = time.Hour

var (
	ErrNoSignature  = errors.New("missing timestamp or sign header")
	ErrBadTimestamp = errors.New("timestamp is not milliseconds since the epoch")
	ErrStale        = errors.New("timestamp outside the one-hour window")
	ErrBadSignature = errors.New("signature does not match")
)

// Sign computes the callback signature:
// Base64(HMAC-SHA256(key=appSecret, timestamp+"\n"+appSecret)).
func Sign(timestamp, appSecret string) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(timestamp + "\n" + appSecret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verifier checks callback signatures against an injected clock.
type Verifier struct {
	secret string
	now    func() time.Time
}

// NewVerifier checks signatures made with appSecret, judging their age by now.
func NewVerifier(appSecret string, now func() time.Time) Verifier {
	return Verifier{secret: appSecret, now: now}
}

// VerifyRequest checks the signature headers of an HTTP callback.
func (v Verifier) VerifyRequest(h http.Header) error {
	return v.Verify(h.Get("timestamp"), h.Get("sign"))
}

// Verify checks one timestamp and its signature.
func (v Verifier) Verify(timestamp, sign string) error {
	if timestamp == "" || sign == "" {
		return ErrNoSignature
	}
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	d := v.now().Sub(time.UnixMilli(ms))
	if d > maxSkew || d < -maxSkew {
		return ErrStale
	}
	if !hmac.Equal([]byte(Sign(timestamp, v.secret)), []byte(sign)) {
		return ErrBadSignature
	}
	return nil
}
