package commands

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// importRows are 40 contacts: 3 invalid, a pair naming the same phone, 4
// that exist in ARMS already (importPaste adds them), and 31 to create.
func importRows() [][3]string {
	var rows [][3]string
	for i := range 40 {
		rows = append(rows, [3]string{fmt.Sprintf("Ops%02d", i), fmt.Sprintf("1381234%04d", i), fmt.Sprintf("ops%02d@example.com", i)})
	}
	rows[3] = [3]string{"Bad", "12345", ""}           // invalid phone
	rows[7] = [3]string{"", "", "noname@example.com"} // no name
	rows[11] = [3]string{"X", "", "x@example"}        // invalid email
	rows[20] = [3]string{"Twin1", "13899990000", ""}  // the same phone
	rows[21] = [3]string{"Twin2", "13899990000", ""}  // as line 21
	return rows
}

// importPaste renders importRows as key=value lines or as CSV, and puts
// four of them into ARMS first.
func importPaste(arms *fakeARMS, form string) string {
	for _, i := range []int{30, 31, 32, 33} {
		arms.add(Contact{Name: fmt.Sprintf("Ops%02d", i), Phone: fmt.Sprintf("1381234%04d", i)})
	}
	lines := []string{}
	if form == "csv" {
		lines = append(lines, "姓名,手机,email")
	}
	for _, r := range importRows() {
		if form == "csv" {
			lines = append(lines, r[0]+","+r[1]+","+r[2])
			continue
		}
		var kv []string
		for i, k := range []string{"name", "phone", "email"} {
			if r[i] != "" || k == "name" {
				kv = append(kv, k+"="+r[i])
			}
		}
		lines = append(lines, strings.Join(kv, " "))
	}
	return "/contact import\n" + strings.Join(lines, "\n")
}

var previewRE = regexp.MustCompile(`\*\*(\d+)\*\* to create, \*\*(\d+)\*\* already exist, \*\*(\d+)\*\* invalid`)

// An import previews exactly what it will do, writes nothing before its
// confirmation, and then creates exactly the rows it previewed.
func TestImportPreviewsThenCreates(t *testing.T) {
	for _, form := range []string{"key=value", "csv"} {
		t.Run(form, func(t *testing.T) {
			r, arms, _ := testRunner(t, nil)
			paste := importPaste(arms, form)
			before := arms.called("create")
			rep := say(r, "boss", paste)
			m := previewRE.FindStringSubmatch(rep.Text)
			if m == nil || m[1] != "31" || m[2] != "4" || m[3] != "5" || arms.called("create") != before {
				t.Fatalf("preview (%d creates):\n%s", arms.called("create")-before, rep.Text)
			}
			line := map[string]int{"key=value": 0, "csv": 1}[form] // the header is line 1
			contains(t, "preview", rep.Text, fmt.Sprintf("line %d: the same phone or email as line %d", 21+line, 22+line),
				fmt.Sprintf("line %d: Phone 12345 is not valid", 4+line), "to create them, or `/cancel")
			code := confirmRE.FindStringSubmatch(rep.Text)[1]
			done := say(r, "boss", "/confirm "+code)
			if !strings.Contains(done.Text, "**31** created") || arms.called("create")-before != 31 || len(done.Contacts) != 31 {
				t.Fatalf("after /confirm: %d creates:\n%s", arms.called("create")-before, done.Text)
			}
		})
	}
}

