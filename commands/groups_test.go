package commands

import (
	"slices"
	"strings"
	"testing"
)

// A message taken over after its earlier owner wrote: what was written is
// found and finished, never done twice.
func TestGroupWritesResumeAfterATakeOver(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	a := arms.add(Contact{Name: "A", Email: "a@example.com"})
	gid := arms.addGroup("SRE")

	// The earlier owner created the contact and was adding it to the group.
	created := Contact{ID: a, Name: "A", Email: "a@example.com"}
	j := &fakeJournal{prior: &Write{Action: "group update", Group: Group{ID: gid, Name: "SRE", ContactIDs: []string{a}}, Contact: created}}
	rep := sayWith(r, j, "boss", "/contact add name=A email=a@example.com group="+gid)
	if rep.Outcome != "ok" || rep.ContactID != a || arms.called("create") != 0 {
		t.Fatalf("resumed add: %+v after %d creates", rep, arms.called("create"))
	}
	if g, _ := arms.group(gid); !slices.Equal(g.ContactIDs, []string{a}) {
		t.Errorf("group holds %v, want %s once", g.ContactIDs, a)
	}
	if !slices.Contains(j.held, groupKey(gid)) {
		t.Errorf("the add held %v, not the group's lock", j.held)
	}

	// The earlier owner created the group: it is the result, not "exists".
	j = &fakeJournal{prior: &Write{Action: "group create", Group: Group{Name: "SRE"}}}
	rep = sayWith(r, j, "boss", "/group create name=SRE")
	if rep.Outcome != "ok" || rep.GroupID != gid || arms.called("group create") != 0 || !strings.Contains(rep.Text, "ContactGroupId: **"+gid) {
		t.Errorf("resumed group create: %+v", rep)
	}

	// The earlier owner took the code and was deleting the group.
	j = &fakeJournal{prior: &Write{Action: "group delete", Group: Group{ID: gid, Name: "SRE"}}}
	_, _ = arms.DeleteGroup(t.Context(), gid) // it did delete
	if rep = sayWith(r, j, "boss", "/confirm ABCDEF"); rep.Outcome != "ok" || !strings.Contains(rep.Text, "Deleted contact group") {
		t.Errorf("resumed group delete: %+v", rep)
	}
}

// Every membership change holds the group's lock from its read to its
// write, and writes the complete list.
func TestMembershipChangesHoldTheGroupsLock(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	a, b := arms.add(Contact{Name: "A", Email: "a@example.com"}), arms.add(Contact{Name: "B", Email: "b@example.com"})
	gid := arms.addGroup("SRE", a)
	for _, text := range []string{"/group add " + gid + " " + b, "/group remove " + gid + " " + a, "/group rename " + gid + " name=Ops"} {
		j := &fakeJournal{}
		rep := sayWith(r, j, "boss", text)
		if rep.Outcome != "ok" || !slices.Contains(j.held, groupKey(gid)) || len(j.writes) != 1 || j.writes[0].Action != "group update" {
			t.Errorf("%s: %+v, held %v, wrote %+v", text, rep, j.held, j.writes)
		}
	}
	if g, _ := arms.group(gid); g.Name != "Ops" || !slices.Equal(g.ContactIDs, []string{b}) {
		t.Errorf("group %+v", g)
	}
}
