package bot

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms/armstest"
)

func BenchmarkVerify(b *testing.B) {
	v := verifier{secret: "this is a secret", now: func() time.Time { return time.UnixMilli(1577262236757) }}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.verify("1577262236757", "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA="); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAndClean(b *testing.B) {
	body := []byte(officialSample)
	b.ReportAllocs()
	for b.Loop() {
		var m inbound
		if err := json.Unmarshal(body, &m); err != nil {
			b.Fatal(err)
		}
		_ = CleanText(m.Text.Content)
		_ = m.mentions()
	}
}

func BenchmarkReplyRender(b *testing.B) {
	text := "Created alert contact **JohnDoe**, ContactId: **10211**\n\n- Phone: 138****2222\n- Email: so***@example.com\n- System notifications: yes\n\nRequestId: E9C9DA3D-10FE-472E-9EEF-2D0A3E41B2C5"
	b.ReportAllocs()
	for b.Loop() {
		_ = mustJSON(markdownReply("Done", text, "user123"))
	}
}

// BenchmarkWebhookAdd is the whole handler for a /contact add: signature,
// decoding, claim, rate limit, parse, the existence check and the create
// against the in-process ARMS stand-in (0 ms), settle and audit in Redis
// (REDIS_URL when set, else miniredis), and the reply.
func BenchmarkWebhookAdd(b *testing.B) {
	_, h := testApp(b, map[string]string{"BOT_ADMINS": "bench-user", "BOT_RATE_LIMIT": "100000000"},
		armstest.WithMaxContacts(1<<30))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := strconv.Itoa(i)
		code, body := serveSigned(h, "bench-"+id, "bench-user", "/contact add name=B"+id+" email=b"+id+"@example.com")
		if code != http.StatusOK || !strings.Contains(body, "ContactId") {
			b.Fatalf("HTTP %d: %s", code, body)
		}
	}
}
