package bot_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms/armstest"
)

// Changes to one contact or group, from several messages on two replicas,
// with the processes dying or stalling in between: every change survives
// in ARMS, and every sender hears once what their message did. These run
// the real binary against real Redis (REDIS_URL) or miniredis.

// oneReply is the only reply s got; it fails unless there is exactly one
// and it says want.
func (s *sender) oneReply(t *testing.T, want ...string) {
	t.Helper()
	r := s.replies()
	if len(r) != 1 {
		t.Fatalf("%d replies, want 1:\n%s", len(r), strings.Join(r, "\n---\n"))
	}
	contains(t, "the reply", r[0], want...)
}

func (h *harness) group(id int64) armstest.Group {
	for _, g := range h.arms.Groups() {
		if g.ContactGroupID == id {
			return g
		}
	}
	h.t.Fatalf("no group %d", id)
	return armstest.Group{}
}

func members(g armstest.Group) []string {
	var out []string
	for _, m := range g.Contacts {
		out = append(out, strconv.FormatInt(m.ContactID, 10))
	}
	slices.Sort(out)
	return out
}

// Updates of different fields of one contact, sent at once to two
// replicas: ARMS replaces the whole contact on every update, and each
// update reads it first, so without the contact's lock all but one change
// would be lost.
func TestConcurrentUpdatesOfOneContactAllSurvive(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := world(t)
		replicas := []*harness{h.spawn(fast("ARMS_CONTACT_API", f.name)), h.spawn(fast("ARMS_CONTACT_API", f.name))}
		id := h.addContact(armstest.Contact{ContactName: "Orig", Email: "orig@example.com"})
		hook, fourth := "https://oapi.dingtalk.com/robot/send?access_token=upd1", "fallback=sms"
		if f == legacy {
			fourth = "webhook=" + hook
		}
		h.arms.SetLatency(200 * time.Millisecond) // each read and write takes a while
		var senders []*sender
		for _, change := range []string{"name=Renamed", "phone=13711112222", "email=new@example.com", fourth} {
			senders = append(senders, h.sender("/contact update "+id+" "+change))
		}
		var wg sync.WaitGroup
		for i, s := range senders {
			wg.Add(1)
			go func() { defer wg.Done(); s.deliver(replicas[i%2]) }()
		}
		wg.Wait()
		for _, s := range senders {
			s.waitReply()
			s.oneReply(t, "Updated contact")
		}
		got, _ := h.contact(id)
		if got.ContactName != "Renamed" || got.Phone != "13711112222" || got.Email != "new@example.com" ||
			f == legacy && got.DingRobot != hook || f == alertManagement && got.ReissueSendNotice != 2 {
			t.Errorf("after four concurrent updates ARMS holds %+v: a change was lost", got)
		}
	})
}

// Replica a sends a group change and stalls (SIGSTOP) past its lease while
// ARMS is slow to apply it; replica b takes the message over. A later
// change of the same group, on b, must not be overwritten when a's write
// lands: b waits until that write has landed or never will before it reads
// the group again, and the later change waits for the group's lock.
func TestTakenOverGroupChangeAndALaterChangeBothSurvive(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := world(t)
		a, b := h.spawn(fast("ARMS_CONTACT_API", f.name)), h.spawn(fast("ARMS_CONTACT_API", f.name))
		c1, c2, c3 := h.addContact(armstest.Contact{ContactName: "C1", Email: "c1@example.com"}),
			h.addContact(armstest.Contact{ContactName: "C2", Email: "c2@example.com"}),
			h.addContact(armstest.Contact{ContactName: "C3", Email: "c3@example.com"})
		first, _ := strconv.ParseInt(c1, 10, 64)
		gid := h.arms.AddGroup("SRE", first)
		g := strconv.FormatInt(gid, 10)

		// a's write lands 3 s after it was sent: after a's lease (1 s), within
		// ARMS_TIMEOUT (2 s) and the margin the bot allows for landing.
		h.arms.Delay(f.updateGroup, 3*time.Second, 1)
		s1 := h.sender("/group add " + g + " " + c2)
		s1.deliver(a)
		waitFor(t, func() bool { return len(h.arms.Calls(f.updateGroup)) == 1 })
		a.freeze()
		waitFor(t, func() bool { return strings.Contains(b.logs.String(), "taking over a message whose owner is gone") })

		s2 := h.sender("/group add " + g + " " + c3)
		s2.deliver(b)
		s1.waitReply()
		s2.waitReply()
		a.thaw()
		if err := a.stop(); err != nil {
			t.Fatalf("a exited with %v", err)
		}
		s1.oneReply(t, "Added "+c2+" to group **SRE**")
		s2.oneReply(t, "Added "+c3+" to group **SRE**")
		if got, want := members(h.group(gid)), []string{c1, c2, c3}; !slices.Equal(got, want) {
			t.Errorf("the group holds %v, want %v", got, want)
		}
	})
}

// Killed while its group change is in flight: the process that finishes
// the message says the member was added, because this message added it,
// not that it was "already in the group"; likewise for a removal.
func TestKilledMidGroupChangeTheTakerSaysWhatItDid(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		for _, tc := range []struct{ verb, want string }{{"add", "Added %s to group"}, {"remove", "Removed %s from group"}} {
			t.Run(tc.verb, func(t *testing.T) {
				t.Parallel()
				h := world(t)
				a := h.spawn(fast("ARMS_CONTACT_API", f.name))
				c1 := h.addContact(armstest.Contact{ContactName: "C1", Email: "c1@example.com"})
				c2 := h.addContact(armstest.Contact{ContactName: "C2", Email: "c2@example.com"})
				id1, _ := strconv.ParseInt(c1, 10, 64)
				start := []int64{id1}
				if tc.verb == "remove" {
					id2, _ := strconv.ParseInt(c2, 10, 64)
					start = append(start, id2)
				}
				gid := h.arms.AddGroup("SRE", start...)
				h.arms.Delay(f.updateGroup, time.Second, 1)
				s := h.sender(fmt.Sprintf("/group %s %d %s", tc.verb, gid, c2))
				s.deliver(a)
				waitFor(t, func() bool { return len(h.arms.Calls(f.updateGroup)) == 1 })
				a.kill()
				b := h.spawn(fast("ARMS_CONTACT_API", f.name)) // the restart
				s.deliver(b)                                   // DingTalk's re-delivery
				s.waitReply()
				s.deliver(b)
				s.oneReply(t, fmt.Sprintf(tc.want, c2))
				if got := members(h.group(gid)); slices.Contains(got, c2) != (tc.verb == "add") {
					t.Errorf("after /group %s the group holds %v", tc.verb, got)
				}
			})
		}
	})
}
