package commands

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// policy is an enabled policy named name that notifies receivers.
func policy(id, name string, receivers ...Receiver) Policy {
	return Policy{ID: id, Name: name, Enabled: true, Channels: []string{"dingTalk"}, Receivers: receivers}
}

func contactRcv(id string) Receiver { return Receiver{Kind: ReceiverContact, ID: id} }
func groupRcv(id string) Receiver   { return Receiver{Kind: ReceiverGroup, ID: id} }

// A delete that would leave an enabled policy with nobody to notify is
// refused naming the policy; one that leaves it a receiver is not.
func TestDeleteRefusedWhenLastReceiver(t *testing.T) {
	tests := []struct {
		name     string
		policies func(contact, group, other string) []Policy
		refused  bool
	}{
		{"its only receiver", func(c, _, _ string) []Policy { return []Policy{policy("p1", "Prod", contactRcv(c))} }, true},
		{"through a group it alone is in", func(c, g, _ string) []Policy { return []Policy{policy("p1", "Prod", groupRcv(g))} }, true},
		{"a disabled policy", func(c, _, _ string) []Policy {
			p := policy("p1", "Prod", contactRcv(c))
			p.Enabled = false
			return []Policy{p}
		}, false},
		{"another contact too", func(c, _, o string) []Policy { return []Policy{policy("p1", "Prod", contactRcv(c), contactRcv(o))} }, false},
		{"a robot too", func(c, _, _ string) []Policy {
			return []Policy{policy("p1", "Prod", contactRcv(c), Receiver{Kind: ReceiverRobot, ID: "5"})}
		}, false},
		{"a schedule too", func(c, _, _ string) []Policy {
			return []Policy{policy("p1", "Prod", contactRcv(c), Receiver{Kind: ReceiverOther, ID: "9", Type: "CONTACT_SCHEDULE"})}
		}, false},
		{"a group with another member", func(c, _, o string) []Policy { return []Policy{policy("p1", "Prod", groupRcv("shared"))} }, false},
		{"already silent: an empty group", func(c, _, _ string) []Policy { return []Policy{policy("p1", "Prod", groupRcv("empty"))} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, arms, _ := testRunner(t, nil)
			id := arms.add(Contact{Name: "Ann", Email: "ann@example.com"})
			other := arms.add(Contact{Name: "Bob", Email: "bob@example.com"})
			g := arms.addGroup("Solo", id)
			arms.groups = append(arms.groups, Group{ID: "shared", Name: "Shared", ContactIDs: []string{id, other}}, Group{ID: "empty", Name: "Empty"})
			arms.policies = tc.policies(id, g, other)
			rep := say(r, "boss", "/contact delete "+id)
			if refused := rep.Outcome == string(EINVALID); refused != tc.refused {
				t.Fatalf("refused=%v, want %v: %s", refused, tc.refused, rep.Text)
			}
			if tc.refused && !strings.Contains(rep.Text, "Prod") {
				t.Errorf("the refusal does not name the policy: %s", rep.Text)
			}
			if !tc.refused && !confirmRE.MatchString(rep.Text) {
				t.Errorf("no confirmation code: %s", rep.Text)
			}
		})
	}
}

