package commands

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

func TestAddCreatesOneContactAndMasksTheGroupReply(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	rep := say(r, "boss", "/contact add name=JohnDoe email=someone@example.com phone=13811112222 systemnoc=true")
	if rep.Outcome != "ok" || rep.ContactID == "" || rep.Command != "contact add" {
		t.Fatalf("reply %+v", rep)
	}
	contains(t, "reply", rep.Text, "ContactId: **"+rep.ContactID+"**", "138∗∗∗∗2222", "so∗∗∗@example.com", "RequestId: rid-create")
	if strings.Contains(rep.Text, "13811112222") || strings.Contains(rep.Text, "someone@") {
		t.Errorf("a group reply shows personal data:\n%s", rep.Text)
	}
	if got := arms.contacts; len(got) != 1 || got[0] != (Contact{ID: rep.ContactID, Name: "JohnDoe", Email: "someone@example.com", Phone: "13811112222", SystemNoc: true}) {
		t.Errorf("ARMS holds %+v", got)
	}
	// The audit trail gets the arguments masked too.
	if rep.Args != "name=JohnDoe phone=138****2222 email=so***@example.com systemnoc=true" {
		t.Errorf("audit args %q", rep.Args)
	}
}

func TestAddRefusesAnExistingEmailOrPhoneExactly(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	id := arms.add(Contact{Name: "First", Email: "same@example.com", Phone: "13811112222"})
	for _, text := range []string{
		"/contact add name=Second email=SAME@example.com",
		"/contact add name=Second phone=+8613811112222",
	} {
		rep := say(r, "boss", text)
		if rep.Outcome != string(ECONFLICT) {
			t.Errorf("%q: outcome %q, want exists", text, rep.Outcome)
		}
		contains(t, text, rep.Text, "ContactId "+id+" (First)", "/contact update "+id)
	}
	// The search matches partially; a different address is a new contact.
	if rep := say(r, "boss", "/contact add name=Third email=me@example.com"); rep.Outcome != "ok" {
		t.Errorf("a partial match was taken for the same contact: %+v", rep)
	}
	// ARMS refused the two, the bot explained them; one contact was added.
	if n := len(arms.contacts); n != 2 {
		t.Errorf("ARMS holds %d contacts, want 2", n)
	}
}

// Where ARMS documents that a phone or email belongs to one contact (Alert
// Management), an add that nothing stands in the way of is one ARMS call,
// the create, and a refused one is looked into. Where it does not (the
// legacy family), the add looks first, under the values' locks. A
// robot-only contact, which nothing keeps unique, is searched for first.
func TestAddIsOneARMSCallWhereARMSKeepsContactsUnique(t *testing.T) {
	for _, tc := range []struct {
		family                     Traits
		creates, searches          int // of a first add
		refusedCreates, refusedMin int // of a second add of the same email
	}{
		{alertManagement, 1, 0, 2, 1},
		{Traits{}, 1, 2, 1, 3},
	} {
		t.Run(tc.family.Family, func(t *testing.T) {
			r, arms, _ := testRunnerOf(t, tc.family, nil)
			if rep := say(r, "boss", "/contact add name=One email=one@example.com phone=13811112222"); rep.Outcome != "ok" {
				t.Fatalf("%+v", rep)
			}
			if c, s := arms.called("create"), arms.called("search"); c != tc.creates || s != tc.searches {
				t.Errorf("an add made %d creates and %d searches, want %d and %d", c, s, tc.creates, tc.searches)
			}
			rep := say(r, "boss", "/contact add name=Two email=ONE@example.com")
			if c, s := arms.called("create"), arms.called("search"); c != tc.refusedCreates || s < tc.refusedMin {
				t.Errorf("a second add of the email made %d creates and %d searches in all", c, s)
			}
			contains(t, "the second add", rep.Text, "ContactId "+arms.contacts[0].ID)
			if arms.Traits().Robots {
				before := arms.called("search")
				say(r, "boss", "/contact add name=Robot webhook=https://oapi.dingtalk.com/robot/send?access_token=abc")
				if arms.called("search") == before {
					t.Error("a robot-only add was not searched for first")
				}
			}
		})
	}
}

