package bot

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The design keeps a handled /contact add at two Redis round trips on a
// single Redis where ARMS keeps contacts unique (Alert Management): the
// admission (the claim, the rate limit, the sender's scopes, and the
// create's intent with the contact's locks, in one script) and the settle
// with the audit entry. Where it does not (legacy), the admission takes
// the locks, and the intent is recorded after the search: three.
func TestRedisRoundTripsPerAdd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		family string
		trips  int64
	}{{"alert-management", 2}, {"legacy", 3}} {
		t.Run(tc.family, func(t *testing.T) { roundTripsPerAdd(t, tc.family, tc.trips) })
	}
}

func roundTripsPerAdd(t *testing.T, family string, want int64) {
	// A lease of an hour: no renewal or sweep falls into the count.
	a, handler := testApp(t, map[string]string{"BOT_LEASE": "1h", "ARMS_CONTACT_API": family})
	// One command or one pipeline is one round trip.
	var trips atomic.Int64
	a.store.Observe(func(op string, _ error) {
		if op != "xrevrange" { // the test's own reads of the audit trail
			trips.Add(1)
		}
	})
	// The claim is settled, and the audit entry appended, after the reply
	// is written: wait for the entry before counting on.
	settled := func(id string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if e, _ := a.store.Recent(t.Context(), 1, "member-1"); len(e) == 1 && e[0].MsgID == id {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("message %s was not settled", id)
			}
			time.Sleep(5 * time.Millisecond) // polling the store
		}
	}
	if err := a.store.Grant(t.Context(), "member-1", "contact.add"); err != nil {
		t.Fatal(err)
	}
	post := func(id, text string) {
		t.Helper()
		if _, body := serveSigned(handler, id, "member-1", text); !strings.Contains(body, "ContactId") {
			t.Fatalf("no ContactId in %s", body)
		}
	}
	// The first add loads the scripts (each goes whole once, the settle's
	// after its audit entry); the second runs as every later one does.
	post("warm-up", "/contact add name=Warm email=warm@example.com")
	settled("warm-up")
	post("warm-up-2", "/contact add name=Warm2 email=warm2@example.com")
	settled("warm-up-2")
	before := trips.Load()
	post("counted", "/contact add name=RT email=rt@example.com")
	settled("counted")
	if got := trips.Load() - before; got != want {
		t.Errorf("a /contact add took %d Redis round trips, want %d", got, want)
	}
}