// force=true by a holder of contact.force deletes, after /confirm, and
// names the policies left silent in the reply and the audit; without the
// scope it is refused; a policy that changed since the preview is read
// again at /confirm.
func TestForcedDelete(t *testing.T) {
	r, arms, state := testRunner(t, nil)
	id := arms.add(Contact{Name: "Ann", Email: "ann@example.com"})
	arms.policies = []Policy{policy("p1", "Prod", contactRcv(id))}
	state.scopes = map[string][]string{"member": {"contact.delete"}, "forcer": {"contact.delete", "contact.force"}}

	if rep := say(r, "member", "/contact delete "+id+" force=true"); rep.Outcome != string(EFORBIDDEN) || !strings.Contains(rep.Text, "contact.force") {
		t.Fatalf("force without contact.force: %s %s", rep.Outcome, rep.Text)
	}
	rep := say(r, "forcer", "/contact delete "+id+" force=true")
	m := confirmRE.FindStringSubmatch(rep.Text)
	if m == nil || !strings.Contains(rep.Text, "Prod") {
		t.Fatalf("forced preview: %s", rep.Text)
	}
	done := say(r, "forcer", "/confirm "+m[1])
	if done.Outcome != "ok" || len(arms.contacts) != 0 || !slices.Equal(done.Policies, []string{"Prod (p1) [silenced]"}) || !strings.Contains(done.Text, "Prod") {
		t.Fatalf("forced delete: %s policies %v, %d contacts left: %s", done.Outcome, done.Policies, len(arms.contacts), done.Text)
	}

	// Not forced: previewed while another contact shared the policy, which
	// changed before the confirmation.
	a := arms.add(Contact{Name: "Cid", Email: "cid@example.com"})
	b := arms.add(Contact{Name: "Dee", Email: "dee@example.com"})
	arms.policies = []Policy{policy("p2", "Night", contactRcv(a), contactRcv(b))}
	m = confirmRE.FindStringSubmatch(say(r, "boss", "/contact delete "+a).Text)
	arms.policies = []Policy{policy("p2", "Night", contactRcv(a))}
	if rep := say(r, "boss", "/confirm "+m[1]); rep.Outcome != string(EINVALID) || !strings.Contains(rep.Text, "Night") || arms.called("delete") != 1 {
		t.Fatalf("confirm after the policy changed: %s %s (deletes %d)", rep.Outcome, rep.Text, arms.called("delete"))
	}
}

// When the policies cannot be read, a delete is refused (it might silence
// an alert), and force=true goes ahead saying it did not check.
func TestDeleteWhenPoliciesUnreadable(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	id := arms.add(Contact{Name: "Ann", Email: "ann@example.com"})
	arms.policyErr = &armsFault{fault: FaultForbidden, code: "Forbidden.RAM"}
	if rep := say(r, "boss", "/contact delete "+id); rep.Outcome == "ok" || !strings.Contains(rep.Text, "force=true") {
		t.Fatalf("unreadable policies: %s %s", rep.Outcome, rep.Text)
	}
	rep := say(r, "boss", "/contact delete "+id+" force=true")
	if !confirmRE.MatchString(rep.Text) || !strings.Contains(rep.Text, "without checking") {
		t.Fatalf("forced with unreadable policies: %s", rep.Text)
	}
}

// Removing the last member of a group that is a policy's only receiver is
// a delete of that receiver too.
func TestGroupRemoveOfTheLastMember(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	id := arms.add(Contact{Name: "Ann", Email: "ann@example.com"})
	g := arms.addGroup("Oncall", id)
	arms.policies = []Policy{policy("p1", "Pager", groupRcv(g))}
	if rep := say(r, "boss", "/group remove "+g+" "+id); rep.Outcome != string(EINVALID) || !strings.Contains(rep.Text, "Pager") {
		t.Fatalf("remove of the last member: %s %s", rep.Outcome, rep.Text)
	}
	if gr, _ := arms.group(g); len(gr.ContactIDs) != 1 {
		t.Fatal("the member was removed")
	}
	if rep := say(r, "boss", "/group remove "+g+" "+id+" force=true"); rep.Outcome != "ok" || !slices.Equal(rep.Policies, []string{"Pager (p1) [silenced]"}) {
		t.Fatalf("forced: %s %v %s", rep.Outcome, rep.Policies, rep.Text)
	}
}

