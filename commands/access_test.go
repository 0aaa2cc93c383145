package commands

import (
	"context"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/commands/catalog"
)

// accessMatrix is who may run what, written out call by call: every scope
// a call needs (all of them). It is the expectation the runner is held to,
// kept apart from the declarations that implement it (Spec.Scope,
// Spec.Needs), so that removing any check fails TestPermissionMatrix.
var accessMatrix = []struct {
	text  string
	needs []string
	// pending is the confirmation the sender was given, for /confirm;
	// approval a request of boss's waiting for a second person.
	pending  *Pending
	approval *Approval
}{
	{text: "/help"},
	{text: "/help contact add"},
	{text: "/whoami"},
	{text: "/contact add name=Ann email=ann@example.com", needs: []string{"contact.add"}},
	{text: "/contact add name=Ann phone=13811112222 --dry-run", needs: []string{"contact.add"}},
	{text: "/contact add me", needs: []string{"contact.add.self"}},
	{text: "/contact add me name=Alias systemnoc=true", needs: []string{"contact.add.self"}},
	{text: "/contact add me email=me@example.com", needs: []string{"contact.add"}},
	{text: "/contact add me phone=13911112222", needs: []string{"contact.add"}},
	{text: "/contact add me webhook=https://oapi.dingtalk.com/robot/send?access_token=abc", needs: []string{"contact.add"}},
	{text: "/contact add @Member", needs: []string{"contact.add"}},
	{text: "/contact add me group=701", needs: []string{"contact.add.self", "group.write"}},
	{text: "/contact add name=Ann email=ann@example.com group=701", needs: []string{"contact.add", "group.write"}},
	{text: "/contact list", needs: []string{"contact.read"}},
	{text: "/contact export format=csv", needs: []string{"contact.read"}},
	{text: "/contact import\nname=Bea email=bea@example.com", needs: []string{"contact.add"}},
	{text: "/contact import\nname=Bea email=bea@example.com group=701", needs: []string{"contact.add", "group.write"}},
	{text: "/contact show 10001", needs: []string{"contact.read"}},
	{text: "/contact update 10001 name=Renamed", needs: []string{"contact.update"}},
	{text: "/contact verify 10001", needs: []string{"contact.update"}},
	{text: "/contact delete 10001", needs: []string{"contact.delete"}},
	{text: "/contact delete 10001 force=true", needs: []string{"contact.delete", "contact.force"}},
	{text: "/contact where 10001", needs: []string{"contact.read"}},
	{text: "/contact history 10001", needs: []string{"contact.read", "audit"}},
	{text: "/group list", needs: []string{"group.read"}},
	{text: "/group show 701", needs: []string{"group.read"}},
	{text: "/group create name=New", needs: []string{"group.write"}},
	{text: "/group add 701 10001", needs: []string{"group.write"}},
	{text: "/group remove 701 10001", needs: []string{"group.write"}},
	{text: "/group remove 701 10001 force=true", needs: []string{"group.write", "contact.force"}},
	{text: "/group rename 701 name=Other", needs: []string{"group.write"}},
	{text: "/group delete 701", needs: []string{"group.write"}},
	{text: "/group delete 701 force=true", needs: []string{"group.write", "contact.force"}},
	{text: "/group where 701", needs: []string{"group.read"}},
	{text: "/robot add name=Ops webhook=https://oapi.dingtalk.com/robot/send?access_token=abc", needs: []string{"robot.write"}},
	{text: "/robot list", needs: []string{"robot.read"}},
	{text: "/robot show 900", needs: []string{"robot.read"}},
	{text: "/robot delete 900", needs: []string{"robot.write"}},
	{text: "/robot delete 900 force=true", needs: []string{"robot.write", "contact.force"}},
	{text: "/perm grant member-2 contact.read", needs: []string{"perm", "contact.read"}},
	{text: "/perm revoke member-2 group.read", needs: []string{"perm", "group.read"}},
	{text: "/perm list", needs: []string{"perm"}},
	{text: "/audit", needs: []string{"audit"}},
	{text: "/confirm K7P2QX", needs: []string{"contact.delete"}, pending: &Pending{Action: "delete", ContactID: "10001", Name: "Ann"}},
	{text: "/confirm K7P2QX", needs: []string{"group.write"}, pending: &Pending{Action: "group delete", GroupID: "701", Name: "Ops"}},
	{text: "/confirm K7P2QX", needs: []string{"robot.write"}, pending: &Pending{Action: "robot delete", RobotID: "900", Name: "Ops"}},
	{text: "/confirm K7P2QX", needs: []string{"contact.delete", "contact.force"}, pending: &Pending{Action: "delete", ContactID: "10001", Name: "Ann", Force: true}},
	{text: "/cancel K7P2QX", pending: &Pending{Action: "delete", ContactID: "10001", Name: "Ann"}},
	{text: "/confirm K7P2QX", needs: []string{"contact.add"}, pending: &Pending{Action: "import", Name: "1", Rows: []string{"name=Bea email=bea@example.com"}}},
	{text: "/confirm K7P2QX", needs: []string{"contact.add", "group.write"}, pending: &Pending{Action: "import", Name: "1", Rows: []string{"name=Bea email=bea@example.com group=701"}}},
	{text: "/approve K7P2QX", needs: []string{"approve", "group.write"},
		approval: &Approval{Command: "group delete", Scopes: []string{"group.write"}, Pending: &Pending{Action: "group delete", GroupID: "701", Name: "Ops"}}},
	{text: "/approve K7P2QX", needs: []string{"approve", "contact.delete", "contact.force"},
		approval: &Approval{Command: "contact delete", Scopes: []string{"contact.delete", "contact.force"}, Pending: &Pending{Action: "delete", ContactID: "10001", Name: "Ann", Force: true}}},
	{text: "/approve K7P2QX", needs: []string{"approve", "contact.add"},
		approval: &Approval{Command: "contact add", Scopes: []string{"contact.add"}, Text: "/contact add name=Bea email=bea@example.com systemnoc=true"}},
	{text: "/approve K7P2QX", needs: []string{"approve", "contact.add", "group.write"},
		approval: &Approval{Command: "contact add", Scopes: []string{"contact.add", "group.write"}, Text: "/contact add name=Bea email=bea@example.com group=701"}},
	{text: "/reject K7P2QX", needs: []string{"approve", "group.write"},
		approval: &Approval{Command: "group delete", Scopes: []string{"group.write"}, Pending: &Pending{Action: "group delete", GroupID: "701", Name: "Ops"}}},
}

