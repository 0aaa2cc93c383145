package arms_test

import (
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/armsbot/armsbot/arms"
	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/commands"
)

// The Alert Management family through the real SDK against the stand-in:
// the person's DingTalk id goes with the contact (through the SDK's
// CommonRequest), a phone is unverified until its owner opens the link and
// again once it changes, links asked for too often are refused, and
// groups' members come comma-separated and with their verification.
func TestAlertManagementFamily(t *testing.T) {
	srv := armstest.NewServer()
	defer srv.Close()
	c := newClient(t, srv.URL, func(cfg *arms.Config) { cfg.Family = arms.AlertManagement })
	ctx := t.Context()
	if tr := c.Traits(); tr.Family != "alert-management" || !tr.Unique || tr.Robots || !tr.Verification || !tr.Fallback {
		t.Errorf("traits %+v", tr)
	}

	rc, err := c.CreateContact(ctx, commands.Contact{Name: "Ann", Phone: "13811112222", Email: "ann@example.com", CorpUserID: "ann-1", Fallback: "sms"})
	if err != nil || rc.ContactID == "" || rc.RequestID == "" {
		t.Fatalf("create: %+v, %v", rc, err)
	}
	id, _ := strconv.ParseInt(rc.ContactID, 10, 64)
	stored := contactOf(t, srv, id)
	if stored.CorpUserID != "ann-1" || stored.ReissueSendNotice != 2 || stored.IsVerify {
		t.Errorf("stored %+v: want CorpUserId ann-1, ReissueSendNotice 2, unverified", stored)
	}
	if calls := srv.Calls("CreateOrUpdateContact"); len(calls) != 1 || calls[0].Params.Get("CorpUserId") != "ann-1" {
		t.Errorf("CreateOrUpdateContact calls %+v", calls)
	}
	// ARMS keeps phones and emails unique in this family.
	if _, err := c.CreateContact(ctx, commands.Contact{Name: "Bob", Email: "ANN@example.com"}); err == nil {
		t.Error("a second contact with Ann's email was created")
	}

	show := func() commands.Contact {
		t.Helper()
		page, err := c.SearchContacts(ctx, commands.ContactQuery{IDs: []string{rc.ContactID}, PageSize: 10})
		if err != nil || len(page.Contacts) != 1 {
			t.Fatalf("search: %+v, %v", page, err)
		}
		return page.Contacts[0]
	}
	if got := show(); got.Verified != commands.PhoneUnverified || got.Fallback != "sms" || got.Name != "Ann" {
		t.Errorf("found %+v: want unverified, fallback sms", got)
	}
	if _, err := c.SendVerification(ctx, rc.ContactID, "13811112222"); err != nil {
		t.Fatalf("send verification: %v", err)
	}
	_, err = c.SendVerification(ctx, rc.ContactID, "13811112222")
	var ae commands.ARMSError
	if !errors.As(err, &ae) || ae.Fault() != commands.FaultTooFrequent {
		t.Errorf("a second link at once: %v, want FaultTooFrequent", err)
	}
	if links := srv.VerifyLinks(); len(links) != 1 || links[0].ContactID != id || links[0].Phone != "13811112222" {
		t.Errorf("links %+v", links)
	}
	srv.MarkVerified(id)
	if got := show(); got.Verified != commands.PhoneVerified {
		t.Errorf("after the owner opened the link: %v", got.Verified)
	}
	ct := show()
	ct.Phone = "13911112222"
	if _, err := c.UpdateContact(ctx, ct); err != nil {
		t.Fatalf("update: %v", err)
	}
	if got := show(); got.Verified != commands.PhoneUnverified || got.Phone != "13911112222" || got.Email != "ann@example.com" {
		t.Errorf("after a new phone: %+v", got)
	}

	other, err := c.CreateContact(ctx, commands.Contact{Name: "Cy", Email: "cy@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.CreateGroup(ctx, "SRE", []string{rc.ContactID, other.ContactID})
	if err != nil || g.GroupID == "" {
		t.Fatalf("group create: %+v, %v", g, err)
	}
	if ids := srv.Calls("CreateOrUpdateContactGroup")[0].Params.Get("ContactIds"); ids != rc.ContactID+","+other.ContactID {
		t.Errorf("ContactIds sent as %q, want comma-separated", ids)
	}
	if _, err := c.UpdateGroup(ctx, commands.Group{ID: g.GroupID, Name: "SRE", ContactIDs: []string{rc.ContactID}}); err != nil {
		t.Fatalf("group update: %v", err)
	}
	list, err := c.SearchGroups(ctx, commands.GroupQuery{IDs: []string{g.GroupID}, Detail: true})
	if err != nil || len(list.Groups) != 1 || !slices.Equal(list.Groups[0].ContactIDs, []string{rc.ContactID}) ||
		list.Groups[0].Members[0].Verified != commands.PhoneUnverified {
		t.Fatalf("groups %+v, %v", list, err)
	}
	mine, err := c.SearchGroups(ctx, commands.GroupQuery{ContactID: other.ContactID})
	if err != nil || len(mine.Groups) != 0 {
		t.Errorf("groups of a contact in none: %+v, %v", mine, err)
	}
	if _, err := c.DeleteGroup(ctx, g.GroupID); err != nil {
		t.Fatalf("group delete: %v", err)
	}
	if _, err := c.DeleteGroup(ctx, g.GroupID); !errors.Is(err, commands.ErrNotFound) {
		t.Errorf("deleting it again: %v", err)
	}
	if _, err := c.DeleteContact(ctx, rc.ContactID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.DeleteContact(ctx, rc.ContactID); !errors.Is(err, commands.ErrNotFound) {
		t.Errorf("deleting it again: %v", err)
	}
}

// A dry run shows what each family would send.
func TestPlansOfBothFamilies(t *testing.T) {
	ct := commands.Contact{ID: "101", Name: "Ann", Phone: "13811112222", CorpUserID: "ann-1", Fallback: "call"}
	for _, tc := range []struct {
		family arms.Family
		action string
		params map[string]string
	}{
		{arms.Legacy, "UpdateAlertContact", map[string]string{"ContactId": "101", "ContactName": "Ann", "PhoneNum": "13811112222"}},
		{arms.AlertManagement, "CreateOrUpdateContact", map[string]string{"ContactId": "101", "ContactName": "Ann", "Phone": "13811112222",
			"CorpUserId": "ann-1", "ReissueSendNotice": "1"}},
	} {
		c := newClient(t, closedEndpoint(t), func(cfg *arms.Config) { cfg.Family = tc.family })
		req, err := c.Plan(commands.Write{Action: "update", Contact: ct})
		if err != nil || req.Action != tc.action {
			t.Fatalf("%s: %+v, %v", tc.family, req, err)
		}
		got := map[string]string{}
		for _, p := range req.Params {
			got[p.Name] = p.Value
			if p.Name == "PhoneNum" || p.Name == "Phone" {
				if p.Personal != "phone" {
					t.Errorf("%s: %s is not marked personal", tc.family, p.Name)
				}
			}
		}
		for k, v := range tc.params {
			if got[k] != v {
				t.Errorf("%s: %s=%q, want %q (all: %v)", tc.family, k, got[k], v, got)
			}
		}
	}
}

func contactOf(t *testing.T, srv *armstest.Server, id int64) armstest.Contact {
	t.Helper()
	for _, c := range srv.Contacts() {
		if c.ContactID == id {
			return c
		}
	}
	t.Fatalf("no contact %d", id)
	return armstest.Contact{}
}
