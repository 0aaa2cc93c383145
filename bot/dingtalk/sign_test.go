package dingtalk

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestSignDocumentedVector(t *testing.T) {
	if got := Sign("1577262236757", "this is a secret"); got != "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA=" {
		t.Fatalf("Sign = %s", got)
	}
}

func TestVerify(t *testing.T) {
	const ts, secret, sig = "1577262236757", "this is a secret", "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA="
	sent := time.UnixMilli(1577262236757)
	tests := []struct {
		name      string
		now       time.Time
		ts, sign  string
		secret    string
		wantError error
	}{
		{"documented vector", sent.Add(2 * time.Second), ts, sig, secret, nil},
		{"exactly one hour late", sent.Add(time.Hour), ts, sig, secret, nil},
		{"exactly one hour early", sent.Add(-time.Hour), ts, sig, secret, nil},
		{"one hour and a millisecond late", sent.Add(time.Hour + time.Millisecond), ts, sig, secret, ErrStale},
		{"one hour and a millisecond early", sent.Add(-time.Hour - time.Millisecond), ts, sig, secret, ErrStale},
		{"other secret", sent, ts, sig, "another secret", ErrBadSignature},
		{"URL-encoded signature", sent, ts, "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA%3D", secret, ErrBadSignature},
		{"missing sign", sent, ts, "", secret, ErrNoSignature},
		{"missing timestamp", sent, "", sig, secret, ErrNoSignature},
		{"timestamp in seconds", sent, "1577262236", sig, secret, ErrStale},
		{"timestamp not a number", sent, "yesterday", sig, secret, ErrBadTimestamp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := NewVerifier(tc.secret, func() time.Time { return tc.now })
			if err := v.Verify(tc.ts, tc.sign); err != tc.wantError {
				t.Fatalf("verify = %v, want %v", err, tc.wantError)
			}
		})
	}
}

// One verifier checks every callback of the process, at once from many
// handlers: each check stands on its own, whatever came before it.
func TestVerifierChecksManyCallbacks(t *testing.T) {
	const secret = "this is a secret"
	at := time.UnixMilli(1577262236757)
	v := NewVerifier(secret, func() time.Time { return at })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				ts := strconv.FormatInt(at.UnixMilli()-int64(g*1000+i), 10)
				if err := v.Verify(ts, Sign(ts, secret)); err != nil {
					t.Errorf("callback %d/%d: %v", g, i, err)
					return
				}
				if err := v.Verify(ts, Sign(ts, "another secret")); err != ErrBadSignature {
					t.Errorf("forged callback %d/%d: %v, want ErrBadSignature", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
