package armstest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"strings"
)

// StringToSign builds the RPC (signature version 1.0) string to sign from
// every request parameter, query and form merged, Signature excluded:
// METHOD&%2F&percent(canonical query), where canonical is the parameters
// sorted by key and percent-encoded per RFC 3986.
func StringToSign(method string, params url.Values) string {
	canonical := percent(params.Encode())
	return method + "&%2F&" + url.QueryEscape(canonical)
}

// percent turns form encoding into the RFC 3986 form the gateway signs.
func percent(s string) string {
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(s)
}

// Sign computes Base64(HMAC-SHA1(secret+"&", stringToSign)).
func Sign(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
