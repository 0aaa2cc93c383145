package arms_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/armsbot/armsbot/arms"
	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/commands"
)

// Every notification policy, over several pages, with its receivers sorted
// into the configured family's contacts and groups, robots, and the rest.
func TestNotificationPoliciesInBothFamilies(t *testing.T) {
	srv := armstest.NewServer()
	defer srv.Close()
	for i := range 230 {
		srv.AddPolicy(armstest.Policy{Name: fmt.Sprintf("filler-%d", i)})
	}
	id := srv.AddPolicy(armstest.Policy{Name: "Prod", Channels: []string{"dingTalk", "sms"}, Disabled: true, EscalationPolicyID: 3,
		Objects: []armstest.NotifyObject{
			{Type: "ARMS_CONTACT", ID: 7, Name: "legacy Ann"},
			{Type: "ARMS_CONTACT_GROUP", ID: 70, Name: "legacy group"},
			{Type: "CONTACT", ID: 8, Name: "Ann"},
			{Type: "CONTACT_GROUP", ID: 80, Name: "group"},
			{Type: "DING_ROBOT", ID: 9, Name: "robot"},
			{Type: "CONTACT_SCHEDULE", ID: 10, Name: "on call"},
		}})
	tests := []struct {
		family arms.Family
		want   []commands.ReceiverKind
	}{
		{arms.Legacy, []commands.ReceiverKind{"contact", "group", "other", "other", "other", "other"}},
		{arms.AlertManagement, []commands.ReceiverKind{"other", "other", "contact", "group", "robot", "other"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.family), func(t *testing.T) {
			c := newClient(t, srv.URL, func(cfg *arms.Config) { cfg.Family = tc.family })
			ps, err := c.NotificationPolicies(t.Context())
			if err != nil || len(ps) != 231 {
				t.Fatalf("%d policies, %v; want 231", len(ps), err)
			}
			i := slices.IndexFunc(ps, func(p commands.Policy) bool { return p.ID == fmt.Sprint(id) })
			p := ps[i]
			if p.Name != "Prod" || p.Enabled || !p.Escalates || !slices.Equal(p.Channels, []string{"dingTalk", "sms"}) {
				t.Errorf("policy %+v", p)
			}
			var kinds []commands.ReceiverKind
			for _, r := range p.Receivers {
				kinds = append(kinds, r.Kind)
			}
			if !slices.Equal(kinds, tc.want) {
				t.Errorf("receivers %v, want %v", kinds, tc.want)
			}
			if !ps[0].Enabled {
				t.Error("a policy without State disable reads as disabled")
			}
		})
	}
}

// A robot is created with its signing secret, which ARMS answers back on
// every describe and the client never passes on; the policies that name
// it come with it; a delete of a missing one is not found.
func TestIMRobots(t *testing.T) {
	srv := armstest.NewServer()
	defer srv.Close()
	c := newClient(t, srv.URL, func(cfg *arms.Config) { cfg.Family = arms.AlertManagement })
	ctx := t.Context()
	const secret = "SEC0123456789abcdef0123456789abcdef"
	rc, err := c.CreateRobot(ctx, commands.Robot{Name: "Ops", Webhook: "https://oapi.dingtalk.com/robot/send?access_token=t1",
		Secret: secret, Daily: []string{"09:30", "17:00"}})
	if err != nil || rc.RobotID == "" {
		t.Fatalf("create: %+v, %v", rc, err)
	}
	stored := srv.Robots()[0]
	if stored.DingSignKey != secret || stored.Type != "dingding" || !stored.DailyNoc || stored.DailyNocTime != "09:30,17:00" {
		t.Errorf("stored %+v", stored)
	}
	srv.AddPolicy(armstest.Policy{Name: "Pager", Objects: []armstest.NotifyObject{{Type: "DING_ROBOT", ID: stored.RobotID}}})
	rbs, err := c.SearchRobots(ctx, commands.RobotQuery{IDs: []string{rc.RobotID}})
	if err != nil || len(rbs) != 1 {
		t.Fatalf("search: %+v, %v", rbs, err)
	}
	if rb := rbs[0]; !rb.Signed || rb.Secret != "" || len(rb.Policies) != 1 || rb.Policies[0].Name != "Pager" || !slices.Equal(rb.Daily, []string{"09:30", "17:00"}) {
		t.Errorf("found %+v", rb)
	}
	if _, err := c.DeleteRobot(ctx, rc.RobotID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.DeleteRobot(ctx, rc.RobotID); !errors.Is(err, commands.ErrNotFound) {
		t.Errorf("delete of a missing robot: %v, want not found", err)
	}
}
