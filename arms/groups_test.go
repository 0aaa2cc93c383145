package arms_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/commands"
)

// The four contact-group operations through the real SDK, against the
// stand-in's documented shapes.
func TestContactGroups(t *testing.T) {
	srv := armstest.NewServer()
	defer srv.Close()
	c := newClient(t, srv.URL, nil)
	ctx := t.Context()
	a := itoa(srv.AddContact(armstest.Contact{ContactName: "A", Email: "a@example.com"}))
	b := itoa(srv.AddContact(armstest.Contact{ContactName: "B", Phone: "13811112222"}))

	rc, err := c.CreateGroup(ctx, "SRE on call", []string{a, b})
	if err != nil || rc.GroupID == "" || rc.RequestID == "" {
		t.Fatalf("create: %+v, %v", rc, err)
	}
	stored := srv.Groups()
	if len(stored) != 1 || itoa(stored[0].ContactGroupID) != rc.GroupID || len(stored[0].Contacts) != 2 {
		t.Fatalf("stand-in holds %+v", stored)
	}

	found, err := c.SearchGroups(ctx, commands.GroupQuery{ContactID: b, Detail: true})
	if err != nil || len(found.Groups) != 1 {
		t.Fatalf("search by member: %+v, %v", found, err)
	}
	g := found.Groups[0]
	if g.ID != rc.GroupID || g.Name != "SRE on call" || !slices.Equal(g.ContactIDs, []string{a, b}) || g.Members[1].Phone != "13811112222" {
		t.Errorf("found %+v", g)
	}
	if bare, _ := c.SearchGroups(ctx, commands.GroupQuery{IDs: []string{rc.GroupID}}); len(bare.Groups) != 1 || bare.Groups[0].ContactIDs != nil {
		t.Errorf("without Detail: %+v", bare)
	}

	g.Name, g.ContactIDs = "SRE", []string{b}
	if _, err := c.UpdateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	if stored = srv.Groups(); stored[0].ContactGroupName != "SRE" || len(stored[0].Contacts) != 1 || itoa(stored[0].Contacts[0].ContactID) != b {
		t.Errorf("after the update: %+v", stored)
	}
	// A member that does not exist is refused by ARMS, not silently dropped.
	g.ContactIDs = []string{"999999"}
	if _, err := c.UpdateGroup(ctx, g); err == nil {
		t.Error("an update naming a missing contact succeeded")
	}

	if _, err := c.DeleteGroup(ctx, rc.GroupID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteGroup(ctx, rc.GroupID); !errors.Is(err, commands.ErrNotFound) {
		t.Errorf("deleting it again: %v, want ErrNotFound", err)
	}
	if n := srv.Rejected(); n != 0 {
		t.Errorf("%d requests failed the stand-in's signature checks", n)
	}
}
