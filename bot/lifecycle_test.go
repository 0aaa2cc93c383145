package bot_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms/armstest"
)

func (h *harness) addContact(c armstest.Contact) string {
	return strconv.FormatInt(h.arms.AddContact(c), 10)
}

func (h *harness) contact(id string) (armstest.Contact, bool) {
	for _, c := range h.arms.Contacts() {
		if strconv.FormatInt(c.ContactID, 10) == id {
			return c, true
		}
	}
	return armstest.Contact{}, false
}

// oneToOne makes a message from a one-to-one chat, where replies are not masked.
func (h *harness) sayPrivately(sender, text string) reply {
	h.t.Helper()
	m := h.message(sender, text)
	m.ConversationType, m.ConversationTitle = "1", ""
	return h.answer(m)
}

func TestListPagesNewestFirstAndMasks(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		var ids []string
		for i := range 12 {
			ids = append(ids, h.addContact(armstest.Contact{ContactName: "Ops" + strconv.Itoa(i), Phone: "1381111" + strconv.Itoa(1000+i), Email: "ops" + strconv.Itoa(i) + "@example.com"}))
		}
		h.addContact(armstest.Contact{ContactName: "Dev", Email: "dev@example.com"})

		r := h.say(adminID, "/contact list")
		text := r.Markdown.Text
		contains(t, "page 1", text, "13 contact(s), page 1 of 2", "Next page: /contact list page=2", "**"+ids[11]+"** Ops11", "138∗∗∗∗1011")
		lacks(t, "page 1", text, "13811111011", "ops11@example.com", "**"+ids[0]+"**")
		if strings.Index(text, "Ops11") > strings.Index(text, "Ops10") {
			t.Errorf("list is not newest first:\n%s", text)
		}
		if (f == alertManagement) != strings.Contains(text, "138∗∗∗∗1011 (not verified") {
			t.Errorf("the list says whether ARMS calls a phone only in alert-management mode:\n%s", text)
		}

		r = h.say(adminID, "/contact list page=2")
		contains(t, "page 2", r.Markdown.Text, "page 2 of 2", "**"+ids[0]+"** Ops0", "**"+ids[1]+"** Ops1")
		lacks(t, "page 2", r.Markdown.Text, "Next page")

		r = h.say(adminID, "/contact list name=Dev")
		contains(t, "filtered", r.Markdown.Text, "1 contact(s)", "Dev", "d∗∗∗@example.com")
		lacks(t, "filtered", r.Markdown.Text, "Ops")

		r = h.say(adminID, "/contact list page=9")
		contains(t, "past the end", r.Markdown.Text, "Page 9 is empty")

		// One-to-one chats may show everything.
		r = h.sayPrivately(adminID, "/contact list name=Dev")
		contains(t, "private list", r.Markdown.Text, "dev@example.com")
	})
}

func TestShow(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		c := armstest.Contact{ContactName: "John Doe", Phone: "13811112222", Email: "someone@example.com"}
		shown := []string{"John Doe", "138∗∗∗∗2222 (not verified: ARMS will not call or text it)", "so∗∗∗@example.com"}
		full := []string{"13811112222", "someone@example.com"}
		if f == legacy {
			c.DingRobot, c.SystemNoc = "https://oapi.dingtalk.com/robot/send?access_token=91f2f6abcdef", true
			shown = []string{"John Doe", "138∗∗∗∗2222\n", "so∗∗∗@example.com", "access_token=91f2∗∗∗∗", "System notifications: yes"}
			full = append(full, "91f2f6abcdef")
		}
		id := h.addContact(c)

		r := h.say(adminID, "/contact show "+id)
		contains(t, "group show", r.Markdown.Text, append(shown, id)...)
		lacks(t, "group show", r.Markdown.Text, full...)

		r = h.sayPrivately(adminID, "/contact show "+id)
		contains(t, "private show", r.Markdown.Text, full...)

		r = h.say(adminID, "/contact show 999999")
		contains(t, "missing contact", r.Markdown.Text, "no contact with ContactId 999999")
		r = h.say(adminID, "/contact show abc")
		contains(t, "bad id", r.Markdown.Text, "A ContactId is a number", "Usage: /contact show ＜id＞")
		r = h.say(adminID, "/contact show")
		contains(t, "no id", r.Markdown.Text, "Missing required key id")
	})
}