// A create whose answer was lost is looked for before it is sent again:
// one contact, whatever happened to the answer.
func TestCreateWithAnUnknownOutcome(t *testing.T) {
	lost := &armsFault{fault: FaultNoAnswer, unknown: true}
	tests := []struct {
		name      string
		outcomes  []bool // per create: committed before the failure
		failures  int    // how many creates fail
		contacts  int
		creates   int
		wantOK    bool
		wantInRep string
	}{
		{"committed, answer lost: found, not created again", []bool{true}, 1, 1, 1, true, "response from ARMS was lost"},
		{"not committed: sent once more", []bool{false}, 1, 1, 2, true, "Created alert contact"},
		{"unknown twice: the sender is told to check", []bool{false, false}, 2, 0, 2, false, "outcome is unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, arms, _ := testRunner(t, nil)
			n := 0
			arms.createErr = func(Contact) (bool, error) {
				if n >= tc.failures {
					return false, nil
				}
				n++
				return tc.outcomes[n-1], lost
			}
			rep := say(r, "boss", "/contact add name=Lost email=lost@example.com")
			if (rep.Outcome == "ok") != tc.wantOK {
				t.Fatalf("outcome %q: %s", rep.Outcome, rep.Text)
			}
			contains(t, "reply", rep.Text, tc.wantInRep)
			if len(arms.contacts) != tc.contacts || arms.called("create") != tc.creates {
				t.Errorf("%d contacts after %d creates, want %d after %d", len(arms.contacts), arms.called("create"), tc.contacts, tc.creates)
			}
		})
	}
}

// Every kind of ARMS failure becomes advice, with ARMS's code and RequestId
// and nothing raw; a state-store failure stops before ARMS is called.
func TestFailuresBecomeAdvice(t *testing.T) {
	tests := []struct {
		fault Fault
		code  string
		want  []string
	}{
		{FaultForbidden, "Forbidden.RAM", []string{"not allowed to call CreateAlertContact", "arms:CreateAlertContact", "rid-failed"}},
		{FaultThrottled, "Throttling.User", []string{"throttling", "Throttling.User", "try again"}},
		{FaultCredentials, "InvalidAccessKeyId.NotFound", []string{"credentials are not valid", "InvalidAccessKeyId.NotFound"}},
		{FaultNotActivated, "ARMSNotOpen", []string{"not activated"}},
		{FaultUnavailable, "ServiceUnavailable", []string{"temporarily unavailable", "ServiceUnavailable"}},
		{FaultInvalid, "ParameterIllegal", []string{"rejected the request: ParameterIllegal (explained by ARMS)"}},
		{FaultUnreachable, "", []string{"could not be reached (explained by ARMS); nothing was sent"}},
		{FaultOther, "Conflict.Something", []string{"returned error Conflict.Something: explained by ARMS"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.fault), func(t *testing.T) {
			r, arms, _ := testRunner(t, nil)
			arms.createErr = func(Contact) (bool, error) { return false, &armsFault{fault: tc.fault, code: tc.code} }
			rep := say(r, "boss", "/contact add name=F email=f@example.com")
			if rep.Outcome != string(EUPSTREAM) || rep.Title != "Something went wrong" || rep.RequestID != "rid-failed" {
				t.Errorf("outcome %q title %q rid %q", rep.Outcome, rep.Title, rep.RequestID)
			}
			contains(t, "reply", rep.Text, tc.want...)
		})
	}

	r, arms, state := testRunner(t, nil)
	state.scopes = map[string][]string{"member": {"contact"}}
	state.err = errRedisDown
	rep := say(r, "member", "/contact add name=F email=f@example.com")
	if rep.Outcome != string(EUNAVAILABLE) || arms.called("search")+arms.called("create") != 0 {
		t.Errorf("with the state store down: outcome %q after %v ARMS calls", rep.Outcome, arms.calls)
	}
	contains(t, "outage reply", rep.Text, "temporarily unavailable")
}

func TestPermissionsAndConversations(t *testing.T) {
	r, arms, state := testRunner(t, func(s *Settings) { s.WriteConversations = []string{"cid-ops"} })
	state.scopes = map[string][]string{"reader": {"contact.read"}, "lookalike": {"contacts"}}
	for _, sender := range []string{"stranger", "reader", "lookalike"} {
		rep := say(r, sender, "/contact add name=X email=x@example.com")
		if rep.Outcome != string(EFORBIDDEN) {
			t.Errorf("%s: outcome %q, want denied", sender, rep.Outcome)
		}
		contains(t, sender+"'s reply", rep.Text, "contact.add", "boss")
	}
	if rep := say(r, "reader", "/contact list"); rep.Outcome != "ok" {
		t.Errorf("reader cannot list: %+v", rep)
	}
	// Changes only where allowed, reads everywhere.
	elsewhere := Message{ID: "m", SenderID: "boss", ConversationID: "cid-other", Text: "/contact add name=X email=x@example.com"}
	if rep := r.Handle(t.Context(), elsewhere, &fakeJournal{}); rep.Outcome != string(EFORBIDDEN) || !strings.Contains(rep.Text, "BOT_ALLOWED_CONVERSATIONS") {
		t.Errorf("a change outside the allowed conversations: %+v", rep)
	}
	if n := arms.called("create"); n != 0 {
		t.Errorf("denied commands made %d creates", n)
	}
}

