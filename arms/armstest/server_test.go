package armstest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// signed builds a request the way the SDK does, signed by this package's own
// implementation, so the gateway checks can be tested one by one.
func signed(t *testing.T, s *Server, at time.Time, nonce string, mod func(url.Values)) *http.Request {
	t.Helper()
	p := url.Values{
		"AccessKeyId": {AccessKeyID}, "Action": {"CreateAlertContact"}, "Format": {"JSON"},
		"RegionId": {"cn-hangzhou"}, "SignatureMethod": {"HMAC-SHA1"}, "SignatureNonce": {nonce},
		"SignatureType": {""}, "SignatureVersion": {"1.0"}, "Timestamp": {at.UTC().Format(timeLayout)},
		"Version": {version}, "ContactName": {"A"}, "Email": {"a@example.com"},
	}
	if mod != nil {
		mod(p)
	}
	p.Set("Signature", Sign(AccessKeySecret, StringToSign("POST", p)))
	req, err := http.NewRequest("POST", s.URL+"/?"+p.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func code(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Code string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Code
}

func TestGatewayChecks(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	s := NewServer(WithClock(func() time.Time { return now }))
	defer s.Close()

	if st, c := code(t, signed(t, s, now, "n1", nil)); st != 200 || c != "" {
		t.Fatalf("well-signed request: %d %s", st, c)
	}
	tests := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"nonce reused", signed(t, s, now, "n1", nil), 400, "SignatureNonceUsed"},
		{"16 minutes old", signed(t, s, now.Add(-16*time.Minute), "n2", nil), 400, "InvalidTimeStamp.Expired"},
		{"16 minutes ahead", signed(t, s, now.Add(16*time.Minute), "n3", nil), 400, "InvalidTimeStamp.Expired"},
		{"unknown action", signed(t, s, now, "n4", func(p url.Values) { p.Set("Action", "DescribeRegions") }), 404, "InvalidAction.NotFound"},
		{"wrong version", signed(t, s, now, "n5", func(p url.Values) { p.Set("Version", "2014-05-26") }), 400, "InvalidVersion"},
		{"unknown key", signed(t, s, now, "n6", func(p url.Values) { p.Set("AccessKeyId", "nobody") }), 404, "InvalidAccessKeyId.NotFound"},
		{"no region", signed(t, s, now, "n7", func(p url.Values) { p.Del("RegionId") }), 400, "ParameterRegionIdMissing"},
		{"no nonce", signed(t, s, now, "", func(p url.Values) { p.Del("SignatureNonce") }), 400, "MissingParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if st, c := code(t, tc.req); st != tc.status || c != tc.code {
				t.Errorf("got %d %s, want %d %s", st, c, tc.status, tc.code)
			}
		})
	}

	t.Run("tampered parameter", func(t *testing.T) {
		req := signed(t, s, now, "n8", nil)
		req.URL.RawQuery = strings.Replace(req.URL.RawQuery, "ContactName=A", "ContactName=B", 1)
		if st, c := code(t, req); st != 400 || c != "SignatureDoesNotMatch" {
			t.Errorf("got %d %s", st, c)
		}
	})
	t.Run("form body is signed too", func(t *testing.T) {
		p := url.Values{}
		req := signed(t, s, now, "n9", func(q url.Values) {
			q.Set("ContactName", "FromBody")
			q.Set("Email", "b@example.com")
			p.Set("ContactName", "FromBody")
		})
		q := req.URL.Query()
		q.Del("ContactName")
		req.URL.RawQuery = q.Encode()
		req.Body = http.NoBody
		req2, _ := http.NewRequest("POST", req.URL.String(), strings.NewReader(p.Encode()))
		req2.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if st, c := code(t, req2); st != 200 {
			t.Errorf("body parameter not merged into the signature: %d %s", st, c)
		}
	})
	// Only the first, correct request and the body one created contacts.
	if n := len(s.Contacts()); n != 2 {
		t.Errorf("stand-in holds %d contacts, want 2", n)
	}
	if s.Rejected() != len(tests)+1 {
		t.Errorf("Rejected() = %d, want %d", s.Rejected(), len(tests)+1)
	}
}

// A phone number or an email address belongs to one contact at a time, as
// ARMS documents: taken by a create or an update, kept by updates of the
// same contact, freed when it is changed or deleted.
func TestOneContactPerPhoneAndEmail(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	s := NewServer(WithClock(func() time.Time { return now }))
	defer s.Close()
	n := 0
	call := func(action string, params map[string]string) string {
		n++
		_, c := code(t, signed(t, s, now, "u"+strconv.Itoa(n), func(p url.Values) {
			p.Set("Action", action)
			p.Del("Email")
			for k, v := range params {
				if v == "$A" { // the id of the first contact
					v = strconv.FormatInt(s.Contacts()[0].ContactID, 10)
				}
				p.Set(k, v)
			}
		}))
		return c
	}
	steps := []struct {
		action string
		params map[string]string
		want   string
	}{
		{"CreateAlertContact", map[string]string{"ContactName": "A", "PhoneNum": "13811112222", "Email": "kim@example.com"}, ""},
		{"CreateAlertContact", map[string]string{"ContactName": "B", "PhoneNum": "13811112222"}, "ParameterIllegal"},
		{"CreateAlertContact", map[string]string{"ContactName": "B", "Email": "KIM@Example.com"}, "ParameterIllegal"},
		{"UpdateAlertContact", map[string]string{"ContactId": "$A", "ContactName": "A2", "PhoneNum": "13811112222", "Email": "kim@example.com"}, ""},
		{"UpdateAlertContact", map[string]string{"ContactId": "$A", "ContactName": "A2", "Email": "kim@example.com"}, ""},
		{"CreateAlertContact", map[string]string{"ContactName": "B", "PhoneNum": "13811112222"}, ""},
		{"CreateAlertContact", map[string]string{"ContactName": "C", "Email": "kim@example.com"}, "ParameterIllegal"},
		{"DeleteAlertContact", map[string]string{"ContactId": "$A"}, ""},
		{"CreateAlertContact", map[string]string{"ContactName": "C", "Email": "kim@example.com"}, ""},
	}
	for i, st := range steps {
		if got := call(st.action, st.params); got != st.want {
			t.Fatalf("step %d, %s %v: code %q, want %q", i+1, st.action, st.params, got, st.want)
		}
	}
	if got := len(s.Contacts()); got != 2 {
		t.Errorf("%d contacts, want 2", got)
	}
	// A reset stand-in is an empty ARMS: every value is free again.
	s.Reset()
	if got := len(s.Contacts()) + len(s.Calls("")); got != 0 {
		t.Errorf("%d contacts and calls after a reset, want none", got)
	}
	if got := call("CreateAlertContact", map[string]string{"ContactName": "D", "Email": "kim@example.com", "PhoneNum": "13811112222"}); got != "" {
		t.Errorf("create after a reset: code %q", got)
	}
}