func TestUpdateKeepsWhatWasNotNamed(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		hook := ""
		c := armstest.Contact{ContactName: "John", Phone: "13811112222", Email: "john@example.com"}
		if f == legacy {
			hook = "https://oapi.dingtalk.com/robot/send?access_token=abc123"
			c.DingRobot, c.SystemNoc = hook, true
		}
		id := h.addContact(c)
		n, _ := strconv.ParseInt(id, 10, 64)
		h.arms.MarkVerified(n)

		r := h.say(adminID, "/contact update "+id+" phone=13999998888")
		contains(t, "update reply", r.Markdown.Text, "Updated contact **John**", "139∗∗∗∗8888")
		got, _ := h.contact(id)
		want := c
		want.ContactID, want.Phone, want.CreateTime, want.UpdateTime = got.ContactID, "13999998888", got.CreateTime, got.UpdateTime
		if got != want {
			t.Fatalf("after updating the phone only:\n got %+v\nwant %+v", got, want)
		}
		if f == alertManagement {
			// A new number is not verified: ARMS's link went to it.
			contains(t, "update reply", r.Markdown.Text, "139∗∗∗∗8888 (not verified", "sent a verification link")
			if links := h.arms.VerifyLinks(); len(links) != 1 || links[0].Phone != "13999998888" {
				t.Errorf("verification links %+v", links)
			}
			h.say(adminID, "/contact update "+id+" email= 姓名=Johnny")
		} else {
			// An empty value removes that channel; the others stay.
			h.say(adminID, "/contact update "+id+" email= systemnoc=false 姓名=Johnny")
		}
		got, _ = h.contact(id)
		if got.Email != "" || got.Phone != "13999998888" || got.DingRobot != hook || got.SystemNoc || got.ContactName != "Johnny" {
			t.Fatalf("after removing the email: %+v", got)
		}

		// Removing every channel is refused before ARMS is called.
		updates := len(h.updates())
		clear := " phone="
		if f == legacy {
			clear += " webhook="
		}
		r = h.say(adminID, "/contact update "+id+clear)
		contains(t, "no channel left", r.Markdown.Text, "keep at least one of phone, email and webhook", "Usage: /contact update")
		r = h.say(adminID, "/contact update "+id)
		contains(t, "nothing to change", r.Markdown.Text, "Nothing to change")
		if n := len(h.updates()); n != updates {
			t.Errorf("refused updates still called ARMS (%d calls, want %d)", n, updates)
		}
		r = h.say(adminID, "/contact update 999999 phone=13811110000")
		contains(t, "update missing", r.Markdown.Text, "no contact with ContactId 999999")
	})
}

var codeRE = regexp.MustCompile("/confirm ([0-9A-Z]+)")

func confirmCode(t *testing.T, text string) string {
	t.Helper()
	return group1(t, codeRE, text, "confirmation code")
}

// group1 is the first group of re's match in text, which must have one.
func group1(t *testing.T, re *regexp.Regexp, text, what string) string {
	t.Helper()
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s in:\n%s", what, text)
	}
	return m[1]
}

func TestDeleteNeedsTheSendersOwnConfirmation(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		if err := h.store.Grant(t.Context(), "member-1", "contact"); err != nil {
			t.Fatal(err)
		}
		id := h.addContact(armstest.Contact{ContactName: "Gone", Email: "gone@example.com"})

		r := h.say(adminID, "/contact delete "+id)
		contains(t, "proposal", r.Markdown.Text, "About to delete contact **Gone**", id, "g∗∗∗@example.com", "5 minutes")
		code := confirmCode(t, r.Markdown.Text)
		if _, ok := h.contact(id); !ok || len(h.deletes()) != 0 {
			t.Fatal("/contact delete deleted before confirmation")
		}
		ttl := h.redis.Client.TTL(t.Context(), h.redis.Prefix+"confirm:"+adminID+":"+code).Val()
		if ttl <= 4*time.Minute || ttl > 5*time.Minute {
			t.Errorf("confirmation code lives %s, want 5 minutes", ttl)
		}

		// Another member, even one allowed to delete, cannot use the code.
		r = h.say("member-1", "/confirm "+code)
		contains(t, "someone else's code", r.Markdown.Text, "no pending action with code "+code)
		if _, ok := h.contact(id); !ok {
			t.Fatal("another user's /confirm deleted the contact")
		}

		// Codes are case-insensitive for the owner, and single use.
		r = h.say(adminID, "/confirm "+strings.ToLower(code))
		contains(t, "confirmed", r.Markdown.Text, "Deleted contact **Gone**")
		if _, ok := h.contact(id); ok {
			t.Fatal("contact still exists after /confirm")
		}
		r = h.say(adminID, "/confirm "+code)
		contains(t, "reused code", r.Markdown.Text, "no pending action")
		if n := len(h.deletes()); n != 1 {
			t.Errorf("%d deletes, want 1", n)
		}
	})
}

func TestCancelAndExpiry(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		id := h.addContact(armstest.Contact{ContactName: "Kept", Email: "kept@example.com"})

		code := confirmCode(t, h.say(adminID, "/contact delete "+id).Markdown.Text)
		r := h.say(adminID, "/cancel "+code)
		contains(t, "cancel", r.Markdown.Text, "Cancelled", "Kept")
		r = h.say(adminID, "/confirm "+code)
		contains(t, "confirm after cancel", r.Markdown.Text, "no pending action")
		if _, ok := h.contact(id); !ok {
			t.Fatal("cancelled delete happened")
		}

		if h.redis.Mini == nil {
			t.Log("expiry checked by TTL only against a real Redis")
			return
		}
		code = confirmCode(t, h.say(adminID, "/contact delete "+id).Markdown.Text)
		h.redis.Mini.FastForward(5*time.Minute + time.Second)
		r = h.say(adminID, "/confirm "+code)
		contains(t, "expired code", r.Markdown.Text, "may have expired")
		if _, ok := h.contact(id); !ok {
			t.Fatal("expired code deleted the contact")
		}
	})
}

