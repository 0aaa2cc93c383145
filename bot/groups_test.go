package bot_test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
)

// Contact groups, "add me" from the directory, dry runs and history,
// through the webhook, with the ARMS and DingTalk stand-ins.

func id64(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

// members are the ContactIds of the stand-in's group gid.
func (h *harness) members(gid string) []string {
	for _, g := range h.arms.Groups() {
		if strconv.FormatInt(g.ContactGroupID, 10) == gid {
			var ids []string
			for _, c := range g.Contacts {
				ids = append(ids, strconv.FormatInt(c.ContactID, 10))
			}
			return ids
		}
	}
	return nil
}

var groupIDRE = regexp.MustCompile(`ContactGroupId[:：] ?\*{0,2}(\d+)`)

func TestGroupLifecycle(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		a, b, c := h.addContact(armstest.Contact{ContactName: "Ann", Email: "ann@example.com"}), h.addContact(armstest.Contact{ContactName: "Bob", Email: "bob@example.com"}), h.addContact(armstest.Contact{ContactName: "Cid", Email: "cid@example.com"})

		r := h.say(adminID, "/group create name=SRE-oncall contacts="+a+","+b)
		contains(t, "create", r.Markdown.Text, "Created contact group **SRE-oncall**", "2 member(s)", "RequestId")
		gid := group1(t, groupIDRE, r.Markdown.Text, "ContactGroupId")
		if got := h.members(gid); !slices.Equal(got, []string{a, b}) {
			t.Fatalf("members %v, want %s %s", got, a, b)
		}
		contains(t, "duplicate name", h.say(adminID, "/group create name=SRE-oncall").Markdown.Text, "already exists: ContactGroupId "+gid)

		contains(t, "add", h.say(adminID, "/group add "+gid+" "+c).Markdown.Text, "Added "+c, "3 member(s)")
		contains(t, "add again", h.say(adminID, "/group add "+gid+" "+a).Markdown.Text, "Already in group")
		contains(t, "add missing", h.say(adminID, "/group add "+gid+" 999999").Markdown.Text, "no contact with ContactId 999999")
		contains(t, "remove", h.say(adminID, "/group remove "+gid+" "+b).Markdown.Text, "Removed "+b, "2 member(s)")
		if got := h.members(gid); !slices.Equal(got, []string{a, c}) {
			t.Errorf("members %v after add and remove, want %s %s", got, a, c)
		}
		contains(t, "rename", h.say(adminID, "/group rename "+gid+" name=SRE-primary").Markdown.Text, "to **SRE-primary**")
		show := h.say(adminID, "/group show "+gid).Markdown.Text
		contains(t, "show", show, "SRE-primary", "Ann", "Cid", "a∗∗∗@example.com")
		lacks(t, "show", show, "ann@example.com", "Bob")
		contains(t, "list", h.say(adminID, "/联系人组 列表").Markdown.Text, "SRE-primary", "2 member(s)")

		// Delete: a preview and a code; only /confirm deletes.
		r = h.say(adminID, "/group delete "+gid)
		contains(t, "delete preview", r.Markdown.Text, "About to delete contact group **SRE-primary**", "The contacts themselves stay")
		if len(h.arms.Groups()) != 1 {
			t.Fatal("the group was deleted before the confirmation")
		}
		code := confirmCode(t, r.Markdown.Text)
		contains(t, "confirm", h.say(adminID, "/confirm "+code).Markdown.Text, "Deleted contact group **SRE-primary**")
		if n := len(h.arms.Groups()); n != 0 || len(h.arms.Contacts()) != 3 {
			t.Errorf("%d groups and %d contacts after the delete, want 0 and 3", n, len(h.arms.Contacts()))
		}

		// Permissions: group.read reads, group.write writes; "group" covers both.
		h.say(adminID, "/perm grant reader-1 group.read")
		h.say(adminID, "/perm grant lead-1 group")
		contains(t, "reader list", h.say("reader-1", "/group list").Markdown.Text, "No contact groups")
		contains(t, "reader create", h.say("reader-1", "/group create name=X").Markdown.Text, "needs the permission group.write")
		contains(t, "lead create", h.say("lead-1", "/分组 创建 name=Ops contacts="+a).Markdown.Text, "Created contact group")
	})
}

