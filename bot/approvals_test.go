package bot_test

import (
	"context"
	"regexp"
	"sync"
	"testing"
	"time"
)

var approvalCodeRE = regexp.MustCompile("/approve ([0-9A-Z]+)")

// With BOT_APPROVAL=group delete, on two replicas: the requester's own
// /confirm or /approve deletes nothing; a second holder of approve and
// group.write approving deletes once, though DingTalk delivers the
// approval to both replicas at once; the audit trail has the request and
// the approval, each with its sender.
func TestApprovalByASecondPersonAcrossReplicas(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BOT_APPROVAL": "group delete", "BOT_SYNC_REPLY_BUDGET": "5s"}
	a := startBot(t, env)
	b := a.replica(env)
	for _, g := range []string{"/perm grant lead-1 group.write", "/perm grant approver-1 group.write", "/perm grant approver-1 approve"} {
		contains(t, g, a.say(adminID, g).Markdown.Text, "Granted")
	}
	r := a.say(adminID, "/group create name=SRE-oncall")
	gid := group1(t, groupIDRE, r.Markdown.Text, "ContactGroupId")

	r = a.say("lead-1", "/group delete "+gid)
	if r.Markdown.Title != "Approval needed" {
		t.Fatalf("request titled %q:\n%s", r.Markdown.Title, r.Markdown.Text)
	}
	contains(t, "request", r.Markdown.Text, "About to delete contact group **SRE-oncall**", "May approve: `admin-0001`, `approver-1`")
	code := group1(t, approvalCodeRE, r.Markdown.Text, "/approve")

	contains(t, "own confirm", b.say("lead-1", "/confirm "+code).Markdown.Text, "needs someone else's approval")
	contains(t, "own approve", b.say("lead-1", "/approve "+code).Markdown.Text, "it needs the permission approve")
	if len(a.arms.Groups()) != 1 {
		t.Fatal("the requester's own word deleted the group")
	}

	s := &sender{h: a, m: a.message("approver-1", "/approve "+code)}
	var wg sync.WaitGroup
	for _, p := range []*harness{a, b} {
		wg.Go(func() { s.deliver(p) })
	}
	wg.Wait()
	s.waitReply()
	s.oneReply(t, "/group delete approved by Tester approver-1, as requested by Tester lead-1", "Deleted contact group **SRE-oncall**")
	if n := len(a.arms.Calls("DeleteAlertContactGroup")); n != 1 || len(a.arms.Groups()) != 0 {
		t.Errorf("%d deletes, %d groups left; want 1 and 0", n, len(a.arms.Groups()))
	}
	contains(t, "after", a.say(adminID, "/approve "+code).Markdown.Text, "decided already")

	// The approval's entry is written as its message settles, which may
	// be just after its reply went out.
	var request, approval bool
	waitFor(t, func() bool {
		entries, _ := a.store.Recent(context.Background(), 20, "")
		for _, e := range entries {
			request = request || e.SenderID == "lead-1" && e.Command == "group delete" && e.Outcome == "held" && e.Approval == code && e.GroupID == gid
			approval = approval || e.SenderID == "approver-1" && e.Command == "approve" && e.Outcome == "ok" && e.RequestedBy == "lead-1" && e.GroupID == gid
		}
		return request && approval
	})
	audit := a.say(adminID, "/audit 10").Markdown.Text
	contains(t, "/audit", audit, "waits for approval under "+code, "requested by lead-1")
}

// An approval whose replica is SIGKILLed while ARMS takes its time over
// the delete: DingTalk's re-delivery of the approving message to a
// restarted replica finishes it, as its own, and answers once; the group
// is gone and nobody has to approve again.
func TestApprovedDeleteSurvivesAKill(t *testing.T) {
	t.Parallel()
	h := world(t)
	env := fast("BOT_APPROVAL", "group delete", "BOT_SYNC_REPLY_BUDGET", "5s")
	a := h.spawn(env)
	for _, g := range []string{"/perm grant approver-1 group.write", "/perm grant approver-1 approve"} {
		contains(t, g, a.say(adminID, g).Markdown.Text, "Granted")
	}
	gid := group1(t, groupIDRE, a.say(adminID, "/group create name=Doomed").Markdown.Text, "ContactGroupId")
	code := group1(t, approvalCodeRE, a.say(adminID, "/group delete "+gid).Markdown.Text, "/approve")

	h.arms.SetLatency(1500 * time.Millisecond)
	s := &sender{h: h, m: h.message("approver-1", "/approve "+code)}
	s.deliver(a) // answered "empty": the delete is slow
	waitFor(t, func() bool { return len(h.arms.Calls("DeleteAlertContactGroup")) >= 1 })
	a.kill()
	h.arms.SetLatency(0)

	b := h.spawn(env) // the restart
	s.deliver(b)      // DingTalk's re-delivery
	s.waitReply()
	s.deliver(b)
	s.oneReply(t, "/group delete approved by Tester approver-1", "Deleted contact group **Doomed**")
	if len(h.arms.Groups()) != 0 {
		t.Errorf("groups left: %+v", h.arms.Groups())
	}
}
