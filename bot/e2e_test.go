package bot_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
)

// The spine: a signed group message becomes one signed CreateAlertContact
// and a reply that @-mentions the sender with the new ContactId.
func TestAddContactEndToEnd(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	r := h.say(adminID, "/contact add name=JohnDoe email=someone@example.com phone=13811112222 systemnoc=true")

	calls := h.creates()
	if len(calls) != 1 {
		t.Fatalf("ARMS saw %d CreateAlertContact calls, want 1", len(calls))
	}
	p := calls[0].Params
	for k, want := range map[string]string{
		"ContactName": "JohnDoe", "Email": "someone@example.com", "PhoneNum": "13811112222",
		"SystemNoc": "true", "RegionId": "cn-hangzhou", "Version": "2019-08-08",
	} {
		if got := p.Get(k); got != want {
			t.Errorf("CreateAlertContact %s = %q, want %q", k, got, want)
		}
	}
	if p.Has("DingRobotWebhookUrl") {
		t.Errorf("DingRobotWebhookUrl sent although not given: %q", p.Get("DingRobotWebhookUrl"))
	}
	contacts := h.arms.Contacts()
	if len(contacts) != 1 {
		t.Fatalf("stand-in holds %d contacts, want 1", len(contacts))
	}
	id := contacts[0].ContactID
	contains(t, "reply", r.Markdown.Text, "ContactId: **"+strconv.FormatInt(id, 10)+"**", "JohnDoe", "@"+adminID)
	if len(r.At.AtUserIDs) != 1 || r.At.AtUserIDs[0] != adminID {
		t.Errorf("reply at.atUserIds = %v, want [%s]", r.At.AtUserIDs, adminID)
	}
	// A group chat never shows the full phone number or email.
	lacks(t, "group reply", r.Markdown.Text, "13811112222", "someone@")
	contains(t, "group reply", r.Markdown.Text, "138∗∗∗∗2222")
	if h.arms.Rejected() != 0 {
		t.Errorf("stand-in rejected %d requests for their signature", h.arms.Rejected())
	}
	if strings.Contains(h.logs.String(), "13811112222") || strings.Contains(h.logs.String(), armsSecretForLogs) {
		t.Errorf("logs carry a full phone number or the AccessKey secret:\n%s", h.logs)
	}
}

// DingTalk delivers at least once; twenty deliveries of one msgId at once
// create one contact and get one reply.
func TestConcurrentDuplicatesCreateOnce(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	msg := h.message(adminID, "/contact add name=Dup email=dup@example.com")
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		replies []reply
		codes   []int
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, r := h.post(msg)
			mu.Lock()
			defer mu.Unlock()
			codes, replies = append(codes, code), append(replies, r)
		}()
	}
	wg.Wait()
	if n := len(h.creates()); n != 1 {
		t.Fatalf("20 deliveries of one msgId made %d ARMS calls, want 1", n)
	}
	answered := 0
	for i, r := range replies {
		if codes[i] != http.StatusOK {
			t.Errorf("delivery %d answered HTTP %d", i, codes[i])
		}
		if r.MsgType == "markdown" {
			answered++
		} else if r.MsgType != "empty" {
			t.Errorf("delivery %d answered msgtype %q", i, r.MsgType)
		}
	}
	if answered != 1 {
		t.Errorf("%d deliveries got a visible reply, want exactly 1", answered)
	}
	// A re-delivery after the first finished does not run it again, and
	// stays silent: the first reply went out.
	if code, r := h.post(msg); code != http.StatusOK || r.MsgType != "empty" {
		t.Errorf("late duplicate answered %d %q, want 200 empty", code, r.MsgType)
	}
	if n := len(h.creates()); n != 1 {
		t.Errorf("late duplicate made another ARMS call (%d in all)", n)
	}
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)

	r := h.say("stranger-1", "/contact add name=X email=x@example.com")
	contains(t, "denied reply", r.Markdown.Text, "contact.add", adminID, "@stranger-1")
	if r.Markdown.Title != "Permission denied" {
		t.Errorf("title = %q, want Permission denied", r.Markdown.Title)
	}
	if n := len(h.creates()); n != 0 {
		t.Fatalf("a user without a grant caused %d ARMS calls", n)
	}

	// A grant of the parent scope covers contact.add.
	if err := h.store.Grant(t.Context(), "member-1", "contact"); err != nil {
		t.Fatal(err)
	}
	r = h.say("member-1", "/contact add name=Member email=member@example.com")
	contains(t, "granted reply", r.Markdown.Text, "ContactId")
	if n := len(h.creates()); n != 1 {
		t.Fatalf("granted user made %d ARMS calls, want 1", n)
	}

	// "contact" must not be covered by a look-alike scope.
	if err := h.store.Grant(t.Context(), "member-2", "contacts"); err != nil {
		t.Fatal(err)
	}
	r = h.say("member-2", "/contact add name=Other email=other@example.com")
	contains(t, "look-alike scope reply", r.Markdown.Text, "contact.add")
	if n := len(h.creates()); n != 1 {
		t.Fatalf("scope 'contacts' was taken for 'contact' (%d ARMS calls)", n)
	}
}