// An update reads the contact and sends every field back, changed or not:
// ARMS clears what an update leaves out.
func TestUpdateSendsTheWholeContact(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	hook := "https://oapi.dingtalk.com/robot/send?access_token=abc123"
	id := arms.add(Contact{Name: "John", Phone: "13811112222", Email: "john@example.com", Webhook: hook, SystemNoc: true})
	rep := say(r, "boss", "/contact update "+id+" phone=13999998888")
	if rep.Outcome != "ok" || len(arms.updated) != 1 {
		t.Fatalf("update: %+v, %d updates", rep, len(arms.updated))
	}
	if got, want := arms.updated[0], (Contact{ID: id, Name: "John", Phone: "13999998888", Email: "john@example.com", Webhook: hook, SystemNoc: true}); got != want {
		t.Errorf("sent %+v, want %+v", got, want)
	}
	if rep := say(r, "boss", "/contact update "+id+" phone= email= webhook="); rep.Outcome != string(EINVALID) || len(arms.updated) != 1 {
		t.Errorf("removing every channel: %+v after %d updates", rep, len(arms.updated))
	}
}

var confirmRE = regexp.MustCompile("/confirm ([0-9A-Z]+)")

// A delete waits for the same sender's confirmation, which is used once and
// checks the permission again.
func TestDeleteWaitsForTheSendersConfirmation(t *testing.T) {
	r, arms, state := testRunner(t, nil)
	state.scopes = map[string][]string{"member": {"contact"}, "other": {"contact"}}
	id := arms.add(Contact{Name: "Gone", Email: "gone@example.com"})

	rep := say(r, "member", "/contact delete "+id)
	m := confirmRE.FindStringSubmatch(rep.Text)
	if m == nil || arms.called("delete") != 0 {
		t.Fatalf("proposal %q, %d deletes", rep.Text, arms.called("delete"))
	}
	code := m[1]
	if rep := say(r, "other", "/confirm "+code); rep.Outcome != string(EINVALID) {
		t.Errorf("someone else's code: %+v", rep)
	}

	// Revoked in between: the code no longer deletes.
	if _, err := state.Revoke(t.Context(), "member", "contact"); err != nil {
		t.Fatal(err)
	}
	if rep := say(r, "member", "/confirm "+code); rep.Outcome != string(EFORBIDDEN) || arms.called("delete") != 0 {
		t.Errorf("confirm after the grant was revoked: %+v", rep)
	}

	code = confirmRE.FindStringSubmatch(say(r, "boss", "/contact delete "+id).Text)[1]
	if rep := say(r, "boss", "/confirm "+strings.ToLower(code)); rep.Outcome != "ok" || len(arms.contacts) != 0 {
		t.Errorf("confirm: %+v, %d contacts left", rep, len(arms.contacts))
	}
	if rep := say(r, "boss", "/confirm "+code); rep.Outcome != string(EINVALID) || arms.called("delete") != 1 {
		t.Errorf("a used code: %+v after %d deletes", rep, arms.called("delete"))
	}
}

