package commands

import (
	"strings"
	"testing"
)

// In the Alert Management family an add with a phone sends ARMS's
// verification link and says that ARMS will not call the number until its
// owner opens it; BOT_VERIFY_PHONES=manual leaves the link to
// /contact verify. Either way the sender is reminded while it stays
// unverified.
func TestAddSendsTheVerificationLink(t *testing.T) {
	for _, tc := range []struct {
		name  string
		auto  bool
		text  string
		links int
		want  []string
	}{
		{"auto", true, "/contact add name=Ann phone=13811112222", 1, []string{"sent a verification link by SMS to 138∗∗∗∗2222", "not verified: ARMS will not call or text it"}},
		{"manual", false, "/contact add name=Ann phone=13811112222", 0, []string{"Send /contact verify", "not verified"}},
		{"no phone", true, "/contact add name=Ann email=ann@example.com", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, arms, _ := testRunnerOf(t, alertManagement, func(s *Settings) { s.VerifyAuto = tc.auto })
			rep := say(r, "boss", tc.text)
			if rep.Outcome != "ok" {
				t.Fatalf("%+v", rep)
			}
			contains(t, "reply", rep.Text, tc.want...)
			if len(arms.links) != tc.links || (tc.links == 1 && arms.links[0] != rep.ContactID) {
				t.Errorf("links sent for %v, want %d for %s", arms.links, tc.links, rep.ContactID)
			}
			if wantPending := strings.Contains(tc.text, "phone="); (rep.VerifyPending == rep.ContactID) != wantPending {
				t.Errorf("reminder pending for %q, want it %v", rep.VerifyPending, wantPending)
			}
		})
	}
	// The legacy family says nothing of verification.
	r, arms, _ := testRunner(t, nil)
	rep := say(r, "boss", "/contact add name=Ann phone=13811112222")
	if strings.Contains(rep.Text, "verif") || rep.VerifyPending != "" || arms.called("verify") != 0 {
		t.Errorf("legacy add: %+v, %d links", rep, arms.called("verify"))
	}
}

// A link that cannot be sent is said so, with how to retry; the contact
// exists all the same.
func TestAddWhoseLinkFails(t *testing.T) {
	r, arms, _ := testRunnerOf(t, alertManagement, nil)
	arms.linkErr = &armsFault{fault: FaultTooFrequent, code: "AlertPhoneVerifyTooFrequently"}
	rep := say(r, "boss", "/contact add name=Ann phone=13811112222")
	if rep.Outcome != "ok" || len(arms.contacts) != 1 {
		t.Fatalf("%+v", rep)
	}
	contains(t, "reply", rep.Text, "could not be sent", "one went out lately", "/contact verify "+rep.ContactID)
}

// What each family cannot hold is refused before anything is sent, with
// what to do instead.
func TestKeysAFamilyHasNoPlaceFor(t *testing.T) {
	for _, tc := range []struct {
		family Traits
		text   string
		want   string
	}{
		{alertManagement, "/contact add name=R webhook=https://oapi.dingtalk.com/robot/send?access_token=abc", "IM robot"},
		{alertManagement, "/contact add name=R email=r@example.com systemnoc=true", "no system-notification setting"},
		{Traits{}, "/contact add name=R email=r@example.com fallback=sms", "ARMS_CONTACT_API=alert-management"},
		{Traits{}, "/contact list verified=no", "ARMS_CONTACT_API=alert-management"},
		{Traits{}, "/contact verify 10001", "ARMS_CONTACT_API=alert-management"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			r, arms, _ := testRunnerOf(t, tc.family, nil)
			arms.add(Contact{Name: "A", Phone: "13811112222"})
			rep := say(r, "boss", tc.text)
			if rep.Outcome != string(EINVALID) || arms.writes() != 0 {
				t.Fatalf("outcome %q after %d writes: %s", rep.Outcome, arms.writes(), rep.Text)
			}
			contains(t, "reply", rep.Text, tc.want)
		})
	}
}

// fallback= says what ARMS does about an unanswered call, on add and
// update, and replies show it.
func TestFallback(t *testing.T) {
	r, arms, _ := testRunnerOf(t, alertManagement, nil)
	rep := say(r, "boss", "/contact add name=F phone=13811112222 fallback=短信")
	if rep.Outcome != "ok" || arms.contacts[0].Fallback != "sms" {
		t.Fatalf("%+v, stored %+v", rep, arms.contacts)
	}
	contains(t, "add", rep.Text, "If a call is not answered: send an SMS")
	say(r, "boss", "/contact update "+rep.ContactID+" fallback=call")
	if arms.contacts[0].Fallback != "call" {
		t.Errorf("stored %+v", arms.contacts[0])
	}
	contains(t, "bad", say(r, "boss", "/contact update "+rep.ContactID+" fallback=pager").Text, "fallback takes none, call, sms or default")
}

// /contact verify sends the link again; it takes contact.update, or the
// contact being the sender's own; a verified phone needs none.
func TestVerifyCommand(t *testing.T) {
	r, arms, state := testRunnerOf(t, alertManagement, nil)
	r.directory.(*fakeDirectory).people = map[string]Person{"me-1": {Name: "Me", Mobile: "13700001111"}}
	state.scopes = map[string][]string{"me-1": {"contact.add.self"}, "other-1": {"contact.read"}, "ops-1": {"contact.update"}}
	rep := say(r, "me-1", "/contact add me")
	id := rep.ContactID
	if rep.Outcome != "ok" || len(arms.links) != 1 {
		t.Fatalf("%+v", rep)
	}
	for _, tc := range []struct {
		sender, want string
		outcome      Code
	}{
		{"other-1", "unless it is your own contact", EFORBIDDEN},
		{"me-1", "sent a verification link", "ok"},
		{"ops-1", "sent a verification link", "ok"},
	} {
		rep := say(r, tc.sender, "/contact verify "+id)
		if rep.Outcome != string(tc.outcome) {
			t.Errorf("%s: outcome %q: %s", tc.sender, rep.Outcome, rep.Text)
		}
		contains(t, tc.sender, rep.Text, tc.want)
	}
	if len(arms.links) != 3 {
		t.Errorf("%d links, want 3", len(arms.links))
	}
	arms.contacts[0].Verified = PhoneVerified
	contains(t, "verified", say(r, "me-1", "/contact verify "+id).Text, "is verified already")
	if len(arms.links) != 3 {
		t.Errorf("a verified phone was sent a link")
	}
}

// /contact list verified=no lists the contacts ARMS will not call.
func TestListUnverified(t *testing.T) {
	r, arms, _ := testRunnerOf(t, alertManagement, nil)
	for i := range 15 {
		arms.add(Contact{Name: "U" + string(rune('a'+i)), Phone: "1381111" + string(rune('0'+i%10)) + "00" + string(rune('0'+i/10))})
	}
	arms.add(Contact{Name: "Mail", Email: "mail@example.com"})
	arms.contacts[0].Verified = PhoneVerified
	rep := say(r, "boss", "/contact list verified=no")
	contains(t, "page 1", rep.Text, "14 contact(s), page 1 of 2", "verified=no page=2", "not verified")
	if strings.Contains(rep.Text, "Mail") || strings.Contains(rep.Text, "**"+arms.contacts[0].ID+"**") {
		t.Errorf("listed a contact that is not unverified:\n%s", rep.Text)
	}
	contains(t, "verified", say(r, "boss", "/contact list verified=yes").Text, "1 contact(s)", "(verified)")
}
