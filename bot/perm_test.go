package bot_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
)

func TestPermGrantRevokeAndHierarchy(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)

	// An admin grants a member the parent scope by @mention.
	h.session.SetPerson("member-1", dingtalktest.Person{Name: "Member"})
	m := h.message(adminID, "/perm grant @Member contact")
	m.AtUsers = []dingtalk.AtUser{{DingtalkID: botUserID}, {DingtalkID: "$:LWCP_v1:$member", StaffID: "member-1"}}
	code, r := h.post(m)
	if code != http.StatusOK {
		t.Fatalf("grant answered %d", code)
	}
	contains(t, "grant", r.Markdown.Text, "Granted contact to member-1")

	// contact covers contact.add, contact.read...
	contains(t, "member add", h.say("member-1", "/contact add name=M email=m@example.com").Markdown.Text, "ContactId")
	contains(t, "member list", h.say("member-1", "/contact list").Markdown.Text, "1 contact(s)")
	// ...but not perm or audit.
	contains(t, "member audit", h.say("member-1", "/audit").Markdown.Text, "needs the permission audit")
	contains(t, "member whoami", h.say("member-1", "/whoami").Markdown.Text,
		"member-1", "Granted: contact", "You may use: contact.read, contact.add, contact.add.self, contact.update, contact.delete")

	// A member cannot grant, not even to themselves.
	r = h.say("member-1", "/perm grant member-1 perm")
	contains(t, "self grant", r.Markdown.Text, "needs the permission perm")
	r = h.say("member-1", "/perm grant member-1 audit")
	contains(t, "self grant audit", r.Markdown.Text, "needs the permission perm")

	// A holder of perm cannot hand out what they do not hold.
	if err := h.store.Grant(t.Context(), "lead-1", "perm"); err != nil {
		t.Fatal(err)
	}
	r = h.say("lead-1", "/perm grant member-2 contact.delete")
	contains(t, "grant unheld", r.Markdown.Text, "cannot grant or revoke contact.delete")
	r = h.say("lead-1", "/perm grant lead-1 admin")
	contains(t, "grant self admin", r.Markdown.Text, "cannot grant or revoke admin")
	r = h.say("lead-1", "/perm grant member-2 perm")
	contains(t, "grant held", r.Markdown.Text, "Granted perm to member-2")

	// Unknown scopes get a suggestion.
	r = h.say(adminID, "/perm grant member-2 contact.ad")
	contains(t, "bad scope", r.Markdown.Text, "There is no permission contact.ad", "Did you mean contact.add?")

	// Revoke; the member loses access at once.
	r = h.say(adminID, "/perm revoke member-1 contact")
	contains(t, "revoke", r.Markdown.Text, "Revoked member-1's contact permission")
	contains(t, "after revoke", h.say("member-1", "/contact list").Markdown.Text, "needs the permission contact.read")
	r = h.say(adminID, "/perm revoke member-1 contact")
	contains(t, "revoke again", r.Markdown.Text, "member-1 does not hold contact")

	// Admins from BOT_ADMINS cannot be revoked from chat.
	r = h.say(adminID, "/perm revoke "+adminID+" admin")
	contains(t, "revoke config admin", r.Markdown.Text, "admin from BOT_ADMINS")

	r = h.say(adminID, "/perm list")
	contains(t, "perm list", r.Markdown.Text, adminID+": admin (from BOT_ADMINS)", "lead-1: perm", "member-2: perm")
	lacks(t, "perm list", r.Markdown.Text, "member-1")
	contains(t, "perm list one", h.say(adminID, "/perm list lead-1").Markdown.Text, "lead-1 holds: perm")
}

// An @mention names the person the text names: the directory's name of
// each mentioned staff id is matched against it, never whoever the body
// happens to list.
func TestMentionsResolveByName(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	h.session.SetPerson("ls-1", dingtalktest.Person{Name: "李四"})
	h.session.SetPerson("zs-1", dingtalktest.Person{Name: "张三"})
	mentioning := func(text string, staffIDs ...string) dingtalk.Message {
		m := h.message(adminID, text)
		for _, id := range staffIDs {
			m.AtUsers = append(m.AtUsers, dingtalk.AtUser{DingtalkID: "$:LWCP_v1:$" + id, StaffID: id})
		}
		return m
	}
	_, r := h.post(mentioning("/perm grant @张三 contact.read", "ls-1", "zs-1"))
	contains(t, "by name", r.Markdown.Text, "Granted contact.read to zs-1")

	// A body that lists someone else than the text names grants nothing.
	_, r = h.post(mentioning("/perm grant @张三 audit", "ls-1"))
	contains(t, "mismatch", r.Markdown.Text, "Nobody @-mentioned in this message is called ＠张三")
	if g, _ := h.store.Scopes(t.Context(), "ls-1"); len(g) != 0 {
		t.Errorf("a mismatched mention granted %v to ls-1", g)
	}
	if g, _ := h.store.Scopes(t.Context(), "zs-1"); len(g) != 1 {
		t.Errorf("zs-1 holds %v, want only contact.read", g)
	}
}

