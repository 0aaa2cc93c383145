package bot

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/armsbot/armsbot/arms/armstest"
)

// BenchmarkWebhookAdd is the whole handler for a /contact add: signature,
// decoding, claim, rate limit, parse, the one create call against the
// in-process ARMS stand-in (0 ms), settle and audit in Redis (REDIS_URL when
// set, else miniredis), and the reply.
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
