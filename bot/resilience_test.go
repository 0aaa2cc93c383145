package bot_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
)

// ARMS takes 4 s: the webhook still answers within DingTalk's patience and
// the ContactId arrives on the sessionWebhook, @-mentioning the sender.
func TestSlowARMSRepliesThroughTheSessionWebhook(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_SYNC_REPLY_BUDGET": ""}) // the default 1.5 s budget
	h.arms.SetLatency(4 * time.Second)
	start := time.Now()
	code, r := h.post(h.message(adminID, "/contact add name=Slow email=slow@example.com"))
	if took := time.Since(start); took >= 2*time.Second {
		t.Errorf("webhook answered after %s, want under 2s", took)
	}
	if code != http.StatusOK || r.MsgType != "empty" {
		t.Fatalf("answered %d %q, want 200 empty", code, r.MsgType)
	}
	m, ok := h.session.Next(15 * time.Second)
	if !ok {
		t.Fatal("no reply on the sessionWebhook")
	}
	id := strconv.FormatInt(h.arms.Contacts()[0].ContactID, 10)
	contains(t, "late reply", m.Text, "ContactId: **"+id+"**", "@"+adminID)
	if m.Channel != "session" || len(m.AtUserIDs) != 1 || m.AtUserIDs[0] != adminID {
		t.Errorf("late reply went %s @%v", m.Channel, m.AtUserIDs)
	}
}

// An expired sessionWebhook (by its expiry time, or errcode 300001) falls
// back to the robot OpenAPI with a cached access token.
func TestExpiredSessionFallsBackToOpenAPI(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_SYNC_REPLY_BUDGET": "50ms"})
	h.arms.SetLatency(300 * time.Millisecond)

	m := h.message(adminID, "/contact add name=Late email=late@example.com")
	m.SessionWebhookExpiredTime = dingtalk.MillisOf(time.Now().Add(-time.Minute))
	h.post(m)
	got, ok := h.session.Next(15 * time.Second)
	if !ok {
		t.Fatal("no reply through the OpenAPI")
	}
	if got.Channel != "group" || got.Conversation != "cidTestGroup==" || got.RobotCode != "dingrobot" {
		t.Fatalf("reply went %s to %q by %q, want group cidTestGroup== by dingrobot", got.Channel, got.Conversation, got.RobotCode)
	}
	contains(t, "openapi reply", got.Text, "ContactId", "Tester "+adminID)

	// DingTalk says the session is gone although its time had not come.
	m = h.message(adminID, "/contact add name=Gone email=gone@example.com")
	h.session.ExpireSession(sessionOf(t, m))
	h.post(m)
	if got, ok = h.session.Next(15 * time.Second); !ok || got.Channel != "group" {
		t.Fatalf("after errcode 300001 the reply went %q (ok=%v), want group", got.Channel, ok)
	}

	// A one-to-one chat goes to the sender through batchSend.
	m = h.message(adminID, "/contact add name=Private email=private@example.com")
	m.ConversationType = "1"
	m.SessionWebhookExpiredTime = dingtalk.MillisOf(time.Now().Add(-time.Minute))
	h.post(m)
	if got, ok = h.session.Next(15 * time.Second); !ok || got.Channel != "oto" || len(got.UserIDs) != 1 || got.UserIDs[0] != adminID {
		t.Fatalf("one-to-one fallback: %+v (ok=%v)", got, ok)
	}
	if n := h.session.TokensIssued(); n != 1 {
		t.Errorf("%d access tokens fetched for three sends, want 1 (cached)", n)
	}
}

func sessionOf(t *testing.T, m dingtalk.Message) string {
	t.Helper()
	u := m.SessionWebhook
	i := len(u) - 1
	for i >= 0 && u[i] != '=' {
		i--
	}
	return u[i+1:]
}

func TestLateReplyRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_SYNC_REPLY_BUDGET": "50ms"})
	h.arms.SetLatency(200 * time.Millisecond)
	h.session.FailNext(2)
	h.post(h.message(adminID, "/contact add name=Retry email=retry@example.com"))
	got, ok := h.session.Next(15 * time.Second)
	if !ok || got.Channel != "session" {
		t.Fatalf("reply not delivered after two failures: %+v", got)
	}
	h.stop()
	contains(t, "logs", h.logs.String(), `"attempts":3`)
}