// /perm grant resolves an @mention by the name the text gives, among the
// people the message mentions, as the directory names them: never whoever
// happens to be mentioned. Nobody hands out what they do not hold.
func TestGrantByMention(t *testing.T) {
	people := map[string]Person{"zs-1": {Name: "张三"}, "ls-1": {Name: "李四"}, "zs-2": {Name: "张三"}, "m-1": {Name: "Member One"}}
	tests := []struct {
		name     string
		mentions []string
		text     string
		dirErr   error
		outcome  Code
		granted  string // who holds contact.read afterwards
	}{
		{"a name with a space, quoted", []string{"m-1"}, "/perm grant \"@Member One\" contact.read", nil, "ok", "m-1"},
		{"by name among several", []string{"ls-1", "zs-1"}, "/perm grant @张三 contact.read", nil, "ok", "zs-1"},
		{"case and width do not matter", []string{"m-1"}, "/perm grant 「@member one」 contact.read", nil, "ok", "m-1"},
		{"the text names someone not mentioned", []string{"ls-1"}, "/perm grant @张三 contact.read", nil, EINVALID, ""},
		{"two mentioned share the name", []string{"zs-1", "zs-2"}, "/perm grant @张三 contact.read", nil, EINVALID, ""},
		{"nobody mentioned", nil, "/perm grant @张三 contact.read", nil, EINVALID, ""},
		{"the directory cannot say", []string{"zs-1"}, "/perm grant @张三 contact.read", dirError{permission: "qyapi_get_member"}, EINVALID, ""},
		{"an unheld scope", []string{"zs-1"}, "/perm grant @张三 contact.delete", nil, EFORBIDDEN, ""},
		{"a staff id", nil, "/perm grant ls-1 contact.read", nil, "ok", "ls-1"},
		{"markup is no staff id", nil, "/perm grant [u](http://evil.example) contact.read", nil, EINVALID, ""},
		{"an encrypted sender id is no staff id", nil, "/perm grant $:LWCP_v1:$abc contact.read", nil, EINVALID, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _, state := testRunner(t, nil)
			dir := r.directory.(*fakeDirectory)
			dir.people, dir.err = people, tc.dirErr
			state.scopes = map[string][]string{"lead": {"perm", "contact.read"}}
			rep := r.Handle(t.Context(), Message{ID: "m", SenderID: "lead", ConversationID: "cid-ops", Text: tc.text, Mentions: tc.mentions}, &fakeJournal{})
			if rep.Outcome != string(tc.outcome) {
				t.Fatalf("outcome %q, want %q: %s", rep.Outcome, tc.outcome, rep.Text)
			}
			var holders []string
			for u, sc := range state.scopes {
				if u != "lead" && slices.Contains(sc, "contact.read") {
					holders = append(holders, u)
				}
			}
			if tc.granted == "" && len(holders) > 0 || tc.granted != "" && !slices.Equal(holders, []string{tc.granted}) {
				t.Errorf("contact.read granted to %v, want %q", holders, tc.granted)
			}
		})
	}
}

// An add holds its contact's channel values from before the existence
// check until it is settled, and records the create before making it.
func TestAddSerializesAndRecordsItsIntent(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	j := &fakeJournal{}
	var seenAtCreate []Write
	arms.createErr = func(Contact) (bool, error) { seenAtCreate = j.intents(); return false, nil }
	hook := "https://oapi.dingtalk.com/robot/send?access_token=abc123"
	rep := sayWith(r, j, "boss", "/contact add name=A email=A@Example.com phone=13811112222 webhook="+hook)
	if rep.Outcome != "ok" {
		t.Fatalf("add: %+v", rep)
	}
	if want := []string{"email:a@example.com", "phone:13811112222", "webhook:" + hook}; !slices.Equal(j.held, want) {
		t.Errorf("held %v, want %v", j.held, want)
	}
	if len(seenAtCreate) != 1 || seenAtCreate[0].Action != "create" || seenAtCreate[0].Contact.Email != "A@example.com" {
		t.Errorf("at the create the journal held %+v, want the create's intent", seenAtCreate)
	}
}

// A message taken over from a process that died after creating: its own
// contact is its result, not "already exists", and nothing is created again.
func TestTakeOverReportsTheContactItCreated(t *testing.T) {
	for _, tc := range []struct {
		name string
		ct   Contact
		text string
	}{
		{"email", Contact{Name: "Kim", Email: "kim@example.com"}, "/contact add name=Kim email=kim@example.com"},
		{"phone", Contact{Name: "Kim", Phone: "13811112222"}, "/contact add name=Kim phone=13811112222"},
		{"robot only", Contact{Name: "Kim", Webhook: "https://oapi.dingtalk.com/robot/send?access_token=abc"}, "/contact add name=Kim webhook=https://oapi.dingtalk.com/robot/send?access_token=abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, arms, _ := testRunner(t, nil)
			id := arms.add(tc.ct) // the dead owner's create landed
			j := &fakeJournal{prior: &Write{Action: "create", Contact: tc.ct}}
			rep := sayWith(r, j, "boss", tc.text)
			if rep.Outcome != "ok" || rep.ContactID != id {
				t.Fatalf("reply %+v, want ok with ContactId %s", rep, id)
			}
			contains(t, "reply", rep.Text, "Created alert contact **Kim**, ContactId: **"+id+"**")
			if n := arms.called("create"); n != 0 || len(arms.contacts) != 1 {
				t.Errorf("%d creates, %d contacts; want none and one", n, len(arms.contacts))
			}
		})
	}
}

