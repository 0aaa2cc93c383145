package bot

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/armsbot/armsbot/arms/armstest"
)

// BenchmarkWebhookAdd is the whole handler for a /contact add: signature,
// decoding, claim, rate limit, parse, the ARMS calls against the in-process
// ARMS stand-in (0 ms: in alert-management mode the one create, in legacy
// mode the searches before it too), settle and audit in Redis (REDIS_URL
// when set, else miniredis), and the reply.
func BenchmarkWebhookAdd(b *testing.B) {
	for _, family := range []string{"legacy", "alert-management"} {
		b.Run(family, func(b *testing.B) { benchmarkWebhookAdd(b, family) })
	}
}

func benchmarkWebhookAdd(b *testing.B, family string) {
	_, h := testApp(b, map[string]string{"BOT_ADMINS": "bench-user", "BOT_RATE_LIMIT": "100000000", "ARMS_CONTACT_API": family},
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
