package commands

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseApprovalRules(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "", want: ""},
		{in: "group delete", want: "group delete"},
		{in: "group delete, contact delete ,contact add systemnoc=true", want: "group delete|contact delete|contact add systemnoc=true"},
		{in: "Contact Add SystemNoc=yes", want: "contact add systemnoc=true"},
		{in: "contact force", want: "contact.force"},
		{in: "contact.force,perm grant", want: "contact.force|perm grant"},
		{in: "contact list", err: "changes nothing"},
		{in: "contact add colour=red", err: "has no key colour"},
		{in: "contact add systemnoc", err: "is not key=value"},
		{in: "contact add systemnoc=maybe", err: "takes true or false"},
		{in: "deploy everything", err: "neither a command"},
		{in: "approve", err: "neither a command"},
	}
	for _, tc := range tests {
		rules, err := ParseApprovalRules(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		var got []string
		for _, r := range rules {
			got = append(got, r.String())
		}
		if err != nil || strings.Join(got, "|") != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

var approveRE = regexp.MustCompile("/approve ([0-9A-Z]+)")

// approvalWorld: member may delete groups and add contacts, approver may
// approve both, bystander holds approve alone; boss is an admin.
func approvalWorld(t *testing.T, rules string) (*Runner, *fakeARMS, *fakeState) {
	t.Helper()
	parsed, err := ParseApprovalRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	r, arms, state := testRunner(t, func(s *Settings) { s.Approval = parsed })
	state.scopes = map[string][]string{"member": {"group.write", "contact.add"}, "approver": {"approve", "group.write", "contact.add"},
		"bystander": {"approve"}}
	return r, arms, state
}

// sayAs is say with a message id of its own, so that each call is a new
// message.
func sayAs(r *Runner, sender, id, text string) Reply {
	return r.Handle(context.Background(), Message{ID: id, SenderID: sender, SenderNick: sender, ConversationID: "cid-ops", Text: text}, &fakeJournal{})
}

// A group delete the policy names waits, after its preview, for someone
// else holding approve and group.write; its requester's own confirmation
// or approval does nothing, and the approval deletes it once.
func TestApprovalNeedsASecondPerson(t *testing.T) {
	r, arms, _ := approvalWorld(t, "group delete")
	gid := arms.addGroup("SRE")

	held := sayAs(r, "member", "m1", "/group delete "+gid)
	m := approveRE.FindStringSubmatch(held.Text)
	if held.Outcome != "held" || held.Title != "Approval needed" || m == nil {
		t.Fatalf("request: %+v", held)
	}
	code := m[1]
	contains(t, "request", held.Text, "group delete", "May approve: ", "`approver`", "`boss`")
	if strings.Contains(held.Text, "`member`") || strings.Contains(held.Text, "`bystander`") {
		t.Errorf("names someone who may not approve:\n%s", held.Text)
	}

	steps := []struct {
		sender, text, outcome, says string
	}{
		{"member", "/confirm " + code, string(EFORBIDDEN), "needs someone else's approval"},
		{"member", "/approve " + code, string(EFORBIDDEN), "approve"},
		{"bystander", "/approve " + code, string(EFORBIDDEN), "group.write"},
		{"approver", "/confirm " + code, string(EINVALID), "/approve " + code},
		{"approver", "/approve " + code, "ok", "approved by approver, as requested by member"},
		{"boss", "/approve " + code, string(EINVALID), "decided already"},
		{"member", "/cancel " + code, string(EINVALID), "decided already"},
	}
	for i, s := range steps {
		rep := sayAs(r, s.sender, "step"+string(rune('a'+i)), s.text)
		if rep.Outcome != s.outcome || !strings.Contains(strings.ToLower(rep.Text), strings.ToLower(s.says)) {
			t.Errorf("%s: %s: outcome %q, want %q saying %q:\n%s", s.sender, s.text, rep.Outcome, s.outcome, s.says, rep.Text)
		}
		if s.outcome == "ok" && (rep.RequestedBy != "member" || rep.GroupID != gid) {
			t.Errorf("the approval's reply names requester %q and group %q", rep.RequestedBy, rep.GroupID)
		}
	}
	if n := arms.called("group delete"); n != 1 {
		t.Errorf("%d group deletes, want 1", n)
	}

	// Holding approve does not let anyone approve their own request.
	own := approveRE.FindStringSubmatch(sayAs(r, "approver", "o1", "/group delete "+arms.addGroup("Other")).Text)[1]
	if rep := sayAs(r, "approver", "o2", "/approve "+own); rep.Outcome != string(EFORBIDDEN) || !strings.Contains(rep.Text, "You asked for request "+own+" yourself") {
		t.Errorf("approving one's own request: %+v", rep)
	}
	if n := arms.called("group delete"); n != 1 {
		t.Errorf("%d group deletes after approving one's own, want 1", n)
	}
}

// A command without a preview of its own (an add) is held with its dry
// run, and on approval runs as its requester's, with what they typed.
func TestApprovalOfAnAdd(t *testing.T) {
	r, arms, _ := approvalWorld(t, "contact add systemnoc=true")

	if rep := sayAs(r, "member", "m0", "/contact add name=Plain email=plain@example.com"); rep.Outcome != "ok" {
		t.Fatalf("an add the rule does not name waits: %+v", rep)
	}
	held := sayAs(r, "member", "m1", "/contact add name=Noc email=noc@example.com systemnoc=true")
	m := approveRE.FindStringSubmatch(held.Text)
	if held.Outcome != "held" || m == nil || arms.called("create") != 1 {
		t.Fatalf("request: %+v, %d creates", held, arms.called("create"))
	}
	contains(t, "preview", held.Text, "Once approved, it will send:", "create contact", "ContactName=Noc", "contact add systemnoc=true", "**contact.add**")

	rep := sayAs(r, "approver", "m2", "/approve "+m[1])
	if rep.Outcome != "ok" || rep.ContactID == "" || rep.RequestedBy != "member" || arms.called("create") != 2 {
		t.Fatalf("approval: %+v, %d creates", rep, arms.called("create"))
	}
	var ct Contact
	for _, c := range arms.contacts {
		if c.ID == rep.ContactID {
			ct = c
		}
	}
	if ct.Name != "Noc" || !ct.SystemNoc {
		t.Errorf("created %+v", ct)
	}
}

// The requester may withdraw; someone who may approve may refuse; nobody
// else may do either, and a decided request stays decided.
func TestApprovalWithdrawnOrRefused(t *testing.T) {
	tests := []struct {
		decider, text, outcome, says string
	}{
		{"member", "/cancel", "ok", "withdrawn by member"},
		{"member", "/reject", "ok", "withdrawn by member"},
		{"approver", "/reject", "ok", "refused by approver"},
		{"bystander", "/reject", string(EFORBIDDEN), "group.write"},
		{"approver", "/cancel", string(EINVALID), "no pending action"},
	}
	for _, tc := range tests {
		r, arms, _ := approvalWorld(t, "group delete")
		gid := arms.addGroup("SRE")
		code := approveRE.FindStringSubmatch(sayAs(r, "member", "m1", "/group delete "+gid).Text)[1]
		rep := sayAs(r, tc.decider, "m2", tc.text+" "+code)
		if rep.Outcome != tc.outcome || !strings.Contains(rep.Text, tc.says) {
			t.Errorf("%s %s: outcome %q, want %q saying %q:\n%s", tc.decider, tc.text, rep.Outcome, tc.outcome, tc.says, rep.Text)
		}
		after := sayAs(r, "approver", "m3", "/approve "+code)
		if decided := rep.Outcome == "ok"; decided != (after.Outcome != "ok") {
			t.Errorf("%s %s, then an approval: %q", tc.decider, tc.text, after.Outcome)
		}
		if arms.called("group delete") > 0 && rep.Outcome == "ok" {
			t.Errorf("%s %s: the group was deleted after all", tc.decider, tc.text)
		}
	}
}

// A request whose requester lost the grant meanwhile does not run, and
// says that it is the requester who lacks it; a request nobody else may
// approve says so.
func TestApprovalChecksTheRequesterAndSaysWhoMayApprove(t *testing.T) {
	r, arms, state := approvalWorld(t, "group delete")
	gid := arms.addGroup("SRE")
	code := approveRE.FindStringSubmatch(sayAs(r, "member", "m1", "/group delete "+gid).Text)[1]
	state.scopes["member"] = []string{"contact.add"}
	rep := sayAs(r, "approver", "m2", "/approve "+code)
	if rep.Outcome != string(EFORBIDDEN) || !strings.Contains(rep.Text, "member, who asked for it, no longer holds") || arms.called("group delete") != 0 {
		t.Errorf("after the requester's grant was revoked: %+v", rep)
	}

	lonely, arms2, state2 := testRunner(t, func(s *Settings) {
		s.Admins = nil
		s.Approval, _ = ParseApprovalRules("group delete")
	})
	state2.scopes = map[string][]string{"member": {"group.write", "approve"}}
	gid = arms2.addGroup("SRE")
	contains(t, "nobody else", sayAs(lonely, "member", "m3", "/group delete "+gid).Text, "Nobody else may approve it yet")
}

// A scope rule holds every call that needs the scope: contact.force holds
// forced deletes and leaves the others alone.
func TestApprovalByScope(t *testing.T) {
	r, arms, state := approvalWorld(t, "contact.force")
	state.scopes["member"] = append(state.scopes["member"], "contact.delete", "contact.force")
	id := arms.add(Contact{Name: "Ann", Email: "ann@example.com"})
	if rep := sayAs(r, "member", "m1", "/contact delete "+id); rep.Outcome != "ok" || rep.Title != "Confirmation needed" {
		t.Errorf("an ordinary delete: %+v", rep)
	}
	if rep := sayAs(r, "member", "m2", "/contact delete "+id+" force=true"); rep.Outcome != "held" || !strings.Contains(rep.Text, "contact.force (force=true)") {
		t.Errorf("a forced delete: %+v", rep)
	}
}

// A request waits BOT_APPROVAL_TTL, and says so.
func TestApprovalWaitsItsTTL(t *testing.T) {
	rules, _ := ParseApprovalRules("group delete")
	r, arms, state := testRunner(t, func(s *Settings) { s.Approval, s.ApprovalTTL = rules, 45*time.Minute })
	rep := sayAs(r, "boss", "m1", "/group delete "+arms.addGroup("SRE"))
	contains(t, "request", rep.Text, "within 45 minutes")
	code := approveRE.FindStringSubmatch(rep.Text)[1]
	if left := time.Until(state.approvals[code].Expires); left < 44*time.Minute || left > 45*time.Minute {
		t.Errorf("the request expires in %v", left)
	}
}
