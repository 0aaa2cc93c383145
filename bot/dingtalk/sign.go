package dingtalk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"net/http"
	"strconv"
	"sync"
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
	// macs keeps HMACs keyed with the secret: keying one anew for every
	// callback costs two hash blocks and most of the allocations of a check.
	macs *sync.Pool
}

// NewVerifier checks signatures made with appSecret, judging their age by now.
func NewVerifier(appSecret string, now func() time.Time) Verifier {
	return Verifier{secret: appSecret, now: now, macs: &sync.Pool{
		New: func() any { return hmac.New(sha256.New, []byte(appSecret)) },
	}}
}

// matches reports whether sign is Sign(timestamp, v.secret).
func (v Verifier) matches(timestamp, sign string) bool {
	m := v.macs.Get().(hash.Hash)
	defer v.macs.Put(m)
	m.Reset()
	m.Write([]byte(timestamp + "\n" + v.secret))
	var sum [sha256.Size]byte
	var want [44]byte // base64 of 32 bytes
	base64.StdEncoding.Encode(want[:], m.Sum(sum[:0]))
	return hmac.Equal(want[:], []byte(sign))
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
	if !v.matches(timestamp, sign) {
		return ErrBadSignature
	}
	return nil
}