func TestOriginGuards(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"DINGTALK_CORP_ID": "dingcorp", "DINGTALK_ROBOT_CODE": "dingrobot"})
	tests := []struct {
		name string
		set  func(*dingtalk.Message)
		want int
	}{
		{"chatbotCorpId othercorp", func(m *dingtalk.Message) { m.ChatbotCorpID = "othercorp" }, http.StatusForbidden},
		{"senderCorpId othercorp", func(m *dingtalk.Message) { m.SenderCorpID = "othercorp" }, http.StatusForbidden},
		{"robotCode otherrobot", func(m *dingtalk.Message) { m.RobotCode = "otherrobot" }, http.StatusForbidden},
		{"no senderCorpId", func(m *dingtalk.Message) { m.SenderCorpID = "" }, http.StatusOK}, // not sent for some senders
	}
	for _, tc := range tests {
		m := h.message(adminID, "/contact add name=G email=g@example.com")
		tc.set(&m)
		if code, _ := h.post(m); code != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, code, tc.want)
		}
	}
	if n := len(h.creates()); n != 1 {
		t.Errorf("%d creates, want 1 (only the matching message)", n)
	}
}

func TestWriteCommandsOnlyInAllowedConversations(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_ALLOWED_CONVERSATIONS": "cidOpsOnly=="})
	r := h.say(adminID, "/contact add name=W email=w@example.com")
	contains(t, "elsewhere", r.Markdown.Text, "BOT_ALLOWED_CONVERSATIONS")
	contains(t, "reads elsewhere", h.say(adminID, "/contact list").Markdown.Text, "No contacts")
	m := h.message(adminID, "/contact add name=W email=w@example.com")
	m.ConversationID = "cidOpsOnly=="
	_, r = h.post(m)
	contains(t, "allowed conversation", r.Markdown.Text, "ContactId")
	if n := len(h.creates()); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
	contains(t, "whoami shows the id", h.say(adminID, "/whoami").Markdown.Text, "cidTestGroup==")
}

func TestAuditRecordsEveryOutcome(t *testing.T) {
	t.Parallel()
	h := startBot(t, map[string]string{"BOT_RATE_LIMIT": "3"})
	if err := h.store.Grant(t.Context(), "auditor-1", "audit"); err != nil {
		t.Fatal(err)
	}
	h.say(adminID, "/contact add name=Aud email=someone@example.com phone=13811112222")
	dup := h.message(adminID, "/contact add name=Dup email=dup@example.com")
	h.post(dup)
	h.post(dup)
	h.say("stranger-1", "/contact add name=X email=x@example.com")
	h.say(adminID, "/contact add name=Y emial=y@example.com")
	for range 4 {
		h.post(h.message("chatty-1", "/help"))
	}

	r := h.say("auditor-1", "/audit 20")
	text := r.Markdown.Text
	contains(t, "audit", text,
		"`/contact add name=Aud phone=138∗∗∗∗2222 email=so∗∗∗@example.com` → ok · ContactId",
		"→ duplicate", "(stranger-1) `/contact add name=X email=x∗∗∗@example.com` → denied",
		"→ invalid", "(chatty-1) `/help` → rate_limited", "RequestId")
	lacks(t, "audit", text, "13811112222", "someone@")

	r = h.say("auditor-1", "/audit user=stranger-1")
	contains(t, "filtered audit", r.Markdown.Text, "stranger-1", "→ denied")
	lacks(t, "filtered audit", r.Markdown.Text, adminID)

	if r := h.say("stranger-1", "/audit"); !strings.Contains(r.Markdown.Text, "needs the permission audit") {
		t.Errorf("audit shown to a user without the scope:\n%s", r.Markdown.Text)
	}
}
