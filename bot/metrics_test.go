package bot_test

import (
	"io"
	"net/http"
	"testing"
	"time"
)

func (h *harness) get(path string) string {
	h.t.Helper()
	resp, err := http.Get(h.base + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestMetricsAfterHandledMessages(t *testing.T) {
	h := startBot(t, nil)
	h.say(adminID, "/contact add name=Met email=met@example.com")
	h.say("stranger-1", "/contact add name=X email=x@example.com")
	h.postSigned(h.body(h.message(adminID, "/help")), time.Now(), "wrong")
	m := h.get("/metrics")
	contains(t, "/metrics", m,
		`armsbot_webhooks_total{outcome="ok"} 1`,
		`armsbot_webhooks_total{outcome="denied"} 1`,
		`armsbot_webhooks_total{outcome="bad_signature"} 1`,
		`armsbot_commands_total{command="contact add",outcome="ok"} 1`,
		`armsbot_commands_total{command="contact add",outcome="denied"} 1`,
		`armsbot_arms_calls_total{action="CreateAlertContact",code=""} 1`,
		`armsbot_arms_calls_total{action="SearchAlertContact",code=""} 1`,
		`armsbot_arms_call_duration_seconds_count{action="CreateAlertContact"} 1`,
		`armsbot_reply_deliveries_total{channel="sync",outcome="ok"} 2`,
		`armsbot_queue_depth 0`,
		`armsbot_http_requests_total{code="200",host=`,
		"go_goroutines")
}