func TestSignatureAndBodyChecks(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	good := h.message(adminID, "/contact add name=Sig email=sig@example.com")
	tests := []struct {
		name string
		post func() int
		want int
	}{
		{"no headers", func() int {
			c, _ := h.postUnsigned(h.body(good))
			return c
		}, http.StatusUnauthorized},
		{"wrong secret", func() int {
			c, _ := h.postSigned(h.body(good), time.Now(), "not-the-secret")
			return c
		}, http.StatusUnauthorized},
		{"stale timestamp", func() int {
			c, _ := h.postSigned(h.body(good), time.Now().Add(-61*time.Minute), appSecret)
			return c
		}, http.StatusUnauthorized},
		{"future timestamp", func() int {
			c, _ := h.postSigned(h.body(good), time.Now().Add(61*time.Minute), appSecret)
			return c
		}, http.StatusUnauthorized},
		{"signature of another timestamp", func() int {
			// DingTalk's documented example: a valid signature, of 2019.
			c, _ := h.postSigned(h.body(good), time.UnixMilli(1577262236757), "this is a secret")
			return c
		}, http.StatusUnauthorized},
		{"malformed JSON", func() int {
			c, _ := h.postSigned(h.body(good)[:40], time.Now(), appSecret) // cut short
			return c
		}, http.StatusBadRequest},
		{"no msgId", func() int {
			m := good
			m.MsgID = ""
			c, _ := h.postSigned(h.body(m), time.Now(), appSecret)
			return c
		}, http.StatusBadRequest},
		{"oversize body", func() int {
			big := h.message(adminID, "/help "+strings.Repeat("x", 70<<10))
			c, _ := h.post(big)
			return c
		}, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.post(); got != tc.want {
				t.Errorf("HTTP %d, want %d", got, tc.want)
			}
		})
	}
	if n := len(h.arms.Calls("")); n != 0 {
		t.Errorf("rejected requests caused %d ARMS calls", n)
	}
	// The server still works after all that.
	r := h.say(adminID, "/help")
	contains(t, "help after rejects", r.Markdown.Text, "/contact add")
}

func TestValidationFailuresNeverCallARMS(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	tests := []struct {
		text string
		want []string
	}{
		{"/contact add name=NoChannel", []string{"at least one of phone, email or webhook", "Usage: /contact add"}},
		{"/contact add email=a@example.com", []string{"Missing required key name"}},
		{"/contact add name=X email=someone@", []string{"Email someone@ is not a valid address"}},
		{"/contact add name=X email=someone@example", []string{"so∗∗∗@example is not a valid"}}, // masked: a group reads it
		{"/contact add name=X phone=12345", []string{"Phone 12345 is not valid"}},
		{"/contact add name=X phone=23811112222", []string{"Phone 238∗∗∗∗2222 is not valid"}},
		{"/contact add name=X webhook=https://evil.example.com/robot/send?access_token=abc", []string{"host must be oapi.dingtalk.com"}},
		{"/contact add name=X webhook=http://oapi.dingtalk.com/robot/send?access_token=abc", []string{"must use https"}},
		{"/contact add name=X webhook=https://oapi.dingtalk.com/robot/send", []string{"access_token"}},
		{"/contact add name=X email=a@example.com systemnoc=maybe", []string{"Key systemnoc takes true or false, got maybe"}},
		{"/contact add name=X emial=a@example.com", []string{"Unknown key emial, did you mean email?"}},
		{"/contact add name=X email=a@example.com email=b@example.com", []string{"Key email is given more than once"}},
		{"/contact add name=" + strings.Repeat("n", 65) + " email=a@example.com", []string{"at most 64 characters"}},
		{`/contact add name="John Doe email=a@example.com`, []string{`The quote " is not closed`}},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			r := h.say(adminID, tc.text)
			contains(t, "reply", r.Markdown.Text, tc.want...)
			if r.Markdown.Title != "Invalid command" {
				t.Errorf("title %q, want Invalid command", r.Markdown.Title)
			}
		})
	}
	if n := len(h.arms.Calls("")); n != 0 {
		t.Errorf("invalid commands caused %d ARMS calls", n)
	}
}

