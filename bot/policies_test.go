package bot_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/commands"
)

// Deletes that cannot silence an alert, where a contact is used, and
// group robots whose secret shows nowhere: the whole bot against the ARMS
// stand-in's notification policies and IM robots.

var confirmLine = regexp.MustCompile(`/confirm ([0-9A-Z]+)`)

// kinds are a family's NotifyObjectTypes for contacts and groups.
func (f family) kinds() (contact, group string) {
	if f == legacy {
		return "ARMS_CONTACT", "ARMS_CONTACT_GROUP"
	}
	return "CONTACT", "CONTACT_GROUP"
}

// A contact that is the only receiver of an enabled policy is not deleted,
// unless a holder of contact.force says force=true and confirms; a policy
// that also reaches a group with members or a robot does not block.
func TestDeleteOfTheLastReceiver(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		ck, gk := f.kinds()
		id := h.addContact(armstest.Contact{ContactName: "Solo", Email: "solo@example.com"})
		h.arms.AddPolicy(armstest.Policy{Name: "Prod-critical", Channels: []string{"sms"},
			Objects: []armstest.NotifyObject{{Type: ck, ID: id64(id), Name: "Solo"}}})

		refused := h.say(adminID, "/contact delete "+id)
		contains(t, "refusal", refused.Markdown.Text, "Prod-critical", "last receiver", "force=true")
		if confirmLine.MatchString(refused.Markdown.Text) {
			t.Fatalf("a confirmation code was given: %s", refused.Markdown.Text)
		}
		for _, scope := range []string{"contact.delete", "contact.force"} {
			if err := h.store.Grant(context.Background(), "member-1", scope); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.store.Grant(context.Background(), "member-2", "contact.delete"); err != nil {
			t.Fatal(err)
		}
		contains(t, "force without the scope", h.say("member-2", "/contact delete "+id+" force=true").Markdown.Text, "contact.force")
		preview := h.say("member-1", "/contact delete "+id+" force=true").Markdown.Text
		m := confirmLine.FindStringSubmatch(preview)
		if m == nil {
			t.Fatalf("forced preview: %s", preview)
		}
		done := h.say("member-1", "/confirm "+m[1]).Markdown.Text
		contains(t, "forced delete", done, "Deleted contact", "Prod-critical")
		if _, ok := h.contact(id); ok {
			t.Error("the contact is still there")
		}
		// The entry is written once the answer is out.
		var entries []commands.AuditEntry
		waitFor(t, func() bool {
			entries, _ = h.store.Recent(context.Background(), 1, "member-1")
			return len(entries) == 1 && entries[0].Command == "confirm"
		})
		if len(entries[0].Policies) != 1 || !strings.Contains(entries[0].Policies[0], "Prod-critical") {
			t.Errorf("the audit entry does not name the policy: %+v", entries[0])
		}

		// Shared with a group that has another member, or with a robot:
		// not the last receiver.
		a := h.addContact(armstest.Contact{ContactName: "A", Email: "a@example.com"})
		b := h.addContact(armstest.Contact{ContactName: "B", Email: "b@example.com"})
		g := h.arms.AddGroup("Pair", id64(b))
		h.arms.AddPolicy(armstest.Policy{Name: "Shared", Objects: []armstest.NotifyObject{
			{Type: ck, ID: id64(a)}, {Type: gk, ID: g}}})
		c := h.addContact(armstest.Contact{ContactName: "C", Email: "c@example.com"})
		h.arms.AddPolicy(armstest.Policy{Name: "WithRobot", Objects: []armstest.NotifyObject{
			{Type: ck, ID: id64(c)}, {Type: "DING_ROBOT", ID: 5}, {Type: "CONTACT_SCHEDULE", ID: 6}}})
		for _, x := range []string{a, c} {
			if !confirmLine.MatchString(h.say(adminID, "/contact delete "+x).Markdown.Text) {
				t.Errorf("contact %s, not the last receiver, was not offered for deletion", x)
			}
		}
	})
}

// /contact where lists the policies that reach a contact directly and
// through its groups, found among several pages of policies, in the
// family's own object kinds.
func TestContactWhereAcrossPages(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		ck, gk := f.kinds()
		id := h.addContact(armstest.Contact{ContactName: "Wanda", Email: "wanda@example.com"})
		g := h.arms.AddGroup("Oncall", id64(id))
		for i := range 120 {
			h.arms.AddPolicy(armstest.Policy{Name: fmt.Sprintf("noise-%d", i)})
		}
		h.arms.AddPolicy(armstest.Policy{Name: "Direct", Objects: []armstest.NotifyObject{{Type: ck, ID: id64(id)}}})
		for i := range 110 {
			h.arms.AddPolicy(armstest.Policy{Name: fmt.Sprintf("more-noise-%d", i)})
		}
		h.arms.AddPolicy(armstest.Policy{Name: "ViaGroup", Disabled: true, Objects: []armstest.NotifyObject{{Type: gk, ID: g}}})
		other, _ := legacy.kinds()
		if f == legacy {
			other, _ = alertManagement.kinds()
		}
		h.arms.AddPolicy(armstest.Policy{Name: "OtherFamily", Objects: []armstest.NotifyObject{{Type: other, ID: id64(id)}}})
		text := h.say(adminID, "/contact where "+id).Markdown.Text
		contains(t, "where", text, "Direct", "directly", "ViaGroup", "through group Oncall", "disabled")
		lacks(t, "where", text, "OtherFamily", "noise-")
		if calls := h.arms.Calls("ListNotificationPolicies"); len(calls) < 3 {
			t.Errorf("%d ListNotificationPolicies calls for 233 policies, want every page read", len(calls))
		}
	})
}