// A lost answer after ARMS committed the create: the bot finds the contact
// instead of creating it again.
func TestLostCreateResponseMakesOneContact(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		h.arms.DropResponse(f.create, 1)
		r := h.say(adminID, "/contact add name=Lost email=lost@example.com phone=13811112222")
		contacts := h.arms.Contacts()
		if len(contacts) != 1 {
			t.Fatalf("stand-in holds %d contacts, want 1", len(contacts))
		}
		contains(t, "recovered reply", r.Markdown.Text, "ContactId: **"+strconv.FormatInt(contacts[0].ContactID, 10)+"**", "response from ARMS was lost")
		if n := len(h.creates()); n != 1 {
			t.Errorf("%d CreateAlertContact calls, want 1 (no blind retry)", n)
		}
	})
}

// A server error before anything was stored: nothing found, one retry.
func TestFailedCreateIsRetriedOnceWhenNothingWasMade(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		h.arms.Fail(f.create, "InternalError", http.StatusInternalServerError, 1)
		r := h.say(adminID, "/contact add name=Again email=again@example.com")
		contains(t, "retried create", r.Markdown.Text, "ContactId")
		if n, c := len(h.creates()), len(h.arms.Contacts()); n != 2 || c != 1 {
			t.Errorf("%d creates and %d contacts, want 2 and 1", n, c)
		}

		// Unknown twice: the sender is told exactly that, and how to check.
		h.arms.Fail(f.create, "InternalError", http.StatusInternalServerError, 2)
		r = h.say(adminID, "/contact add name=Twice email=twice@example.com")
		contains(t, "unknown twice", r.Markdown.Text, "unavailable")
		if n := len(h.arms.Contacts()); n != 1 {
			t.Errorf("%d contacts, want still 1", n)
		}
	})
}

// Throttled reads are retried within the command's deadline.
func TestThrottledReadsAreRetried(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		h.arms.AddContact(armstest.Contact{ContactName: "T", Email: "t@example.com"})
		h.arms.Fail(f.search, "Throttling.User", http.StatusBadRequest, 2)
		contains(t, "list after throttling", h.say(adminID, "/contact list").Markdown.Text, "1 contact(s)")
		if n := len(h.arms.Calls(f.search)); n != 3 {
			t.Errorf("%d SearchAlertContact calls, want 3", n)
		}
		// A throttled create did nothing, so it is sent again.
		h.arms.Fail(f.create, "Throttling.Api", http.StatusBadRequest, 1)
		contains(t, "briefly throttled create", h.say(adminID, "/contact add name=N email=n@example.com").Markdown.Text, "ContactId")
		// Lasting throttling: the sender is told, and a later command works.
		h.arms.Fail(f.create, "Throttling.Api", http.StatusBadRequest, 4)
		contains(t, "throttled create", h.say(adminID, "/contact add name=M email=m@example.com").Markdown.Text, "throttling", "try again")
		contains(t, "next create", h.say(adminID, "/contact add name=M email=m@example.com").Markdown.Text, "ContactId")
		if n := len(h.arms.Contacts()); n != 3 {
			t.Errorf("%d contacts, want 3", n)
		}
	})
}

// With every worker busy, no room in the queue and none in the backlog,
// the sender is told the bot is busy, and a re-delivery later runs the
// command.
func TestFullQueueSaysBusy(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_WORKERS": "1", "BOT_QUEUE_SIZE": "0", "BOT_BACKLOG": "0", "BOT_SYNC_REPLY_BUDGET": "50ms"})
	h.arms.SetLatency(time.Second)
	if code, r := h.post(h.message(adminID, "/contact add name=First email=first@example.com")); code != 200 || r.MsgType != "empty" {
		t.Fatalf("first answered %d %q", code, r.MsgType)
	}
	second := h.message(adminID, "/whoami")
	_, r := h.post(second)
	contains(t, "busy", r.Markdown.Text, "busy")
	if _, ok := h.session.Next(15 * time.Second); !ok {
		t.Fatal("first command's reply never came")
	}
	// DingTalk's re-delivery runs it once the worker is free (it may still
	// be recording the first command's delivery).
	waitFor(t, func() bool {
		_, r = h.post(second)
		return !strings.Contains(r.Markdown.Text, "busy")
	})
	contains(t, "redelivered", r.Markdown.Text, adminID, "staff id")
}

