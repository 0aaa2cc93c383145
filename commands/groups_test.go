package commands

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
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

// A membership change taken over from an owner that may have written it:
// the taker waits until that write has landed or never will, reads again,
// and reports the members the message changed as changed by it, never as
// "already in" or "not in".
func TestTakenOverMembershipChangeReportsItsOwnChange(t *testing.T) {
	tests := []struct {
		name     string
		members  []string // the group as the taker finds it
		text     string
		prior    []string // the members the earlier owner's intent changed
		want     string
		writes   int
		resulted []string
	}{
		{"add landed", []string{"c1", "c3"}, "/group add G c3", []string{"c3"}, "Added c3 to group **SRE**", 0, []string{"c1", "c3"}},
		{"add not landed", []string{"c1"}, "/group add G c3", []string{"c3"}, "Added c3 to group **SRE**", 1, []string{"c1", "c3"}},
		{"remove landed", []string{"c1"}, "/group remove G c3", []string{"c3"}, "Removed c3 from group **SRE**", 0, []string{"c1"}},
		{"not ours", []string{"c1", "c3"}, "/group add G c3", nil, "Already in group SRE (G): c3.", 0, []string{"c1", "c3"}},
		{"not in, not ours", []string{"c1"}, "/group remove G c3", nil, "Not in group SRE (G): c3.", 0, []string{"c1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, arms, _ := testRunner(t, nil)
			ids := map[string]string{}
			for _, n := range []string{"c1", "c3"} {
				ids[n] = arms.add(Contact{Name: n, Email: n + "@example.com"})
			}
			real := func(s string) string {
				for n, id := range ids {
					s = strings.ReplaceAll(s, n, id)
				}
				return s
			}
			var members []string
			for _, m := range tc.members {
				members = append(members, ids[m])
			}
			gid := arms.addGroup("SRE", members...)
			var paused []time.Duration
			r.pause = func(_ context.Context, d time.Duration) error { paused = append(paused, d); return nil }
			j := &fakeJournal{wait: 3 * time.Second}
			if tc.prior != nil {
				j.prior = &Write{Action: "group update", Group: Group{ID: gid, Name: "SRE"}, Members: strings.Fields(real(strings.Join(tc.prior, " ")))}
			} else {
				j.prior = &Write{Action: "group update", Group: Group{ID: "other"}}
			}
			rep := sayWith(r, j, "boss", strings.ReplaceAll(real(tc.text), " G ", " "+gid+" "))
			want := strings.ReplaceAll(real(tc.want), "(G)", "("+gid+")")
			if rep.Outcome != "ok" || !strings.Contains(rep.Text, want) {
				t.Fatalf("reply %q: %s\nwant %q", rep.Outcome, rep.Text, want)
			}
			if n := arms.called("group update"); n != tc.writes {
				t.Errorf("%d group updates, want %d", n, tc.writes)
			}
			g, _ := arms.group(gid)
			if got := strings.Join(g.ContactIDs, " "); got != real(strings.Join(tc.resulted, " ")) {
				t.Errorf("group holds %s, want %s", got, real(strings.Join(tc.resulted, " ")))
			}
			// The read came after the earlier write could land.
			if len(paused) != 1 || paused[0] != 3*time.Second+landingMargin {
				t.Errorf("paused %v before reading, want once %v", paused, 3*time.Second+landingMargin)
			}
		})
	}
}

// Contact updates hold the contact's lock from the read to the write, and
// a taken-over one reads only once the earlier owner's write has landed.
func TestUpdateHoldsTheContactsLock(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	id := arms.add(Contact{Name: "A", Email: "a@example.com"})
	var paused []time.Duration
	r.pause = func(_ context.Context, d time.Duration) error { paused = append(paused, d); return nil }
	j := &fakeJournal{}
	if rep := sayWith(r, j, "boss", "/contact update "+id+" phone=13811112222"); rep.Outcome != "ok" {
		t.Fatalf("%+v", rep)
	}
	if !slices.Equal(j.held, []string{contactKey(id), "phone:13811112222"}) || len(paused) != 0 {
		t.Errorf("held %v, paused %v", j.held, paused)
	}
	j = &fakeJournal{prior: &Write{Action: "update", Contact: Contact{ID: id, Name: "A", Email: "a@example.com", Phone: "13811112222"}}, wait: time.Second}
	if rep := sayWith(r, j, "boss", "/contact update "+id+" phone=13811112222"); rep.Outcome != "ok" || !strings.Contains(rep.Text, "Updated contact") {
		t.Fatalf("%+v", rep)
	}
	if !slices.Equal(paused, []time.Duration{time.Second + landingMargin}) {
		t.Errorf("a taken-over update paused %v", paused)
	}
}

// Deletes hold the object's lock with their intent.
func TestDeletesHoldTheObjectsLock(t *testing.T) {
	r, arms, state := testRunner(t, nil)
	id := arms.add(Contact{Name: "A", Email: "a@example.com"})
	gid := arms.addGroup("SRE")
	for code, p := range map[string]Pending{
		"AAAA22": {Action: "delete", ContactID: id, Name: "A"},
		"BBBB33": {Action: "group delete", GroupID: gid, Name: "SRE"},
	} {
		_, _ = state.Propose(t.Context(), "boss", code, p, ConfirmTTL)
		j := &fakeJournal{}
		if rep := sayWith(r, j, "boss", "/confirm "+code); rep.Outcome != "ok" {
			t.Fatalf("%+v", rep)
		}
		want := contactKey(id)
		if p.GroupID != "" {
			want = groupKey(gid)
		}
		if !slices.Equal(j.held, []string{want}) {
			t.Errorf("%s held %v, want %s", p.Action, j.held, want)
		}
	}
}