// TestPermissionMatrix runs every call of accessMatrix as senders holding
// one scope each, exactly the scopes it needs, and everything but what
// covers one of them: it is refused exactly when a needed scope is not
// covered.
func TestPermissionMatrix(t *testing.T) {
	for _, row := range accessMatrix {
		holders := [][]string{row.needs, {"admin"}}
		for _, s := range Scopes {
			holders = append(holders, []string{s})
		}
		for _, n := range row.needs {
			var rest []string
			for _, s := range Scopes {
				if !Covers([]string{s}, n) {
					rest = append(rest, s)
				}
			}
			holders = append(holders, rest)
		}
		for _, held := range holders {
			allowed := true
			for _, n := range row.needs {
				allowed = allowed && Covers(held, n)
			}
			rep := runFromWith(t, "member", held, row.text, row.pending, row.approval)
			if denied := rep.Outcome == string(EFORBIDDEN); denied == allowed {
				t.Errorf("%s, holding %v: outcome %q, want allowed=%v:\n%s", row.text, held, rep.Outcome, allowed, rep.Text)
			}
		}
		// Nobody DingTalk does not identify holds anything.
		if rep := runFromWith(t, "", nil, row.text, row.pending, row.approval); (rep.Outcome == string(EFORBIDDEN)) != (len(row.needs) > 0) {
			t.Errorf("%s, anonymous: outcome %q:\n%s", row.text, rep.Outcome, rep.Text)
		}
	}
}

// Every command is in the matrix, and every need of every command is
// exercised by a row that is refused without it.
func TestPermissionMatrixCoversEveryCommand(t *testing.T) {
	for _, s := range Commands() {
		found := false
		for _, row := range accessMatrix {
			if c, err := Parse(Commands(), row.text); err == nil && c.Spec.Name() == s.Name() {
				found = true
			}
		}
		if !found {
			t.Errorf("/%s has no row in accessMatrix: say who may run it", s.Name())
		}
	}
}

// runAs handles text from "member" holding held, against a world with
// contact 10001 in group 701, and member-2 holding group.read.
func runAs(t *testing.T, held []string, text string, pending *Pending) Reply {
	t.Helper()
	return runFrom(t, "member", held, text, pending)
}

func runFrom(t *testing.T, sender string, held []string, text string, pending *Pending) Reply {
	t.Helper()
	return runFromWith(t, sender, held, text, pending, nil)
}