// Membership changes to one group from many messages at once, as from
// several people or replicas, lose none of each other's members: ARMS
// replaces the whole list on every update.
func TestConcurrentGroupChangesKeepEveryMember(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		h.arms.SetLatency(20 * 1e6) // 20ms: reads and writes interleave
		var ids []string
		for i := range 8 {
			ids = append(ids, h.addContact(armstest.Contact{ContactName: fmt.Sprintf("C%d", i), Email: fmt.Sprintf("c%d@example.com", i)}))
		}
		gid := strconv.FormatInt(h.arms.AddGroup("Busy", id64(ids[0])), 10)
		var wg sync.WaitGroup
		for _, id := range ids[1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.post(h.message(adminID, "/group add "+gid+" "+id))
			}()
		}
		wg.Add(1)
		go func() { defer wg.Done(); h.post(h.message(adminID, "/group remove "+gid+" "+ids[0])) }()
		wg.Wait()
		// Replies that took longer than the budget come later: wait for the
		// last change to land, and then for nothing more.
		want := slices.Clone(ids[1:])
		slices.Sort(want)
		sorted := func() []string { got := h.members(gid); slices.Sort(got); return got }
		waitFor(t, func() bool { return len(h.arms.Calls(f.updateGroup)) == 8 && slices.Equal(sorted(), want) })
	})
}

// /contact add … group= creates and joins in one command; a missing group
// stops it before anything is created; the delete preview names the
// groups the contact will leave.
func TestContactAddIntoGroupAndDeletePreview(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		gid := strconv.FormatInt(h.arms.AddGroup("SRE"), 10)
		r := h.say(adminID, "/contact add name=Joiner email=joiner@example.com group="+gid)
		contains(t, "add into group", r.Markdown.Text, "Created alert contact **Joiner**", "to group **SRE**")
		id := contactID(t, r.Markdown.Text)
		if got := h.members(gid); !slices.Equal(got, []string{id}) {
			t.Errorf("group members %v, want %s", got, id)
		}
		r = h.say(adminID, "/contact add name=Lost email=lost@example.com group=999999")
		contains(t, "missing group", r.Markdown.Text, "no contact group with ContactGroupId 999999")
		if len(h.creates()) != 1 {
			t.Error("a contact was created for a group that does not exist")
		}

		// The group step fails after the create: the reply says the contact
		// exists and how to finish.
		h.arms.Fail(f.updateGroup, "ParameterIllegal", 400, 1)
		r = h.say(adminID, "/contact add name=Half email=half@example.com group="+gid)
		half := contactID(t, r.Markdown.Text)
		contains(t, "group step failed", r.Markdown.Text, "Created alert contact **Half**", "Adding it to group "+gid+" failed", "/group add "+gid+" "+half)

		r = h.say(adminID, "/contact delete "+id)
		contains(t, "delete preview", r.Markdown.Text, "member of 1 group(s), which it will leave: SRE ("+gid+")")
		contains(t, "delete preview of a loner", h.say(adminID, "/contact delete "+half).Markdown.Text, "in no contact group")
	})
}

