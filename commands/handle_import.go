package commands

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/armsbot/armsbot/commands/catalog"
)

// /contact import: many adds in one message. Every row goes through the
// add's own checks first, and the answer is one preview (what will be
// created, what exists, what is wrong, by line) with one confirmation;
// nothing is written before it. The confirmed rows then run one by one,
// each an add with its intent recorded before its write, so that a process
// that dies halfway leaves the rest to whoever finishes the message, and
// no row is created twice.

// ImportMax is how many rows an import takes by default (BOT_IMPORT_MAX).
const ImportMax = 200

// importRow is one line of an import.
type importRow struct {
	Line int    // in the pasted lines, 1-based
	Text string // the row as /contact add's key=value text
	ct   Contact
	call *Call
	err  error  // why it cannot be added
	has  string // the ContactId of a contact that has its phone or email
}

// rowsOf reads an import's lines: key=value pairs as /contact add takes
// them, or CSV whose header names /contact add's keys.
func rowsOf(data string) ([]importRow, error) {
	lines := strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n")
	var rows []importRow
	first := -1
	for i, l := range lines {
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			first = i
			break
		}
	}
	if first < 0 {
		return nil, nil
	}
	head := strings.TrimSpace(lines[first])
	if !strings.Contains(head, "=") && (strings.Contains(head, ",") || strings.Contains(head, "，")) {
		return csvRows(lines, first)
	}
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		rows = append(rows, importRow{Line: i + 1, Text: l})
	}
	return rows, nil
}

// csvRows reads CSV whose header row names /contact add's keys (or their
// aliases), into key=value rows.
func csvRows(lines []string, first int) ([]importRow, error) {
	add := addSpec()
	r := csv.NewReader(strings.NewReader(strings.ReplaceAll(strings.Join(lines[first:], "\n"), "，", ",")))
	r.FieldsPerRecord, r.TrimLeadingSpace, r.LazyQuotes = -1, true, true
	header, err := r.Read()
	if err != nil {
		return nil, &Error{Code: EINVALID, Key: "import.bad_csv", Args: []any{err.Error()}}
	}
	keys := make([]string, len(header))
	for i, h := range header {
		a := add.arg(strings.ToLower(strings.TrimSpace(h)))
		if a == nil || a.Name == "who" || a.Name == "dry-run" {
			return nil, &Error{Code: EINVALID, Key: "import.bad_column", Args: []any{h}}
		}
		keys[i] = a.Name
	}
	var rows []importRow
	for {
		rec, err := r.Read()
		line, _ := r.FieldPos(0)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return rows, nil
			}
			return nil, &Error{Code: EINVALID, Key: "import.bad_csv", Args: []any{err.Error()}}
		}
		var parts []string
		for i, v := range rec {
			v = strings.TrimSpace(v)
			if i >= len(keys) || v == "" {
				continue
			}
			if keys[i] == "name" && len(v) > 1 && v[0] == '\'' && strings.ContainsRune("=+-@", rune(v[1])) {
				v = v[1:] // as an export escapes a name a spreadsheet would run
			}
			q, ok := quoteValue(v)
			if !ok {
				rows = append(rows, importRow{Line: first + line, err: &Error{Code: EINVALID, Key: "import.bad_value", Args: []any{keys[i]}}})
				parts = nil
				break
			}
			parts = append(parts, keys[i]+"="+q)
		}
		if len(parts) > 0 {
			rows = append(rows, importRow{Line: first + line, Text: strings.Join(parts, " ")})
		}
	}
}

// quoteValue quotes v for the grammar when it holds a space or a quote;
// false when every kind of quote is in it, so that a cell can never
// spill into keys of its own.
func quoteValue(v string) (string, bool) {
	if !strings.ContainsAny(v, " \t\"'“”‘’「」=,，;；") {
		return v, true
	}
	for _, q := range [][2]string{{`"`, `"`}, {"'", "'"}, {"「", "」"}, {"“", "”"}} {
		if !strings.Contains(v, q[0]) && !strings.Contains(v, q[1]) {
			return q[0] + v + q[1], true
		}
	}
	return "", false
}

func addSpec() *Spec {
	for _, s := range Commands() {
		if s.Name() == "contact add" {
			return s
		}
	}
	panic("no /contact add")
}

