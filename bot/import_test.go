package bot_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/arms/armstest"
)

var importCodeRE = regexp.MustCompile("/confirm ([0-9A-Z]+)")

// importText is 40 rows: 3 invalid, a pair with the same phone, and 4 of
// which h has in ARMS already: 31 to create.
func importText(h *harness) string {
	var lines []string
	for i := range 40 {
		lines = append(lines, fmt.Sprintf("name=Imp%02d phone=1371234%04d email=imp%02d@example.com", i, i, i))
	}
	lines[3], lines[7], lines[11] = "name=Bad phone=12345", "name= email=noname@example.com", "name=X email=x@example"
	lines[20], lines[21] = "name=Twin1 phone=13799990000", "name=Twin2 phone=13799990000"
	for _, i := range []int{30, 31, 32, 33} {
		h.addContact(armstest.Contact{ContactName: fmt.Sprintf("Imp%02d", i), Phone: fmt.Sprintf("1371234%04d", i)})
	}
	return "/contact import\n" + strings.Join(lines, "\n")
}

// A pasted import of 40 rows previews 31 to create, 4 existing and 5
// invalid; its confirmation is killed (kill -9) after 15 creates, and
// DingTalk's re-delivery to a restarted replica finishes it: 31 creates,
// one summary.
func TestImportSurvivesAKill(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, f family) {
		h := world(t)
		a := h.spawn(fast("ARMS_CONTACT_API", f.name, "BOT_SYNC_REPLY_BUDGET", "5s"))
		preview := h.sender(importText(h))
		preview.deliver(a)
		preview.waitReply()
		text := preview.replies()[0]
		contains(t, "preview", text, "**31** to create, **4** already exist, **5** invalid")
		code := group1(t, importCodeRE, text, "/confirm")
		before := len(h.creates())

		h.arms.SetLatency(200 * time.Millisecond)
		confirm := h.sender("/confirm " + code)
		confirm.deliver(a) // answered "empty": the import takes a while
		h.waitCreateSent(before + 15)
		a.kill()
		h.arms.SetLatency(0)

		b := h.spawn(fast("ARMS_CONTACT_API", f.name))
		confirm.deliver(b) // DingTalk's re-delivery
		confirm.waitReply()
		confirm.deliver(b)
		confirm.oneReply(t, "**31** created, **0** already existed, **0** failed")
		if n := len(h.creates()) - before; n != 31 {
			t.Errorf("%d creates, want 31", n)
		}
	})
}

// An export in CSV, pasted back as an import, creates nothing: every row
// exists.
func TestExportReimportsAsNothingToCreate(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	for i := range 6 {
		h.addContact(armstest.Contact{ContactName: fmt.Sprintf("Round %d", i), Phone: fmt.Sprintf("1361111000%d", i), Email: fmt.Sprintf("round%d@example.com", i)})
	}
	m := fencedRE.FindStringSubmatch(h.sayPrivately(adminID, "/contact export format=csv").Markdown.Text)
	if m == nil {
		t.Fatal("no export")
	}
	r := h.sayPrivately(adminID, "/contact import\n"+m[1])
	contains(t, "re-import", r.Markdown.Text, "**0** to create, **6** already exist, **0** invalid", "Nothing to create")
}
