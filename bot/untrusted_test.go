package bot_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/commands/catalog"
)

// The callback body is not signed: everything in it is untrusted. These
// tests send what an attacker with a captured signature, or a hurried
// user, would.

// Only a chat DingTalk positively marks one-to-one sees personal data in
// full; a group, a type DingTalk may add, or none at all, sees it masked.
func TestMaskedUnlessPositivelyOneToOne(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	r := h.say(adminID, "/contact add name=Masked phone=13755556666 email=someone@example.com webhook=https://oapi.dingtalk.com/robot/send?access_token=91f2f6abcdef")
	id := contactID(t, r.Markdown.Text)
	for _, tc := range []struct {
		conversationType string
		full             bool
	}{{"1", true}, {"2", false}, {"3", false}, {"", false}, {"one", false}} {
		m := h.message(adminID, "/contact show "+id)
		m.ConversationType = tc.conversationType
		_, r := h.post(m)
		text := r.Markdown.Text
		shown := strings.Contains(text, "13755556666") || strings.Contains(text, "someone@") || strings.Contains(text, "91f2f6abcdef")
		if shown != tc.full || !strings.Contains(text, "Masked") {
			t.Errorf("conversationType %q: full data shown = %v, want %v:\n%s", tc.conversationType, shown, tc.full, text)
		}
	}
}

// A body that could be read two ways, or that is not JSON at all, gets a
// precise status and runs nothing.
func TestCallbackBodiesThatCouldMislead(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	m := h.message("member-1", "/perm grant member-1 perm")
	body := string(h.body(m))
	forged := strings.TrimSuffix(body, "}")
	// The staff id's key, as the message type spells it.
	f, _ := reflect.TypeOf(m).FieldByName("SenderStaffID")
	key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	tests := []struct {
		name        string
		body        string
		contentType string
		want        int
	}{
		{"the staff id twice", forged + `,"` + key + `":"` + adminID + `"}`, "application/json", http.StatusBadRequest},
		{"the same key in capitals", forged + `,"` + strings.ToUpper(key) + `":"` + adminID + `"}`, "application/json", http.StatusBadRequest},
		{"a second object after the first", body + `{"` + key + `":"` + adminID + `"}`, "application/json", http.StatusBadRequest},
		{"text/plain", body, "text/plain", http.StatusUnsupportedMediaType},
		{"form encoded", body, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"no content type", body, "", http.StatusUnsupportedMediaType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := dingtalk.NewCallbackRequest(context.Background(), h.base+"/dingtalk/webhook", appSecret, time.Now(), []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.contentType)
			if tc.contentType == "" {
				req.Header.Del("Content-Type")
			}
			if code, _ := h.do(req); code != tc.want {
				t.Errorf("answered %d, want %d", code, tc.want)
			}
		})
	}
	if g, _ := h.store.Scopes(t.Context(), "member-1"); len(g) != 0 {
		t.Errorf("a forged body granted %v", g)
	}
	// The same message, sent plainly, is still new: nothing above claimed it.
	if _, r := h.post(m); !strings.Contains(r.Markdown.Text, "may not run /perm grant") {
		t.Errorf("the plain message was answered %q", r.Markdown.Text)
	}
}

// A caller that sends its headers and then stalls gets 408 once
// BOT_BODY_TIMEOUT has passed, not a connection held for its whole
// read timeout.
func TestStalledBodyGets408(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_BODY_TIMEOUT": "300ms"})
	req, err := dingtalk.NewCallbackRequest(context.Background(), h.base+"/dingtalk/webhook", appSecret, time.Now(), []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /dingtalk/webhook HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\nContent-Length: 500\r\nTimestamp: %s\r\nSign: %s\r\n\r\n{\"msgId\":",
		req.Header.Get("Timestamp"), req.Header.Get("Sign"))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound on the test, well past the 300ms
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("a stalled body answered %d, want 408", resp.StatusCode)
	}
}

// A request that is not signed, or not signed right, is refused at once:
// its body is never waited for, and the connection is closed.
func TestUnsignedRequestIsRefusedWithoutWaitingForItsBody(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	req, err := dingtalk.NewCallbackRequest(context.Background(), h.base+"/dingtalk/webhook", "wrong-secret", time.Now(), []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, headers string }{
		{"unsigned", ""},
		{"badly signed", "Timestamp: " + req.Header.Get("Timestamp") + "\r\nSign: " + req.Header.Get("Sign") + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /dingtalk/webhook HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\nContent-Length: 500\r\n%s\r\n{\"msgId\":", tc.headers)
			_ = conn.SetReadDeadline(time.Now().Add(time.Second)) // the answer must come within 1 s
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer within 1 s to an unsigned request whose body stalls: %v", err)
			}
			if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
				t.Errorf("answered %d (close=%v), want 401 and the connection closed", resp.StatusCode, resp.Close)
			}
		})
	}
}