// The earlier owner's create may still be in flight: the new owner does not
// conclude "nothing was created" before it can no longer land.
func TestTakeOverWaitsForAWriteInFlight(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	ct := Contact{Name: "Late", Email: "late@example.com"}
	var waited time.Duration
	r.pause = func(_ context.Context, d time.Duration) error {
		waited = d
		arms.add(ct) // the write lands while the new owner waits
		return nil
	}
	j := &fakeJournal{prior: &Write{Action: "create", Contact: ct}, wait: 3 * time.Second}
	rep := sayWith(r, j, "boss", "/contact add name=Late email=late@example.com")
	if rep.Outcome != "ok" || arms.called("create") != 0 || len(arms.contacts) != 1 {
		t.Fatalf("reply %+v after %d creates with %d contacts", rep, arms.called("create"), len(arms.contacts))
	}
	if waited != 3*time.Second+landingMargin {
		t.Errorf("waited %s, want until the write could no longer land (%s)", waited, 3*time.Second+landingMargin)
	}

	// Nothing landed: after the wait the message creates it itself, once.
	r, arms, _ = testRunner(t, nil)
	r.pause = func(context.Context, time.Duration) error { return nil }
	j = &fakeJournal{prior: &Write{Action: "create", Contact: ct}, wait: time.Second}
	if rep := sayWith(r, j, "boss", "/contact add name=Late email=late@example.com"); rep.Outcome != "ok" || len(arms.contacts) != 1 {
		t.Errorf("nothing landed: %+v with %d contacts", rep, len(arms.contacts))
	}
}

// A message another process owns now writes nothing and is not answered.
func TestLostOwnershipStopsBeforeARMS(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	rep := sayWith(r, &fakeJournal{lost: true}, "boss", "/contact add name=A email=a@example.com")
	if rep.Outcome != string(ELOST) || arms.called("create")+arms.called("search") != 0 {
		t.Errorf("reply %+v after %v", rep, arms.calls)
	}
}

// Resumed deletes and revokes finish what the earlier owner started.
func TestResumedDeleteAndRevoke(t *testing.T) {
	r, arms, state := testRunner(t, nil)
	j := &fakeJournal{prior: &Write{Action: "delete", Contact: Contact{ID: "10999", Name: "Gone"}}}
	rep := sayWith(r, j, "boss", "/confirm ABCDEF") // the code was taken by the earlier owner
	if rep.Outcome != "ok" || arms.called("delete") != 1 {
		t.Errorf("resumed delete of a contact already gone: %+v", rep)
	}
	contains(t, "resumed delete", rep.Text, "Deleted contact **Gone**")

	state.scopes = map[string][]string{"lead": {"perm", "contact"}}
	j = &fakeJournal{prior: &Write{Action: "revoke", User: "member", Scope: "contact"}}
	rep = sayWith(r, j, "lead", "/perm revoke member contact")
	if rep.Outcome != "ok" {
		t.Errorf("resumed revoke of a scope already revoked: %+v", rep)
	}
	if rep := say(r, "lead", "/perm revoke member contact"); rep.Outcome != string(EINVALID) {
		t.Errorf("a fresh revoke of a scope not held: %+v, want invalid", rep)
	}
}

func TestRobotOnlyAddRefusesTheSameNameAndRobot(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	hook := "https://oapi.dingtalk.com/robot/send?access_token=abc"
	id := arms.add(Contact{Name: "Ops robot", Webhook: hook})
	rep := say(r, "boss", `/contact add name="Ops robot" webhook=`+hook)
	if rep.Outcome != string(ECONFLICT) {
		t.Fatalf("reply %+v, want exists", rep)
	}
	contains(t, "reply", rep.Text, "ContactId "+id)
	if rep := say(r, "boss", `/contact add name="Another robot" webhook=`+hook); rep.Outcome != "ok" {
		t.Errorf("another name on the same robot: %+v", rep)
	}
}

