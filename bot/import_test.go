package bot_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/armsbot/armsbot/arms/armstest"
	"github.com/armsbot/armsbot/bot/dingtalk"
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
		// Besides its one reply, a long import sends progress notes.
		final := func() []string {
			var out []string
			for _, r := range confirm.replies() {
				if !strings.HasPrefix(r, "Importing: ") {
					out = append(out, r)
				}
			}
			return out
		}
		waitFor(t, func() bool { return len(final()) > 0 })
		confirm.deliver(b)
		if f := final(); len(f) != 1 {
			t.Fatalf("%d replies besides progress notes, want 1: %q", len(f), f)
		} else {
			contains(t, "the summary", f[0], "**31** created, **0** already existed, **0** failed")
		}
		if n := len(h.creates()) - before; n != 31 {
			t.Errorf("%d creates, want 31", n)
		}
		// The audit trail: the import's entry and one per row, once.
		waitFor(t, func() bool {
			entries, _ := b.store.Recent(context.Background(), 50, "")
			rows, imports := 0, 0
			for _, e := range entries {
				if e.MsgID == confirm.m.MsgID && e.Command == "contact add" && e.Outcome == "ok" {
					rows++
				}
				if e.MsgID == confirm.m.MsgID && e.Command == "confirm" && len(e.Contacts) == 31 {
					imports++
				}
			}
			return rows == 31 && imports == 1
		})
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

// fileMessage is a one-to-one message carrying a file the stand-in holds.
func (h *harness) fileMessage(name string, data []byte) (dingtalk.Message, string) {
	code := h.session.AddFile(data)
	m := h.message(adminID, "")
	m.MsgType, m.Text, m.ConversationType = "file", dingtalk.Text{}, "1"
	m.Content, _ = json.Marshal(map[string]string{"downloadCode": code, "fileName": name})
	return m, code
}

// A roster sent as a CSV or an XLSX file in a one-to-one chat imports as
// the same rows pasted would; in a group, with an expired code, or too
// large, the sender is told what to do.
func TestImportFromAFile(t *testing.T) {
	t.Parallel()
	h := startBot(t, nil)
	rows := [][]string{{"name", "phone", "email"}, {"File1", "13511110001", "file1@example.com"}, {"File2", "13511110002", ""},
		{"Bad", "12345", ""}, {"File3", "", "file3@example.com"}}
	var csvText strings.Builder
	w := csv.NewWriter(&csvText)
	_ = w.WriteAll(rows)
	x := excelize.NewFile()
	for i, row := range rows {
		cells := make([]any, len(row))
		for j, v := range row {
			cells[j] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		_ = x.SetSheetRow("Sheet1", cell, &cells)
	}
	xlsx, _ := x.WriteToBuffer()

	for _, f := range []struct {
		name string
		data []byte
	}{{"roster.csv", []byte(csvText.String())}, {"roster.xlsx", xlsx.Bytes()}} {
		m, _ := h.fileMessage(f.name, f.data)
		code, r := h.post(m)
		if code != 200 {
			t.Fatalf("%s: HTTP %d", f.name, code)
		}
		contains(t, f.name, r.Markdown.Text, "**3** to create, **0** already exist, **1** invalid", "line 4: Phone 12345 is not valid")
	}
	confirm := importCodeRE.FindStringSubmatch(func() string {
		m, _ := h.fileMessage("roster.csv", []byte(csvText.String()))
		_, r := h.post(m)
		return r.Markdown.Text
	}())
	contains(t, "confirm", h.sayPrivately(adminID, "/confirm "+confirm[1]).Markdown.Text, "**3** created")

	group, _ := h.fileMessage("roster.csv", []byte(csvText.String()))
	group.ConversationType = "2"
	_, r := h.post(group)
	contains(t, "in a group", r.Markdown.Text, "one-to-one chats only")
	expired, code := h.fileMessage("roster.csv", []byte(csvText.String()))
	h.session.ExpireFile(code)
	_, r = h.post(expired)
	contains(t, "expired", r.Markdown.Text, "download code expired")
	big, _ := h.fileMessage("roster.csv", []byte(strings.Repeat("x", 2<<20)))
	_, r = h.post(big)
	contains(t, "too large", r.Markdown.Text, "larger than 1024 KB")
	pdf, _ := h.fileMessage("roster.pdf", []byte("%PDF"))
	_, r = h.post(pdf)
	contains(t, "a pdf", r.Markdown.Text, "roster.pdf is not a .csv or .xlsx file")
}