func runFromWith(t *testing.T, sender string, held []string, text string, pending *Pending, approval *Approval) Reply {
	t.Helper()
	family := Traits{}
	if strings.HasPrefix(text, "/robot") {
		family = alertManagement
	}
	r, arms, state := testRunnerOf(t, family, nil)
	arms.robots = []Robot{{ID: "900", Name: "Ops", Webhook: "https://oapi.dingtalk.com/robot/send?access_token=old"}}
	id := arms.add(Contact{Name: "Ann", Email: "ann@example.com"})
	arms.groups = append(arms.groups, Group{ID: "701", Name: "Ops", ContactIDs: []string{id}})
	state.scopes = map[string][]string{"member-2": {"group.read"}}
	state.scopes[sender] = held
	dir := r.directory.(*fakeDirectory)
	dir.people = map[string]Person{
		"member":   {Name: "Member", Mobile: "13700001111", Email: "member@example.com"},
		"member-3": {Name: "Member", Mobile: "13700003333"},
	}
	if pending != nil {
		if ok, _ := state.Propose(context.Background(), sender, "K7P2QX", *pending, ConfirmTTL); !ok {
			t.Fatal("propose")
		}
	}
	if approval != nil {
		a := *approval
		a.Code, a.Requester, a.Expires, a.Rule = "K7P2QX", "boss", time.Now().Add(ApprovalTTL), a.Command
		if ok, _ := state.Request(context.Background(), a); !ok {
			t.Fatal("request")
		}
	}
	mentions := []string(nil)
	if strings.Contains(text, "@Member") {
		mentions = []string{"member-3"}
	}
	return r.Handle(context.Background(), Message{ID: "m", SenderID: sender, SenderNick: "M", ConversationID: "cid-ops",
		Text: text, Mentions: mentions}, &fakeJournal{})
}

var update = flag.Bool("update", false, "rewrite docs/permissions.md's permission table from the commands' declarations")

// The documented permission table is rendered from the declarations the
// runner checks; `go test ./commands -run PermissionTable -update`
// rewrites it.
func TestDocumentedPermissionTable(t *testing.T) {
	const doc = "../docs/permissions.md"
	const begin, end = "<!-- permission table: generated by go test ./commands -run PermissionTable -update -->\n", "<!-- end of permission table -->"
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers of the permission table:\n%s%s", doc, begin, end)
	}
	want := AccessTable(Commands(), catalog.EN)
	if got := readme[i+len(begin) : j]; got != want {
		if !*update {
			t.Fatalf("%s's permission table is out of date; run go test ./commands -run PermissionTable -update. Want:\n%s", doc, want)
		}
		if err := os.WriteFile(doc, []byte(readme[:i+len(begin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// contact.add.self adds the sender alone, as the directory knows them: a
// typed channel or group creates nothing and names the scope it needs.
func TestAddSelfCreatesOnlyTheSenderFromTheDirectory(t *testing.T) {
	tests := []struct {
		text, want string
		ok         bool
	}{
		{"/contact add me", "Created alert contact **Member**", true},
		{"/contact add me name=Alias systemnoc=true", "Created alert contact **Alias**", true},
		{"/contact add me email=attacker@example.com", "needs the permission contact.add", false},
		{"/contact add me webhook=https://oapi.dingtalk.com/robot/send?access_token=abc", "needs the permission contact.add", false},
		{"/contact add me phone=13911112222", "needs the permission contact.add", false},
		{"/contact add me group=701", "needs the permission group.write", false},
		{"/contact add @Member", "needs the permission contact.add", false},
		{"/contact add name=Other email=other@example.com", "needs the permission contact.add", false},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			rep := runAs(t, []string{"contact.add.self"}, tc.text, nil)
			contains(t, "reply", rep.Text, tc.want)
			if (rep.Outcome == "ok") != tc.ok {
				t.Errorf("outcome %q", rep.Outcome)
			}
		})
	}
	// What a self add creates is the directory's.
	r, arms, state := testRunner(t, nil)
	state.scopes = map[string][]string{"member": {"contact.add.self"}}
	r.directory.(*fakeDirectory).people = map[string]Person{"member": {Name: "Member", Mobile: "13700001111", Email: "member@example.com"}}
	say(r, "member", "/contact add me")
	if want := []Contact{{ID: arms.contacts[0].ID, Name: "Member", Phone: "13700001111", Email: "member@example.com", CorpUserID: "member"}}; !slices.Equal(arms.contacts, want) {
		t.Errorf("ARMS holds %+v, want %+v", arms.contacts, want)
	}
}