// "Add me": name, mobile and email from the DingTalk directory, typed keys
// winning, the group seeing them masked; @someone needs contact.add; a
// member with contact.add.self only adds themselves.
func TestAddMeFromTheDirectory(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	h.session.SetPerson(adminID, dingtalktest.Person{Name: "王五", Mobile: "13755556666", StateCode: "86", OrgEmail: "wangwu@corp.example"})
	h.session.SetPerson("member-1", dingtalktest.Person{Name: "Member One", Mobile: "13900001111", Email: "m1@example.com"})
	h.session.SetPerson("member-2", dingtalktest.Person{Name: "Member Two", Mobile: "91234567", StateCode: "852"})
	h.session.SetPerson("nomail-1", dingtalktest.Person{Name: "No Mail"})

	r := h.say(adminID, "/contact add me systemnoc=true")
	contains(t, "add me", r.Markdown.Text, "Created alert contact **王五**", "137∗∗∗∗6666", "wa∗∗∗@corp.example", "one-to-one chat")
	lacks(t, "add me", r.Markdown.Text, "13755556666", "wangwu@")
	created := h.arms.Contacts()
	if len(created) != 1 || created[0].Phone != "13755556666" || created[0].Email != "wangwu@corp.example" || !created[0].SystemNoc {
		t.Fatalf("ARMS holds %+v", created)
	}

	// @someone, with a typed key overriding the directory.
	m := h.message(adminID, `/contact add "@Member One" email=member.one@example.com`)
	m.AtUsers = append(m.AtUsers, dingtalk.AtUser{DingtalkID: "d-m1", StaffID: "member-1"})
	_, r = h.post(m)
	contains(t, "add @someone", r.Markdown.Text, "Created alert contact **Member One**", "me∗∗∗@example.com")
	if c := h.arms.Contacts()[1]; c.Email != "member.one@example.com" || c.Phone != "13900001111" {
		t.Errorf("stored %+v: the typed email must win, the directory's mobile fill the rest", c)
	}
	// The audit names both people.
	contains(t, "audit", h.say(adminID, "/audit 1").Markdown.Text, "/contact add member-1 ", "("+adminID+")")

	// contact.add.self: themselves only.
	h.say(adminID, "/perm grant member-2 contact.add.self")
	contains(t, "self", h.say("member-2", "/contact add me").Markdown.Text, "Created alert contact **Member Two**", "+852∗∗∗∗4567")
	m = h.message("member-2", `/contact add "@Member One"`)
	m.AtUsers = append(m.AtUsers, dingtalk.AtUser{DingtalkID: "d-m1", StaffID: "member-1"})
	_, r = h.post(m)
	contains(t, "self adding another", r.Markdown.Text, "needs the permission contact.add")
	contains(t, "self typing", h.say("member-2", "/contact add name=X email=x@example.com").Markdown.Text, "needs the permission contact.add")
	// Outside channels and groups are not "adding myself".
	for _, text := range []string{
		"/contact add me name=Outsider email=attacker@example.com",
		"/contact add me webhook=https://oapi.dingtalk.com/robot/send?access_token=attacker1",
		"/contact add me group=709",
	} {
		r := h.say("member-2", text).Markdown.Text
		contains(t, text, r, "needs the permission")
		lacks(t, text, r, "Created")
	}

	// What the directory cannot give.
	contains(t, "no channel", h.say(adminID, "/contact add @x").Markdown.Text, "Nobody is @-mentioned")
	h.say(adminID, "/perm grant nomail-1 contact.add.self")
	contains(t, "no mobile or email", h.say("nomail-1", "/contact add me").Markdown.Text, "no mobile number or email for No Mail", "one-to-one chat")
	// Without the field permissions the directory leaves mobile and email
	// out: the reply names the permission, not "has none".
	h.session.SetPerson("member-4", dingtalktest.Person{Name: "Member Four", Mobile: "13600004444", Email: "m4@example.com"})
	h.session.SetPerson("member-5", dingtalktest.Person{Name: "Member Five", Mobile: "13600005555", Email: "m5@example.com"})
	h.say(adminID, "/perm grant member-4 contact.add.self")
	h.say(adminID, "/perm grant member-5 contact.add.self")
	h.session.WithholdFields("mobile")
	contains(t, "mobile withheld", h.say("member-4", "/contact add me").Markdown.Text, "Created alert contact **Member Four**",
		"did not return Member Four's mobile number", "cannot call or text it", "企业员工手机号信息")
	h.session.WithholdFields("mobile", "email")
	contains(t, "both withheld", h.say("member-5", "/contact add me").Markdown.Text, "did not return a mobile number or email for Member Five",
		"企业员工手机号信息", "邮箱等个人信息")
	h.session.WithholdFields()
	h.session.DenyDirectory("qyapi_get_member")
	contains(t, "no permission", h.say(adminID, "/contact add me").Markdown.Text, "grant the app the permission qyapi_get_member")
	if n := len(h.arms.Contacts()); n != 4 {
		t.Errorf("%d contacts, want 4", n)
	}
}