func TestAddRefusesAnExistingEmailOrPhone(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		id := h.addContact(armstest.Contact{ContactName: "First", Email: "same@example.com", Phone: "13811112222"})
		tests := []struct{ text, want string }{
			{"/contact add name=Second email=SAME@example.com", "email S∗∗∗@example.com: ContactId " + id + " (First)"},
			{"/contact add name=Second phone=+8613811112222", "phone 138∗∗∗∗2222: ContactId " + id},
		}
		for _, tc := range tests {
			r := h.say(adminID, tc.text)
			if !strings.Contains(r.Markdown.Text, tc.want) {
				t.Errorf("%q:\n%s\nwant %q", tc.text, r.Markdown.Text, tc.want)
			}
		}
		r := h.say(adminID, "/contact add name=Second email=same@example.com")
		contains(t, "exists", r.Markdown.Text, "/contact update "+id+" key=value")
		if r.Markdown.Title != "Already exists" {
			t.Errorf("title %q", r.Markdown.Title)
		}
		// ARMS refused each create; the contact exists once.
		if n := len(h.arms.Contacts()); n != 1 {
			t.Errorf("ARMS holds %d contacts, want the first alone", n)
		}
		// A partial match is not the same contact.
		r = h.say(adminID, "/contact add name=Third email=me@example.com")
		contains(t, "different email", r.Markdown.Text, "ContactId")
		if n := len(h.arms.Contacts()); n != 2 {
			t.Errorf("ARMS holds %d contacts, want 2", n)
		}
	})
}

// Where ARMS keeps phones and emails unique (Alert Management), an add
// that nothing stands in the way of costs one ARMS call on its critical
// path, the create (the verification link follows it); where it does not
// (legacy), the phone and email are searched for first.
func TestAddOnTheHappyPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f     family
		calls []string
	}{
		{alertManagement, []string{"CreateOrUpdateContact", "SendTTSVerifyLink"}},
		{legacy, []string{"SearchAlertContact", "SearchAlertContact", "CreateAlertContact"}},
	} {
		t.Run(tc.f.name, func(t *testing.T) {
			t.Parallel()
			h := startBot(t, tc.f.with(nil))
			r := h.say(adminID, "/contact add name=Quick email=quick@example.com phone=13811112222")
			contains(t, "add", r.Markdown.Text, "ContactId")
			var got []string
			for _, c := range h.arms.Calls("") {
				got = append(got, c.Action)
			}
			if !slices.Equal(got, tc.calls) {
				t.Errorf("ARMS calls %v, want %v", got, tc.calls)
			}
		})
	}
}

func TestHelpShowsOnlyWhatTheSenderMayRun(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	if err := h.store.Grant(t.Context(), "reader-1", "contact.read"); err != nil {
		t.Fatal(err)
	}
	r := h.say("reader-1", "/help")
	contains(t, "reader help", r.Markdown.Text, "/contact list", "/contact show", "/help")
	lacks(t, "reader help", r.Markdown.Text, "/contact add", "/contact delete", "/contact update")

	r = h.say("nobody-1", "/help")
	contains(t, "nobody help", r.Markdown.Text, "cannot run any command yet", adminID)

	r = h.say("reader-1", "/help contact update")
	contains(t, "help contact update", r.Markdown.Text, "Usage: /contact update ＜id＞ ［name=＜name＞］", "`phone`", "`webhook`", "Example: /contact update", "contact.update")

	r = h.say("reader-1", "/help contcat")
	contains(t, "help typo", r.Markdown.Text, "There is no command /contcat", "Did you mean /contact?")
}

func TestSuggestionsAndChinese(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(map[string]string{"BOT_LANG": "zh"}))
		contains(t, "zh sub typo", h.say(adminID, "/contact lsit").Markdown.Text, "你是不是想输入 /contact list？")
		contains(t, "zh key typo", h.say(adminID, "/contact add name=X emial=a@example.com").Markdown.Text, "不认识参数 emial，你是不是想输入 email？", "用法：/contact add")
		id := h.addContact(armstest.Contact{ContactName: "王五", Phone: "13811112222"})
		r := h.say(adminID, "/联系人 删除 "+id)
		contains(t, "zh delete", r.Markdown.Text, "将要删除联系人 **王五**", "138∗∗∗∗2222", "分钟内发送")
		code := confirmCode(t, r.Markdown.Text)
		contains(t, "zh confirm", h.say(adminID, "/确认 "+code).Markdown.Text, "已删除联系人 **王五**")
		contains(t, "zh list", h.say(adminID, "/contact list").Markdown.Text, "没有找到联系人")
	})
}