// A robot's signing secret typed in a group chat creates nothing; in a
// one-to-one chat the robot is created with it; and it shows in no reply,
// log line, audit entry or Redis key or value.
func TestRobotSecretShowsNowhere(t *testing.T) {
	t.Parallel()
	const secret = "SECf00dfeedcafe0123456789abcdef0123456789abcdef0123456789abcdef01"
	const hook = "https://oapi.dingtalk.com/robot/send?access_token=robottoken123456"
	h := startBot(t, alertManagement.with(map[string]string{"BOT_SYNC_REPLY_BUDGET": "100ms"}))
	text := "/robot add name=SRE-room webhook=" + hook + " secret=" + secret + " daily=09:30"
	inGroup := h.say(adminID, text)
	contains(t, "group reply", inGroup.Markdown.Text, "one-to-one")
	if n := len(h.arms.Robots()); n != 0 {
		t.Fatalf("%d robots created from a group chat", n)
	}
	// While ARMS takes its time, the message is in flight: its record, with
	// the message as it arrived, is in Redis.
	h.arms.Delay("CreateOrUpdateIMRobot", 2*time.Second, 1)
	m := h.message(adminID, text)
	m.ConversationType, m.ConversationTitle = "1", ""
	if _, r := h.post(m); r.MsgType != "empty" {
		t.Fatalf("the slow create answered %q, want the reply later", r.MsgType)
	}
	inFlight := redisDump(t, h)
	waitFor(t, func() bool { return len(h.sessionReplies(m)) == 1 })
	private := reply{Markdown: dingtalk.Markdown{Text: h.sessionReplies(m)[0]}}
	contains(t, "private reply", private.Markdown.Text, "Registered group robot", "SRE-room")
	robots := h.arms.Robots()
	if len(robots) != 1 || robots[0].DingSignKey != secret || robots[0].RobotAddress != hook {
		t.Fatalf("robots %+v", robots)
	}
	id := strconv.FormatInt(robots[0].RobotID, 10)
	show := h.sayPrivately(adminID, "/robot show "+id)
	list := h.say(adminID, "/robot list")
	audit := h.say(adminID, "/audit 10")
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	entries, err := h.store.Recent(context.Background(), 50, "")
	if err != nil {
		t.Fatal(err)
	}
	var trail strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&trail, "%+v\n", e)
	}
	places := map[string]string{
		"group reply": inGroup.Markdown.Text, "private reply": private.Markdown.Text, "show": show.Markdown.Text,
		"list": list.Markdown.Text, "audit reply": audit.Markdown.Text, "logs": h.logs.String(), "audit trail": trail.String(),
		"redis": redisDump(t, h), "redis, the message in flight": inFlight,
	}
	for where, s := range places {
		if strings.Contains(s, secret) || strings.Contains(s, secret[3:24]) {
			t.Errorf("the secret shows in the %s", where)
		}
		if !strings.HasPrefix(where, "redis") && strings.Contains(s, "robottoken123456") {
			t.Errorf("the robot's access token shows in the %s", where)
		}
	}
}

// redisDump is every key of h's bot and every value under it, as text.
func redisDump(t *testing.T, h *harness) string {
	t.Helper()
	ctx := context.Background()
	rdb := h.redis.Client
	var b strings.Builder
	iter := rdb.Scan(ctx, 0, h.redis.Prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		b.WriteString(k + "\n")
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "string":
			b.WriteString(rdb.Get(ctx, k).Val())
		case "hash":
			fmt.Fprint(&b, rdb.HGetAll(ctx, k).Val())
		case "set":
			fmt.Fprint(&b, rdb.SMembers(ctx, k).Val())
		case "zset":
			fmt.Fprint(&b, rdb.ZRangeWithScores(ctx, k, 0, -1).Val())
		case "list":
			fmt.Fprint(&b, rdb.LRange(ctx, k, 0, -1).Val())
		case "stream":
			fmt.Fprint(&b, rdb.XRange(ctx, k, "-", "+").Val())
		default:
			t.Errorf("key %s of type %s is not read", k, typ)
		}
		b.WriteString("\n")
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if b.Len() == 0 {
		t.Fatal("no Redis key found: the dump reads the wrong keys")
	}
	return b.String()
}