// /contact where lists the policies that reach a contact, directly and
// through its groups, with the receivers the bot does not manage.
func TestContactWhere(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	id := arms.add(Contact{Name: "Ann", Email: "ann@example.com"})
	g := arms.addGroup("Oncall", id)
	off := policy("p3", "Old", contactRcv(id))
	off.Enabled = false
	arms.policies = []Policy{
		policy("p1", "Direct", contactRcv(id), Receiver{Kind: ReceiverOther, ID: "4", Type: "CONTACT_SCHEDULE"}),
		policy("p2", "ViaGroup", groupRcv(g)),
		off,
		policy("p4", "Elsewhere", contactRcv("999")),
	}
	rep := say(r, "boss", "/contact where "+id)
	for _, want := range []string{"Direct", "directly", "CONTACT_SCHEDULE ×1", "ViaGroup", "through group Oncall", "Old", "disabled"} {
		if !strings.Contains(rep.Text, want) {
			t.Errorf("missing %q:\n%s", want, rep.Text)
		}
	}
	if strings.Contains(rep.Text, "Elsewhere") {
		t.Errorf("lists a policy that does not reach it:\n%s", rep.Text)
	}
}

// A robot's signing secret is taken only in a one-to-one chat, reaches
// ARMS, and shows nowhere: not in the reply, the audit arguments, or a
// message's stored text.
func TestRobotSecret(t *testing.T) {
	const secret = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	const hook = "https://oapi.dingtalk.com/robot/send?access_token=tok1234567890"
	text := "/robot add name=Ops webhook=" + hook + " secret=" + secret
	r, arms, _ := testRunnerOf(t, alertManagement, nil)

	group := say(r, "boss", text)
	if group.Outcome != string(EINVALID) || arms.called("create robot") != 0 || !strings.Contains(group.Text, "one-to-one") {
		t.Fatalf("in a group: %s %s (creates %d)", group.Outcome, group.Text, arms.called("create robot"))
	}
	private := r.Handle(context.Background(), Message{ID: "p", SenderID: "boss", Private: true, ConversationID: "cid-dm", Text: text}, &fakeJournal{})
	if private.Outcome != "ok" || arms.called("create robot") != 1 {
		t.Fatalf("in a one-to-one chat: %s %s", private.Outcome, private.Text)
	}
	created := arms.robots[0]
	if !created.Signed || created.Webhook != hook {
		t.Errorf("created %+v", created)
	}
	for what, s := range map[string]string{"group reply": group.Text, "reply": private.Text, "audit": private.Args, "group audit": group.Args,
		"stored text": RedactSecrets(text)} {
		if strings.Contains(s, secret) || strings.Contains(s, secret[3:20]) {
			t.Errorf("the secret shows in the %s: %s", what, s)
		}
		// The stored text keeps the robot's address: another process
		// finishing the message needs it.
		if what != "stored text" && strings.Contains(s, "tok1234567890") {
			t.Errorf("the access token shows in the %s: %s", what, s)
		}
	}
	// Taken over with its secret withheld, before anything was created: it
	// asks to be sent again rather than create an unsigned robot.
	j := &fakeJournal{}
	again := r.Handle(context.Background(), Message{ID: "p2", SenderID: "boss", Private: true, ConversationID: "cid-dm",
		Text: RedactSecrets("/robot add name=Ops2 webhook=https://oapi.dingtalk.com/robot/send?access_token=other secret=" + secret)}, j)
	if again.Outcome != string(EINVALID) || !strings.Contains(again.Text, "again") || arms.called("create robot") != 1 {
		t.Fatalf("with the secret withheld: %s %s", again.Outcome, again.Text)
	}
}

// In the legacy family there are no IM robots: the command says which
// family it needs.
func TestRobotNeedsAlertManagement(t *testing.T) {
	r, _, _ := testRunner(t, nil)
	rep := say(r, "boss", "/robot list")
	if rep.Outcome != string(EINVALID) || !strings.Contains(rep.Text, "ARMS_CONTACT_API=alert-management") {
		t.Fatalf("legacy /robot list: %s %s", rep.Outcome, rep.Text)
	}
}