// After Redis lost its data, a delivery of a message sent before the loss
// may be one whose earlier delivery created the contact: a contact that is
// the add in every field, created after the message was sent, is its
// result; anything else in the way is "already exists", as ever.
func TestAddAfterTheStateWasLost(t *testing.T) {
	sent := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		existing   Contact
		mayHaveRun bool
		want       string
	}{
		{"its own earlier create", Contact{Name: "Lee", Email: "lee@example.com", Created: sent.Add(2 * time.Second)}, true, "found the contact this message had created"},
		{"a robot-only one", Contact{Name: "Lee", Webhook: "https://oapi.dingtalk.com/robot/send?access_token=lee", Created: sent.Add(time.Second)}, true, "found the contact this message had created"},
		{"created before the message was sent", Contact{Name: "Lee", Email: "lee@example.com", Created: sent.Add(-time.Hour)}, true, "already"},
		{"someone else's", Contact{Name: "Other", Email: "lee@example.com", Created: sent.Add(time.Second)}, true, "already"},
		{"the state was not lost", Contact{Name: "Lee", Email: "lee@example.com", Created: sent.Add(time.Second)}, false, "already"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, arms, _ := testRunner(t, nil)
			id := arms.add(tc.existing)
			text := "/contact add name=Lee email=lee@example.com"
			if tc.existing.Webhook != "" {
				text = "/contact add name=Lee webhook=" + tc.existing.Webhook
			}
			rep := r.Handle(t.Context(), Message{ID: "m", SenderID: "boss", ConversationID: "cid", Text: text, Sent: sent, MayHaveRun: tc.mayHaveRun}, &fakeJournal{})
			contains(t, "reply", rep.Text, tc.want, id)
			if n := len(arms.contacts); n != 1 {
				t.Errorf("%d contacts, want 1", n)
			}
		})
	}
}

// A reply's title is what DingTalk shows in its notification, so it says
// what happened: help is not "Done", a delete that waits for /confirm has
// done nothing yet, and a group's name clash is not a contact's.
func TestReplyTitlesSayWhatHappened(t *testing.T) {
	tests := []struct {
		text  func(arms *fakeARMS) string
		title string
	}{
		{func(*fakeARMS) string { return "/help" }, "Help"},
		{func(*fakeARMS) string { return "/help contact add" }, "Help"},
		{func(*fakeARMS) string { return "/contact add name=Ann email=ann@example.com" }, "Done"},
		{func(*fakeARMS) string { return "/contact list" }, "Alert contacts"},
		{func(a *fakeARMS) string {
			return "/contact show " + a.add(Contact{Name: "Ann", Email: "a@example.com"})
		}, "Alert contact"},
		{func(a *fakeARMS) string {
			return "/contact delete " + a.add(Contact{Name: "Ann", Email: "a@example.com"})
		}, "Confirmation needed"},
		{func(a *fakeARMS) string { a.addGroup("SRE"); return "/group create name=SRE" }, "Already exists"},
		{func(a *fakeARMS) string { return "/group delete " + a.addGroup("SRE") }, "Confirmation needed"},
		{func(*fakeARMS) string { return "/whoami" }, "Permissions"},
	}
	for _, tc := range tests {
		r, arms, _ := testRunner(t, nil)
		text := tc.text(arms)
		if rep := say(r, "boss", text); rep.Title != tc.title {
			t.Errorf("%s: titled %q, want %q\n%s", text, rep.Title, tc.title, rep.Text)
		}
	}
}

// An export answers in a one-to-one chat only, in a format the family
// has, for a group that exists.
func TestExportRefusals(t *testing.T) {
	tests := []struct {
		name    string
		family  Traits
		private bool
		text    string
		says    string
	}{
		{"in a group", Traits{}, false, "/contact export", "one-to-one chat"},
		{"terraform for alert-management", alertManagement, true, "/contact export format=terraform", "no resource for the alert-management contact family"},
		{"an unknown group", Traits{}, true, "/contact export group=999", "no contact group with ContactGroupId 999"},
		{"an unknown format", Traits{}, true, "/contact export format=yaml", "Format yaml is not one the bot writes"},
	}
	for _, tc := range tests {
		r, arms, _ := testRunnerOf(t, tc.family, nil)
		arms.add(Contact{Name: "Ann", Email: "ann@example.com"})
		rep := r.Handle(context.Background(), Message{ID: "m", SenderID: "boss", Private: tc.private, ConversationID: "cid", Text: tc.text}, &fakeJournal{})
		if rep.Outcome == "ok" || !strings.Contains(rep.Text, tc.says) {
			t.Errorf("%s: %+v", tc.name, rep)
		}
	}
}