// A dry run runs every check and read of the real command, sends no ARMS
// write, shows the requests, proposes no code, and is audited as such.
func TestDryRuns(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(nil))
		a := h.addContact(armstest.Contact{ContactName: "Ann", Email: "ann@example.com"})
		gid := strconv.FormatInt(h.arms.AddGroup("SRE", id64(a)), 10)
		// The actions and parameter names each family sends.
		names := map[string]string{"create": "CreateAlertContact", "update": "UpdateAlertContact", "delete": "DeleteAlertContact",
			"phone": "PhoneNum", "group delete": "DeleteAlertContactGroup", "members": a + " ＜new ContactId＞"}
		if f == alertManagement {
			names = map[string]string{"create": "CreateOrUpdateContact", "update": "CreateOrUpdateContact", "delete": "DeleteContact",
				"phone": "Phone", "group delete": "DeleteContactGroup", "members": a + ",＜new ContactId＞"}
		}
		tests := []struct {
			text string
			want []string
		}{
			{"/contact add name=Dry phone=13811112222 email=dry@example.com group=" + gid + " --dry-run",
				[]string{names["create"], "ContactName=Dry", names["phone"] + "=138∗∗∗∗2222", f.updateGroup, "ContactIds=" + names["members"]}},
			{"/contact update " + a + " phone=13911112222 dry-run=true", []string{names["update"], "ContactId=" + a, names["phone"] + "=139∗∗∗∗2222"}},
			{"/contact delete " + a + " --dry-run", []string{names["delete"], "ContactId=" + a, "which it will leave: SRE"}},
			{"/group create name=New contacts=" + a + " --dry-run", []string{f.createGroup, "ContactGroupName=New", "ContactIds=" + a}},
			{"/group add " + gid + " " + a + " --dry-run", []string{"Already in group"}}, // nothing to send: said so
			{"/group remove " + gid + " " + a + " --dry-run", []string{f.updateGroup, "ContactGroupId=" + gid}},
			{"/group rename " + gid + " name=Renamed --dry-run", []string{f.updateGroup, "ContactGroupName=Renamed"}},
			{"/group delete " + gid + " --dry-run", []string{names["group delete"], "ContactGroupId=" + gid}},
		}
		for _, tc := range tests {
			r := h.say(adminID, tc.text)
			contains(t, tc.text, r.Markdown.Text, tc.want...)
			if !strings.Contains(tc.text, "group add") {
				contains(t, tc.text, r.Markdown.Text, "nothing was changed")
				if r.Markdown.Title != "Dry run" {
					t.Errorf("%s: title %q", tc.text, r.Markdown.Title)
				}
			}
			lacks(t, tc.text, r.Markdown.Text, "/confirm")
		}
		if n := len(h.creates()) + len(h.updates()) + len(h.deletes()) + len(h.groupWrites()) + len(h.arms.Calls(names["group delete"])); n != 0 {
			t.Errorf("dry runs sent %d writes", n)
		}
		// Checks still apply: a missing contact, a missing permission.
		contains(t, "missing", h.say(adminID, "/contact delete 999999 --dry-run").Markdown.Text, "no contact with ContactId 999999")
		contains(t, "denied", h.say("stranger-1", "/contact add name=X email=x@example.com --dry-run").Markdown.Text, "may not run")
		contains(t, "audit", h.say(adminID, "/audit 12").Markdown.Text, "→ dry_run")
	})
}

// /contact history: a contact's life from the audit trail, reads left out.
func TestContactHistory(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := startBot(t, f.with(map[string]string{"BOT_LANG": "zh"}))
		gid := strconv.FormatInt(h.arms.AddGroup("SRE"), 10)
		r := h.say(adminID, "/contact add name=Hist email=hist@example.com")
		id := contactID(t, r.Markdown.Text)
		h.say(adminID, "/contact show "+id)
		h.say(adminID, "/contact update "+id+" phone=13811112222")
		h.say(adminID, "/group add "+gid+" "+id)
		h.say(adminID, "/contact update "+id+" name=Dry --dry-run")
		code := confirmCode(t, h.say(adminID, "/contact delete "+id).Markdown.Text)
		h.say(adminID, "/confirm "+code)
		text := h.say(adminID, "/contact history "+id).Markdown.Text
		contains(t, "history", text, "ContactId "+id, "/contact add", "/contact update", "/group add", "dry_run", "/confirm", "("+adminID+")")
		lacks(t, "history", text, "/contact show")
		if strings.Index(text, "/confirm") > strings.Index(text, "/contact add") {
			t.Errorf("history is not newest first:\n%s", text)
		}
		h.say(adminID, "/perm grant reader-1 contact.read")
		contains(t, "needs audit", h.say("reader-1", "/contact history "+id).Markdown.Text, "audit")
	})
}
