package bot_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
)

// In ARMS's Alert Management family a phone rings only once its owner has
// opened ARMS's verification link: the bot sends the link, says so, shows
// the state, and reminds whoever added the contact until it is verified.

func TestAddWithAPhoneSendsTheVerificationLink(t *testing.T) {
	t.Parallel()
	h := startBot(t, alertManagement.with(nil))
	r := h.say(adminID, "/contact add name=Vera phone=13811112222")
	contains(t, "add", r.Markdown.Text, "Created alert contact **Vera**", "138∗∗∗∗2222 (not verified: ARMS will not call or text it)",
		"sent a verification link by SMS to 138∗∗∗∗2222")
	id := contactID(t, r.Markdown.Text)
	if n := len(h.creates()); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
	links := h.arms.VerifyLinks()
	if len(links) != 1 || strconv.FormatInt(links[0].ContactID, 10) != id || links[0].Phone != "13811112222" {
		t.Fatalf("verification links %+v, want one for ContactId %s and 13811112222", links, id)
	}
	if calls := h.arms.Calls("SendTTSVerifyLink"); len(calls) != 1 || calls[0].Params.Get("ContactId") != id {
		t.Errorf("SendTTSVerifyLink calls %+v", calls)
	}
	h.arms.MarkVerified(id64(id))
	contains(t, "show", h.say(adminID, "/contact show "+id).Markdown.Text, "138∗∗∗∗2222 (verified)")
	contains(t, "unverified list", h.say(adminID, "/contact list verified=no").Markdown.Text, "No contacts")
	// A link asked for again at once is refused by ARMS, and said so.
	r = h.say(adminID, "/contact add name=Second phone=13811113333")
	second := contactID(t, r.Markdown.Text)
	contains(t, "too often", h.say(adminID, "/contact verify "+second).Markdown.Text, "one went out lately")
}

// /contact add me sends the sender's DingTalk user id as the contact's
// CorpUserId, so that ARMS's alert cards @-mention them; they may then
// verify their own contact without contact.update, and nobody else may.
func TestAddMeSendsTheCorpUserIDAndOwnsTheContact(t *testing.T) {
	t.Parallel()
	h := startBot(t, alertManagement.with(nil))
	h.arms.SetVerifyInterval(0)
	h.session.SetPerson("member-1", dingtalktest.Person{Name: "Member One", Mobile: "13900001111"})
	h.say(adminID, "/perm grant member-1 contact.add.self")
	h.say(adminID, "/perm grant reader-1 contact.read")
	r := h.say("member-1", "/contact add me")
	id := contactID(t, r.Markdown.Text)
	c, _ := h.contact(id)
	if c.CorpUserID != "member-1" {
		t.Errorf("CorpUserId %q, want the sender's user id member-1", c.CorpUserID)
	}
	contains(t, "someone else", h.say("reader-1", "/contact verify "+id).Markdown.Text, "unless it is your own contact")
	contains(t, "the owner", h.say("member-1", "/contact verify "+id).Markdown.Text, "sent a verification link")
	// An update keeps the person's id: ARMS does not return it.
	h.say(adminID, "/contact update "+id+" name=Member")
	if c, _ := h.contact(id); c.CorpUserID != "member-1" || c.ContactName != "Member" {
		t.Errorf("after an update: %+v", c)
	}
}

// With two replicas and BOT_VERIFY_REMIND=3s, the adder is reminded in the
// conversation once a period while the phone is unverified, and never
// after it is verified.
func TestVerificationReminders(t *testing.T) {
	t.Parallel()
	const period = 3 * time.Second
	env := alertManagement.with(map[string]string{"BOT_VERIFY_REMIND": period.String()})
	h := startBot(t, env)
	h.replica(env)
	m := h.message(adminID, "/contact add name=Remy phone=13811114444")
	_, r := h.post(m)
	id := contactID(t, r.Markdown.Text)
	session := sessionOf0(m)
	var at []time.Time
	reminders := func() int {
		n := 0
		for _, s := range h.session.Messages() {
			if s.Session == session && strings.Contains(s.Text, "Reminder") {
				n++
			}
		}
		return n
	}
	for len(at) < 2 {
		waitFor(t, func() bool { return reminders() > len(at) })
		at = append(at, time.Now())
	}
	if n := reminders(); n != 2 {
		t.Fatalf("%d reminders by the second period, want 2 (one per period, from either replica)", n)
	}
	if gap := at[1].Sub(at[0]); gap < period/2 {
		t.Errorf("two reminders %s apart, want one per period of %s", gap, period)
	}
	for _, s := range h.session.Messages() {
		if s.Session == session && strings.Contains(s.Text, "Reminder") {
			contains(t, "reminder", s.Text, "Remy", id, "138∗∗∗∗4444", "still not verified", "/contact verify "+id)
			if len(s.AtUserIDs) != 1 || s.AtUserIDs[0] != adminID {
				t.Errorf("the reminder @-mentions %v, want the adder", s.AtUserIDs)
			}
		}
	}
	h.arms.MarkVerified(id64(id))
	// The next round finds it verified and ends the reminders.
	waitFor(t, func() bool {
		n, _ := h.redis.Client.Exists(t.Context(), h.redis.Prefix+"{remind}:"+id).Result()
		return n == 0
	})
	if n := reminders(); n != 2 {
		t.Errorf("%d reminders, want 2: none after verification", n)
	}
}

// Five adds of one email at once on two replicas make one contact, in
// either family, whether or not the legacy API refuses a second contact
// with an email in use: the other four are told it exists, with its id.
func TestOnePersonAddedOnceInEitherFamily(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		f         family
		allowDups bool
	}{
		{"legacy, refusing duplicates", legacy, false},
		{"legacy, accepting duplicates", legacy, true},
		{"alert-management", alertManagement, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := world(t)
			h.arms.AllowDuplicates(tc.allowDups)
			replicas := []*harness{h.spawn(fast("ARMS_CONTACT_API", tc.f.name)), h.spawn(fast("ARMS_CONTACT_API", tc.f.name))}
			onePersonAddedOnce(t, h, replicas)
		})
	}
}
