package armstest

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// STS is a stand-in for Alibaba Cloud STS's AssumeRoleWithOIDC, as RRSA
// uses it: over HTTPS (the SDK allows nothing else), it exchanges the
// expected OIDC token for the stand-in's own AccessKey with a security
// token. Point BOT_STS_ENDPOINT at Host, and trust CertPEM (SSL_CERT_FILE
// of the process that calls it).
type STS struct {
	Host string // host:port

	srv   *httptest.Server
	token string

	mu        sync.Mutex
	failNext  int
	exchanges int
	failures  int
}

// NewSTS starts an STS that accepts token as the pod's OIDC token.
func NewSTS(token string) *STS {
	s := &STS{token: token}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	s.Host = strings.TrimPrefix(s.srv.URL, "https://")
	return s
}

// Close stops it.
func (s *STS) Close() { s.srv.Close() }

// CertPEM is the certificate its TLS server presents.
func (s *STS) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// FailNext makes the next n exchanges answer HTTP 503, as STS does in an
// outage.
func (s *STS) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Exchanges counts the exchanges that succeeded; Failures those refused.
func (s *STS) Exchanges() (ok, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchanges, s.failures
}

func (s *STS) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	w.Header().Set("Content-Type", "application/json")
	s.mu.Lock()
	fail := s.failNext > 0
	if fail {
		s.failNext--
		s.failures++
	}
	s.mu.Unlock()
	switch {
	case fail:
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"Code": "ServiceUnavailable", "Message": "The request has failed due to a temporary failure of the server.", "RequestId": requestID()})
		return
	case r.URL.Query().Get("Action") != "AssumeRoleWithOIDC":
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"Code": "InvalidAction.NotFound", "RequestId": requestID()})
		return
	case r.PostForm.Get("OIDCToken") != s.token || r.PostForm.Get("RoleArn") == "" || r.PostForm.Get("OIDCProviderArn") == "":
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"Code": "AuthenticationFail.OIDCToken.Invalid", "RequestId": requestID()})
		return
	}
	s.mu.Lock()
	s.exchanges++
	s.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{
		"RequestId": requestID(),
		"Credentials": map[string]string{
			"AccessKeyId":     AccessKeyID,
			"AccessKeySecret": AccessKeySecret,
			"SecurityToken":   "armstest-sts-token",
			"Expiration":      time.Now().UTC().Add(time.Hour).Format(timeLayout),
		},
	})
}