// A process that took an import over from one that died at row 15 finds
// the rows before in ARMS, finishes the row it was at, and runs the rest:
// 31 creates in all, never one twice.
func TestImportResumesWhereItsOwnerDied(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	rep := say(r, "boss", importPaste(arms, "key=value"))
	code := confirmRE.FindStringSubmatch(rep.Text)[1]

	// The first owner: rows up to 15, then it dies with row 15's intent
	// recorded (and its create sent).
	j := &fakeJournal{}
	rows := j.rowsOf(t, r, code)
	before := arms.called("create")
	for i := 0; i <= 15; i++ {
		c, _ := Parse(Commands(), "/contact add "+rows[i])
		_ = c.check()
		arms.add(Contact{Name: c.Get("name"), Phone: c.Get("phone"), Email: c.Get("email")})
	}
	c15, _ := Parse(Commands(), "/contact add "+rows[15])
	_ = c15.check()
	j.prior = &Write{Action: "create", Contact: Contact{Name: c15.Get("name"), Phone: c15.Get("phone"), Email: c15.Get("email")}, Batch: rows, Row: 15}

	// The taker: the code is gone (the first owner took it).
	done := r.Handle(context.Background(), Message{ID: "msg-boss", SenderID: "boss", ConversationID: "cid-ops", Text: "/confirm " + code}, j)
	if !strings.Contains(done.Text, "**31** created") || arms.called("create")-before != 31-16 {
		t.Fatalf("resumed: %d creates by the taker:\n%s", arms.called("create")-before, done.Text)
	}
}

// rowsOf takes the confirmation code's rows, as the first owner did.
func (j *fakeJournal) rowsOf(t *testing.T, r *Runner, code string) []string {
	t.Helper()
	p, ok, _ := r.confirms.Take(context.Background(), "boss", code)
	if !ok || p.Action != "import" {
		t.Fatalf("no import under %s", code)
	}
	return p.Rows
}

// Limits are checked before anything else, and an import in a group names
// no full phone number.
func TestImportLimitsAndMasking(t *testing.T) {
	r, _, _ := testRunner(t, func(s *Settings) { s.ImportMax = 3 })
	rep := say(r, "boss", "/contact import\nname=A email=a@example.com\nname=B email=b@example.com\nname=C email=c@example.com\nname=D email=d@example.com")
	contains(t, "too many", rep.Text, "4 rows: an import takes at most 3")
	rep = say(r, "boss", "/contact import")
	contains(t, "empty", rep.Text, "No rows to import")
	rep = say(r, "boss", "/contact import\nname=A phone=13811112222")
	if strings.Contains(rep.Text, "13811112222") {
		t.Errorf("the group sees a full phone number:\n%s", rep.Text)
	}
	if rep := say(r, "nobody", "/contact import\nname=A phone=13811112222"); rep.Outcome != string(EFORBIDDEN) {
		t.Errorf("without contact.add: %+v", rep)
	}
}

// A long import tells its sender how it goes now and then, not per row,
// and leaves an audit row per contact, masked.
func TestImportProgressAndRows(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	rep := say(r, "boss", importPaste(arms, "key=value"))
	code := confirmRE.FindStringSubmatch(rep.Text)[1]
	var notes []Reply
	done := r.Handle(context.Background(), Message{ID: "msg-confirm", SenderID: "boss", ConversationID: "cid-ops", Text: "/confirm " + code,
		Progress: func(rep Reply) { notes = append(notes, rep) }}, &fakeJournal{})
	if len(notes) != 1 || !strings.Contains(notes[0].Text, "25 of 31 rows done") || notes[0].Title != "In progress" {
		t.Errorf("progress notes: %+v", notes)
	}
	if len(done.Rows) != 31 {
		t.Fatalf("%d row entries, want 31", len(done.Rows))
	}
	for _, row := range done.Rows {
		if row.Command != "contact add" || row.Outcome != "ok" || row.ContactID == "" || strings.Contains(row.Args, "13812340") {
			t.Errorf("row entry %+v", row)
		}
	}
}