// importHasGroups reports whether any row puts a contact into a group.
func importHasGroups(data string) bool {
	rows, _ := rowsOf(data)
	for _, row := range rows {
		if c, err := Parse(Commands(), "/contact add "+row.Text); err == nil && c.check() == nil && c.Get("group") != "" {
			return true
		}
	}
	return false
}

// contactImport checks every row and answers with one preview and one
// confirmation.
func (r *Runner) contactImport(ctx context.Context, c *Call) (Result, error) {
	rows, err := rowsOf(c.data)
	switch {
	case err != nil:
		return Result{}, err
	case len(rows) == 0:
		return Result{}, &Error{Code: EINVALID, Key: "import.empty", Usage: c.Spec}
	case len(rows) > r.importMax:
		return Result{}, &Error{Code: EINVALID, Key: "import.too_many", Args: []any{len(rows), r.importMax}}
	}
	private := c.Msg.Private
	// The add's own checks, row by row.
	for i := range rows {
		row := &rows[i]
		if row.err != nil {
			continue // the file itself said what is wrong
		}
		call, err := Parse(r.specs, "/contact add "+row.Text)
		if err == nil {
			call.Msg, call.Journal = c.Msg, c.Journal
			err = call.check()
		}
		if err == nil && (call.Get("who") != "" || call.Bool("dry-run")) {
			err = &Error{Code: EINVALID, Key: "import.no_who"}
		}
		if err == nil {
			row.call = call
			row.ct = Contact{Name: call.Get("name"), Phone: call.Get("phone"), Email: call.Get("email"), Webhook: call.Get("webhook"),
				SystemNoc: call.Bool("systemnoc"), Fallback: call.Get("fallback")}
			if verr := row.ct.Validate(); verr != nil {
				err = verr
			} else if !r.arms.Traits().Robots && row.ct.Webhook != "" {
				err = &Error{Code: EINVALID, Key: "import.no_robots"}
			}
		}
		row.err = err
	}
	// Rows that name the same phone or email: which one was meant is not
	// the bot's to guess.
	seen := map[string]int{}
	for i, row := range rows {
		if row.err != nil {
			continue
		}
		for _, v := range []string{"phone:" + row.ct.Phone, "email:" + strings.ToLower(row.ct.Email)} {
			if strings.HasSuffix(v, ":") {
				continue
			}
			if j, dup := seen[v]; dup {
				rows[i].err = &Error{Code: EINVALID, Key: "import.duplicate", Args: []any{rows[j].Line}}
				if rows[j].err == nil {
					rows[j].err = &Error{Code: EINVALID, Key: "import.duplicate", Args: []any{row.Line}}
				}
			} else {
				seen[v] = i
			}
		}
	}
	if err := r.importGroups(ctx, rows); err != nil {
		return Result{}, err
	}
	if err := r.importExisting(ctx, rows); err != nil {
		return Result{}, err
	}

	var create, exists, invalid []string
	var texts []string
	for _, row := range rows {
		switch {
		case row.err != nil:
			invalid = append(invalid, r.lang.T("import.line", row.Line, catalog.Markdown(r.rowProblem(row.err, private))))
		case row.has != "":
			exists = append(exists, r.lang.T("import.line_exists", row.Line, row.ct.Name, row.has))
		default:
			create = append(create, r.lang.T("import.line", row.Line, catalog.Markdown(catalog.Inert(row.ct.Name)+r.channelSummary(row.ct, !private))))
			texts = append(texts, row.Text)
		}
	}
	lines := []string{r.lang.T("import.preview", len(create), len(exists), len(invalid))}
	for _, part := range []struct {
		key   string
		items []string
	}{{"import.will_create", create}, {"import.exist", exists}, {"import.invalid", invalid}} {
		if len(part.items) > 0 {
			lines = append(lines, r.lang.T(part.key)+"\n"+strings.Join(clip(part.items, 60), "\n"))
		}
	}
	if len(create) == 0 {
		lines = append(lines, r.lang.T("import.nothing"))
		return Result{Text: strings.Join(lines, "\n\n")}, nil
	}
	how, err := r.propose(ctx, c, Pending{Action: "import", Name: strconv.Itoa(len(create)), Rows: texts})
	if err != nil {
		return Result{}, err
	}
	lines = append(lines, how...)
	return Result{Title: "title.confirm", Text: strings.Join(lines, "\n\n")}, nil
}

