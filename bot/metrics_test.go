package bot_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
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
	t.Parallel()
	h := startBot(t, nil)
	h.say(adminID, "/contact add name=Met email=met@example.com")
	h.say("stranger-1", "/contact add name=X email=x@example.com")
	h.postSigned(h.body(h.message(adminID, "/help")), time.Now(), "wrong")
	// A message is counted once it is settled, just after its answer.
	var m string
	waitFor(t, func() bool {
		m = h.get("/metrics")
		return strings.Contains(m, `armsbot_commands_total{command="contact add",outcome="ok"} 1`) &&
			strings.Contains(m, `armsbot_commands_total{command="contact add",outcome="denied"} 1`)
	})
	contains(t, "/metrics", m,
		`armsbot_webhooks_total{outcome="ok"} 1`,
		`armsbot_webhooks_total{outcome="denied"} 1`,
		`armsbot_webhooks_total{outcome="bad_signature"} 1`,
		`armsbot_commands_total{command="contact add",outcome="ok"} 1`,
		`armsbot_commands_total{command="contact add",outcome="denied"} 1`,
		`armsbot_arms_calls_total{action="CreateAlertContact",code=""} 1`,
		`armsbot_arms_calls_total{action="DeleteAlertContact",code=""} 0`,
		`armsbot_arms_call_duration_seconds_count{action="CreateAlertContact"} 1`,
		`armsbot_reply_deliveries_total{channel="sync",outcome="ok"} 2`,
		`armsbot_queue_depth 0`,
		`armsbot_http_requests_total{code="200",host="",method="POST",url="/dingtalk/webhook"}`,
		"go_goroutines")
}

// No label takes a value a caller chooses: a made-up Host header or
// method adds no series.
func TestMetricLabelsIgnoreWhatCallersChoose(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	for i, host := range []string{"evil-1.example", "evil-2.example"} {
		req, _ := http.NewRequest("BREW"+strconv.Itoa(i), h.base+"/healthz", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	m := h.get("/metrics")
	lacks(t, "/metrics", m, "evil-", "BREW")
	contains(t, "/metrics", m, `method="other"`, `host=""`)
}

// Every ARMS call's log line names the message it was made for, and the
// RequestId ARMS gave it.
func TestARMSCallLogLines(t *testing.T) {
	t.Parallel()
	h := startBot(t, alertManagement.with(nil))
	m := h.message(adminID, "/contact add name=Logged email=logged@example.com")
	h.post(m)
	h.stop()
	calls := 0
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if !strings.Contains(line, `"msg":"arms call"`) {
			continue
		}
		calls++
		if !strings.Contains(line, `"msg_id":"`+m.MsgID+`"`) || !regexp.MustCompile(`"arms_request_id":"[0-9A-F-]{36}"`).MatchString(line) {
			t.Errorf("an ARMS call line without the message or its RequestId: %s", line)
		}
	}
	if calls != 1 {
		t.Errorf("%d ARMS call lines, want 1 (the create):\n%s", calls, h.logs)
	}
}

// A bot nobody can administer says so at start.
func TestEmptyAdminsIsWarnedAbout(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_ADMINS": ""})
	contains(t, "logs", h.logs.String(), "BOT_ADMINS is empty")
	h2 := startBot(t, nil)
	lacks(t, "logs", h2.logs.String(), "BOT_ADMINS is empty")
}