func TestRepliesInChinese(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_LANG": "zh"})
	r := h.say(adminID, "/contact add name=张三 邮箱=zhangsan@example.com")
	contains(t, "zh reply", r.Markdown.Text, "已创建告警联系人", "ContactId")
	r = h.say("stranger-2", "/contact add name=李四 email=lisi@example.com")
	contains(t, "zh denied", r.Markdown.Text, "没有执行", adminID)
}

func TestNonTextMessageGetsAPoliteReply(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	m := h.message(adminID, "")
	m.Text = dingtalk.Text{}
	m.MsgType = "picture"
	m.Content = json.RawMessage(`{"downloadCode":"abc","pictureDownloadCode":"def"}`)
	code, r := h.post(m)
	if code != http.StatusOK || r.MsgType != "markdown" {
		t.Fatalf("picture answered %d %q, want 200 markdown", code, r.MsgType)
	}
	contains(t, "picture reply", r.Markdown.Text, "text commands")
}

func TestChatterAndEmptyMentionGetHints(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	contains(t, "chatter", h.say(adminID, "你好").Markdown.Text, "/help")
	contains(t, "bare mention", h.say(adminID, "").Markdown.Text, "/contact add")
}

func TestARMSErrorsBecomeReadableReplies(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	h.arms.Fail("CreateAlertContact", "Forbidden.RAM", http.StatusForbidden, 1)
	r := h.say(adminID, "/contact add name=Ram email=ram@example.com")
	contains(t, "forbidden reply", r.Markdown.Text, "arms:CreateAlertContact", "RequestId")
	lacks(t, "forbidden reply", r.Markdown.Text, armsSecretForLogs, "AccessKeyId", "SDK.ServerError")

	h.arms.Fail("CreateAlertContact", "Throttling.User", http.StatusBadRequest, 4)
	r = h.say(adminID, "/contact add name=Thr email=thr@example.com")
	contains(t, "throttled reply", r.Markdown.Text, "throttling", "try again")
	// The throttled command did not create anything; the next one works.
	r = h.say(adminID, "/contact add name=Thr email=thr@example.com")
	contains(t, "after throttling", r.Markdown.Text, "ContactId")
	if n := len(h.arms.Contacts()); n != 1 {
		t.Errorf("stand-in holds %d contacts, want 1", n)
	}
}

// A reply that is not ready within the budget goes to the sessionWebhook,
// but only to one under the configured prefixes: the body is not signed.
func TestSlowReplyGoesToSessionWebhookOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_SYNC_REPLY_BUDGET": "100ms"})
	h.arms.SetLatency(400 * time.Millisecond)

	code, r := h.post(h.message(adminID, "/contact add name=Slow email=slow@example.com"))
	if code != http.StatusOK || r.MsgType != "empty" {
		t.Fatalf("slow command answered %d %q, want 200 empty", code, r.MsgType)
	}
	got, ok := h.session.Next(10 * time.Second)
	if !ok {
		t.Fatal("no reply reached the sessionWebhook")
	}
	contains(t, "session reply", got.Text, "ContactId", "@"+adminID)

	forged := newDingTalk(t)
	m := h.message(adminID, "/contact add name=Forged email=forged@example.com")
	m.SessionWebhook = forged.SessionURL("stolen")
	if code, r := h.post(m); code != http.StatusOK || r.MsgType != "empty" {
		t.Fatalf("forged message answered %d %q", code, r.MsgType)
	}
	if err := h.stop(); err != nil { // waits for in-flight work
		t.Fatalf("bot stopped with %v", err)
	}
	if len(forged.Messages()) != 0 {
		t.Errorf("the bot posted to a sessionWebhook outside the allowed prefixes")
	}
	contains(t, "logs", h.logs.String(), "sessionWebhook not allowed")
}

func TestLogsNeverCarryWhatWasTyped(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	h.say(adminID, "/contact add name=X phone=23811112222 webhook=https://evil.example/robot/send?access_token=s3cr3ttoken")
	h.say(adminID, "/contact add name=Y phone=13899998888 webhook=https://oapi.dingtalk.com/robot/send?access_token=s3cr3ttoken")
	if err := h.stop(); err != nil { // a message is logged once its answer is out
		t.Fatal(err)
	}
	logs := h.logs.String()
	lacks(t, "logs", logs, "23811112222", "13899998888", "s3cr3ttoken", appSecret, armsSecretForLogs)
	contains(t, "logs", logs, `"outcome":"invalid"`, `"outcome":"ok"`, `"command":"contact add"`)
}