// An export larger than a message goes out in parts, each usable alone:
// CSV parts each with the header, together every contact once.
func TestLargeExportInParts(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	for i := range 300 {
		arms.add(Contact{Name: fmt.Sprintf("Operator number %03d with a long name", i), Phone: fmt.Sprintf("1391234%04d", i), Email: fmt.Sprintf("operator%03d@example.com", i)})
	}
	var notes []Reply
	rep := r.Handle(context.Background(), Message{ID: "m", SenderID: "boss", Private: true, ConversationID: "cid", Text: "/contact export",
		Progress: func(rep Reply) { notes = append(notes, rep) }}, &fakeJournal{})
	if rep.Outcome != "ok" || len(notes) == 0 {
		t.Fatalf("%d notes, reply %+v", len(notes), rep.Outcome)
	}
	seen := map[string]bool{}
	for _, text := range append(slicesOf(notes), rep.Text) {
		if len(text) > 13000 {
			t.Errorf("a part of %d bytes", len(text))
		}
		m := regexp.MustCompile("(?s)```+csv\n(.*?)```").FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("a part without its CSV:\n%.200s", text)
		}
		lines := strings.Split(strings.TrimSpace(m[1]), "\n")
		if lines[0] != "name,phone,email,webhook,systemnoc,group" {
			t.Errorf("a part starts %q", lines[0])
		}
		for _, l := range lines[1:] {
			seen[strings.Split(l, ",")[1]] = true
		}
	}
	if len(seen) != 300 {
		t.Errorf("%d contacts across the parts, want 300", len(seen))
	}
}

func slicesOf(rs []Reply) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Text)
	}
	return out
}

// ARMS throttling a row makes the import wait and try the row again, not
// give it up.
func TestImportWaitsOutThrottling(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	var waited []time.Duration
	r.pause = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	throttled := 2
	arms.createErr = func(c Contact) (bool, error) {
		if c.Name == "B" && throttled > 0 {
			throttled--
			return false, &armsFault{fault: FaultThrottled, code: "Throttling.User"}
		}
		return false, nil
	}
	rep := say(r, "boss", "/contact import\nname=A email=a@example.com\nname=B email=b@example.com\nname=C email=c@example.com")
	code := confirmRE.FindStringSubmatch(rep.Text)[1]
	done := say(r, "boss", "/confirm "+code)
	if !strings.Contains(done.Text, "**3** created") || len(waited) < 2 {
		t.Errorf("waited %v:\n%s", waited, done.Text)
	}
}

// A CSV cell cannot spill into keys of its own: quoted whole, or refused.
func TestImportCSVCellsStayCells(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	rep := say(r, "boss", "/contact import\nname,email\n\"Ann group=701\",ann@example.com\n\"B\"\"'「」“”\",b@example.com")
	m := previewRE.FindStringSubmatch(rep.Text)
	if m == nil || m[1] != "1" || m[3] != "1" {
		t.Fatalf("preview:\n%s", rep.Text)
	}
	contains(t, "preview", rep.Text, "Ann group=701", "line 3: the name cell holds every kind of quote mark")
	code := confirmRE.FindStringSubmatch(rep.Text)[1]
	say(r, "boss", "/confirm "+code)
	if len(arms.contacts) != 1 || arms.contacts[0].Name != "Ann group=701" || arms.called("group update") != 0 {
		t.Errorf("created %+v", arms.contacts)
	}
}

// A row ARMS refuses for a reason of its own is reported as any reply
// words ARMS's failures, never with the raw error.
func TestImportRowFailuresAreWordedAsReplies(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	arms.createErr = func(c Contact) (bool, error) {
		if c.Name == "B" {
			return false, &armsFault{fault: FaultUnavailable, code: "InternalError"}
		}
		return false, nil
	}
	rep := say(r, "boss", "/contact import\nname=A email=a@example.com\nname=B email=b@example.com")
	done := say(r, "boss", "/confirm "+confirmRE.FindStringSubmatch(rep.Text)[1])
	want := r.errorReply(nil, &armsFault{fault: FaultUnavailable, code: "InternalError"}).Text
	contains(t, "summary", done.Text, "**1** created", "**1** failed", "row 2: "+want)
}