// A late reply that could not be delivered anywhere rides on DingTalk's
// re-delivery of the message, once.
func TestRedeliveryCarriesAnUndeliveredReply(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_SYNC_REPLY_BUDGET": "50ms", "DINGTALK_APP_KEY": ""})
	h.arms.SetLatency(300 * time.Millisecond)
	m := h.message(adminID, "/contact add name=Undelivered email=undelivered@example.com")
	m.SessionWebhookExpiredTime = dingtalk.MillisOf(time.Now().Add(-time.Minute)) // and no OpenAPI fallback
	if _, r := h.post(m); r.MsgType != "empty" {
		t.Fatalf("first delivery answered %q, want empty", r.MsgType)
	}
	waitFor(t, func() bool { return strings.Contains(h.logs.String(), "reply not delivered") })
	_, r := h.post(m)
	contains(t, "re-delivery", r.Markdown.Text, "ContactId")
	if _, r = h.post(m); r.MsgType != "empty" {
		t.Errorf("third delivery answered %q, want empty: the reply went out", r.MsgType)
	}
	if n := len(h.creates()); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
}

// The OpenAPI fallback as DingTalk really answers: a callback without a
// robotCode (the documented sample has none), a revoked token (HTTP 400
// InvalidAuthentication), and batchSend's HTTP 200 that lists the user as
// not delivered to.
func TestOpenAPIFallbackAsDingTalkAnswers(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_SYNC_REPLY_BUDGET": "50ms", "BOT_REPLY_TIMEOUT": "20s"})
	h.arms.SetLatency(300 * time.Millisecond) // every reply comes late
	n := 0
	late := func(mod func(*dingtalk.Message)) dingtalk.Message {
		n++
		m := h.message(adminID, fmt.Sprintf("/contact add name=L%d email=l%d@example.com", n, n))
		m.SessionWebhookExpiredTime = dingtalk.MillisOf(time.Now().Add(-time.Minute))
		mod(&m)
		h.post(m)
		return m
	}

	late(func(m *dingtalk.Message) { m.RobotCode = "" })
	got, ok := h.session.Next(15 * time.Second)
	if !ok || got.RobotCode != appKey {
		t.Fatalf("a message without robotCode: reply %+v (ok=%v), want it sent with the app key %q as robotCode", got, ok, appKey)
	}

	h.session.RevokeTokens()
	late(func(*dingtalk.Message) {})
	if got, ok = h.session.Next(15 * time.Second); !ok || got.Channel != "group" {
		t.Fatalf("after the token was revoked: %+v (ok=%v)", got, ok)
	}
	if n := h.session.TokensIssued(); n != 2 {
		t.Errorf("%d tokens fetched, want a second one after DingTalk refused the first", n)
	}

	// Flow-controlled twice: retried until delivered.
	h.session.OTONotDelivered(adminID, "flowControlledStaffIdList", 2)
	late(func(m *dingtalk.Message) { m.ConversationType = "1" })
	if got, ok = h.session.Next(15 * time.Second); !ok || got.Channel != "oto" {
		t.Fatalf("a flow-controlled batchSend was not retried to delivery: %+v (ok=%v)", got, ok)
	}

	// Invalid: not delivered, said so in the log and the metrics.
	h.session.OTONotDelivered(adminID, "invalidStaffIdList", 1)
	late(func(m *dingtalk.Message) { m.ConversationType = "1" })
	waitFor(t, func() bool { return strings.Contains(h.logs.String(), "invalidStaffIdList") })
	if strings.Count(h.logs.String(), `"msg":"reply delivered","msg_id"`) != 3 {
		t.Errorf("a reply DingTalk did not deliver was logged as delivered:\n%s", h.logs)
	}
	contains(t, "metrics", h.get("/metrics"), `armsbot_reply_deliveries_total{channel="openapi",outcome="failed"} 1`)
}