// A nickname is the sender's to choose: it is shown inert, in a reply and
// in the OpenAPI's byline.
func TestNicknamesAreInert(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_SYNC_REPLY_BUDGET": "50ms"})
	nick := "[管理员](http://evil.example/login) <font color=red>@all</font>"
	m := h.message(adminID, "/whoami")
	m.SenderNick = nick
	_, r := h.post(m)
	if live := catalog.LiveMarkup(strings.TrimSuffix(r.Markdown.Text, "\n\n@"+adminID)); len(live) > 0 || r.Markdown.Text == "" {
		t.Errorf("whoami shows the nickname live (%q):\n%s", live, r.Markdown.Text)
	}
	h.arms.SetLatency(300 * time.Millisecond)
	m = h.message(adminID, "/contact add name=Byline email=byline@example.com")
	m.SenderNick = nick
	m.SessionWebhookExpiredTime = dingtalk.MillisOf(time.Now().Add(-time.Minute))
	h.post(m)
	got, ok := h.session.Next(15 * time.Second)
	if !ok || got.Channel != "group" {
		t.Fatalf("no OpenAPI reply: %+v", got)
	}
	if live := catalog.LiveMarkup(got.Text); len(live) > 0 || !strings.Contains(got.Text, "管理员") {
		t.Errorf("the OpenAPI byline shows the nickname live (%q):\n%s", live, got.Text)
	}
}

// A contact someone stored with markup in its name is shown inert in chat.
func TestARMSNamesAreInertInChat(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	for _, name := range []string{"[点此领取](http://evil.example)", "![x](http://evil.example/t.png)", "<img src=x>", "`a"} {
		r := h.say(adminID, "/contact add name="+quoted(name)+" email="+fmt.Sprintf("n%d@example.com", len(name)))
		id := contactID(t, r.Markdown.Text)
		for _, text := range []string{r.Markdown.Text, h.say(adminID, "/contact show "+id).Markdown.Text, h.say(adminID, "/contact list").Markdown.Text} {
			if live := catalog.LiveMarkup(strings.TrimSuffix(text, "\n\n@"+adminID)); len(live) > 0 {
				t.Errorf("name %q shows live (%q):\n%s", name, live, text)
			}
		}
	}
}

func quoted(s string) string { return "「" + s + "」" }

func contactID(t *testing.T, text string) string {
	t.Helper()
	return group1(t, contactIDRE, text, "ContactId")
}

// A body without a staff id is anonymous, whatever sender id it carries:
// the body is not signed, and a forged one could name an admin there.
func TestAnonymousSenderHoldsNothing(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	f, _ := reflect.TypeOf(dingtalk.Message{}).FieldByName("SenderStaffID")
	key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	for _, tc := range []struct{ name, staffID string }{
		{"missing", ""}, {"empty", `""`}, {"null", "null"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			say := func(text string) string {
				m := h.message("", text)
				m.SenderID = adminID // an admin's staff id where the encrypted sender id goes
				body := string(h.body(m))
				if tc.staffID != "" {
					body = strings.TrimSuffix(body, "}") + `,"` + key + `":` + tc.staffID + `}`
				}
				code, r := h.postSigned([]byte(body), time.Now(), appSecret)
				if code != http.StatusOK {
					t.Fatalf("HTTP %d", code)
				}
				return r.Markdown.Text
			}
			contains(t, "add", say("/contact add name=Forged email=forged@example.com"), "DingTalk did not say who you are")
			contains(t, "grant", say("/perm grant member-1 admin"), "DingTalk did not say who you are")
			contains(t, "whoami", say("/whoami"), "did not send your staff id")
		})
	}
	if n := len(h.creates()); n != 0 {
		t.Errorf("an anonymous sender made %d creates", n)
	}
	if g, _ := h.store.Scopes(t.Context(), "member-1"); len(g) != 0 {
		t.Errorf("an anonymous sender granted %v", g)
	}
}

// Without a DingTalk app the directory cannot be asked: the reply names
// the settings whoever runs the bot must set, not a permission to grant.
func TestContactAddMeWithoutAnApp(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"DINGTALK_APP_KEY": ""})
	text := h.say(adminID, "/contact add me").Markdown.Text
	contains(t, "reply", text, "DINGTALK_APP_KEY and DINGTALK_APP_SECRET", "whoever runs the bot")
	lacks(t, "reply", text, "permission DINGTALK_APP_KEY", "developer console")
}
