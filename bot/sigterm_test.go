package bot_test

import (
	"testing"
	"time"
)

// The real binary gets SIGTERM while a slow create runs: it stops taking
// webhooks, the create finishes, its reply goes out, and it exits 0.
func TestSIGTERMDuringSlowCreate(t *testing.T) {
	t.Parallel()
	h := world(t)
	h.arms.SetLatency(2 * time.Second)
	p := h.spawn(map[string]string{"BOT_SYNC_REPLY_BUDGET": "100ms"})

	if code, r := p.post(p.message(adminID, "/contact add name=Term email=term@example.com")); code != 200 || r.MsgType != "empty" {
		t.Fatalf("answered %d %q, want 200 empty", code, r.MsgType)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs)
	}
	msgs := h.session.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d replies reached the sessionWebhook, want 1\n%s", len(msgs), p.logs)
	}
	contains(t, "reply after SIGTERM", msgs[0].Text, "ContactId")
	if n := len(h.arms.Contacts()); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}
}