// clip keeps a long list readable in a chat: its first n items and a count
// of the rest.
func clip(items []string, n int) []string {
	if len(items) <= n {
		return items
	}
	return append(items[:n:n], fmt.Sprintf("- … +%d", len(items)-n))
}

// rowProblem is a row's problem as one line.
func (r *Runner) rowProblem(err error, private bool) string {
	var e *Error
	if !errors.As(err, &e) {
		// ARMS's failures and the rest: as any reply words them.
		return r.errorReply(nil, err).Text
	}
	parts := []string{r.problemText(e, private)}
	for _, a := range e.Also {
		parts = append(parts, r.problemText(a, private))
	}
	return strings.Join(parts, "; ")
}

// importGroups marks rows whose group does not exist: one read of every
// group, whatever the rows name.
func (r *Runner) importGroups(ctx context.Context, rows []importRow) error {
	var want bool
	for _, row := range rows {
		want = want || row.err == nil && row.call.Get("group") != ""
	}
	if !want {
		return nil
	}
	gl, err := r.groups.SearchGroups(ctx, GroupQuery{})
	if err != nil {
		return fmt.Errorf("import: list groups: %w", err)
	}
	for i, row := range rows {
		if row.err != nil || row.call.Get("group") == "" {
			continue
		}
		if !slices.ContainsFunc(gl.Groups, func(g Group) bool { return g.ID == row.call.Get("group") }) {
			rows[i].err = &Error{Code: ENOTFOUND, Key: "group.not_found", Args: []any{row.call.Get("group")}}
		}
	}
	return nil
}

// importExisting marks rows whose phone or email a contact in ARMS has:
// one search per distinct value, a few at once.
func (r *Runner) importExisting(ctx context.Context, rows []importRow) error {
	type query struct{ field, value string }
	var qs []query
	for _, row := range rows {
		if row.err != nil {
			continue
		}
		if row.ct.Phone != "" {
			qs = append(qs, query{"phone", row.ct.Phone})
		}
		if row.ct.Email != "" {
			qs = append(qs, query{"email", strings.ToLower(row.ct.Email)})
		}
	}
	found := make([]string, len(qs)) // ContactId holding the value
	errs := make([]error, len(qs))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, q := range qs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cq := ContactQuery{Phone: q.value, PageSize: 50}
			if q.field == "email" {
				cq = ContactQuery{Email: q.value, PageSize: 50}
			}
			page, err := r.arms.SearchContacts(ctx, cq)
			errs[i] = err
			for _, o := range page.Contacts {
				if q.field == "phone" && o.Phone == q.value || q.field == "email" && strings.EqualFold(o.Email, q.value) {
					found[i] = o.ID
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("import: look for existing contacts: %w", err)
	}
	holder := map[query]string{}
	for i, q := range qs {
		if found[i] != "" {
			holder[q] = found[i]
		}
	}
	for i, row := range rows {
		if row.err != nil {
			continue
		}
		if id := holder[query{"phone", row.ct.Phone}]; id != "" && row.ct.Phone != "" {
			rows[i].has = id
		} else if id := holder[query{"email", strings.ToLower(row.ct.Email)}]; id != "" && row.ct.Email != "" {
			rows[i].has = id
		}
	}
	return nil
}

// batchJournal is the message's journal for one row of an import: each
// intent carries the whole import and the row, and an earlier owner's
// write is the row's only when it was recorded for that row.
type batchJournal struct {
	Journal
	batch []string
	row   int
}

func (b *batchJournal) Intend(ctx context.Context, w Write, hold ...string) (time.Time, error) {
	w.Batch, w.Row = b.batch, b.row
	return b.Journal.Intend(ctx, w, hold...)
}

func (b *batchJournal) Prior() (Write, time.Duration, bool) {
	w, wait, ok := b.Journal.Prior()
	if !ok || len(w.Batch) == 0 || w.Row != b.row {
		return Write{}, 0, false
	}
	return w, wait, true
}

// runImport adds the confirmed rows one by one. An earlier owner of this
// message recorded how far it got (its last intent carries the import):
// the rows before are found in ARMS, the row it was at is finished as a
// single add finishes an earlier owner's, and the rest run.
func (r *Runner) runImport(ctx context.Context, c *Call, rows []string) (Result, error) {
	start := -1
	if w, _, ok := c.Journal.Prior(); ok && len(w.Batch) > 0 {
		rows, start = w.Batch, w.Row
	}
	var created, existed, failed []string
	var ids []string
	var audit []RowAudit
	row := func(text, outcome, id, requestID string) {
		audit = append(audit, RowAudit{Command: "contact add", Args: MaskText(text), Outcome: outcome, ContactID: id, RequestID: requestID})
	}
	lastNote := r.clock()
	for i, text := range rows {
		if c.Msg.Progress != nil && i > 0 && (i%importNoteEvery == 0 || r.clock().Sub(lastNote) >= importNoteAfter) {
			lastNote = r.clock()
			c.Msg.Progress(Reply{Title: r.lang.T("title.progress"), Text: r.lang.T("import.progress", i, len(rows), len(created)), Command: "contact import", Outcome: "progress"})
		}
		exec, err := Parse(r.specs, "/contact add "+text)
		if err == nil {
			exec.Msg, exec.Journal = c.Msg, &batchJournal{Journal: c.Journal, batch: rows, row: i}
			exec.Msg.Text = "/contact add " + text
			err = exec.check()
		}
		if err != nil {
			failed = append(failed, r.lang.T("import.row", i+1, catalog.Markdown(r.rowProblem(err, c.Msg.Private))))
			row(text, string(CodeOf(err)), "", "")
			continue
		}
		ct := Contact{Name: exec.Get("name"), Phone: exec.Get("phone"), Email: exec.Get("email"), Webhook: exec.Get("webhook")}
		if i < start {
			// Done before this process took the message over.
			if found, ok, err := r.landed(ctx, ct, 0); err == nil && ok {
				created, ids = append(created, r.lang.T("import.row_created", i+1, ct.Name, found.ID)), append(ids, found.ID)
				row(text, "ok", found.ID, "")
				continue
			}
		}
		res, err := r.importRow(ctx, exec)
		var e *Error
		switch {
		case err == nil:
			created, ids = append(created, r.lang.T("import.row_created", i+1, ct.Name, res.ContactID)), append(ids, res.ContactID)
			row(text, "ok", res.ContactID, res.RequestID)
		case errors.As(err, &e) && e.Code == ECONFLICT:
			existed = append(existed, r.lang.T("import.row", i+1, catalog.Markdown(r.rowProblem(err, c.Msg.Private))))
			row(text, string(ECONFLICT), "", "")
		case ctx.Err() != nil:
			failed = append(failed, r.lang.T("import.not_reached", i+1, len(rows)))
			return r.importSummary(created, existed, failed, ids, audit), nil
		default:
			failed = append(failed, r.lang.T("import.row", i+1, catalog.Markdown(r.rowProblem(err, c.Msg.Private))))
			row(text, string(CodeOf(err)), "", "")
		}
	}
	return r.importSummary(created, existed, failed, ids, audit), nil
}

// importRow adds one row, waiting out ARMS's throttling a few times.
func (r *Runner) importRow(ctx context.Context, exec *Call) (Result, error) {
	wait := time.Second
	for attempt := 0; ; attempt++ {
		res, err := r.contactAdd(ctx, exec)
		var ae ARMSError
		if err == nil || !errors.As(err, &ae) || ae.Fault() != FaultThrottled || attempt == 3 {
			return res, err
		}
		if perr := r.pause(ctx, wait); perr != nil {
			return res, err
		}
		wait *= 2
	}
}

// An import tells its sender how it goes every importNoteEvery rows or
// importNoteAfter, whichever comes first: not once per row.
const (
	importNoteEvery = 25
	importNoteAfter = 30 * time.Second
)

func (r *Runner) importSummary(created, existed, failed, ids []string, audit []RowAudit) Result {
	lines := []string{r.lang.T("import.done", len(created), len(existed), len(failed))}
	for _, part := range []struct {
		key   string
		items []string
	}{{"import.created", created}, {"import.exist", existed}, {"import.failed", failed}} {
		if len(part.items) > 0 {
			lines = append(lines, r.lang.T(part.key)+"\n"+strings.Join(clip(part.items, 60), "\n"))
		}
	}
	return Result{Text: strings.Join(lines, "\n\n"), Contacts: ids, Rows: audit}
}
