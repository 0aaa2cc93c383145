package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/armsbot/armsbot/commands/catalog"
)

// listPageSize is how many contacts one /contact list reply shows.
const listPageSize = 10

// landingMargin is how long after a client stopped waiting ARMS may still
// apply its request: a write is only known not to have happened this long
// after it was abandoned.
const landingMargin = 2 * time.Second

// channelKeys are the values that identify a contact: adds and updates
// that share one are serialised, so that one person is added once.
func channelKeys(ct Contact) []string {
	var keys []string
	if ct.Email != "" {
		keys = append(keys, "email:"+strings.ToLower(ct.Email))
	}
	if ct.Phone != "" {
		keys = append(keys, "phone:"+ct.Phone)
	}
	if ct.Webhook != "" {
		keys = append(keys, "webhook:"+ct.Webhook)
	}
	return keys
}

// contactKey is the lock of one contact: every change to it reads the
// contact and writes it whole, under this lock.
func contactKey(id string) string { return "contact:" + id }

// write is every ARMS write's sequence: w is recorded in the message's
// journal first (taking the locks hold with it), then sent by send, bounded
// by the journal's deadline: sent before it, or not at all. sendBy is that
// deadline.
func write(ctx context.Context, j Journal, w Write, hold []string, send func(ctx context.Context) (Receipt, error)) (rc Receipt, sendBy time.Time, err error) {
	if sendBy, err = j.Intend(ctx, w, hold...); err != nil {
		return Receipt{}, time.Time{}, err
	}
	wctx, cancel := context.WithDeadline(ctx, sendBy)
	defer cancel()
	rc, err = send(wctx)
	return rc, sendBy, err
}

// awaitPrior waits, when an earlier owner of this message recorded a write,
// until that write has landed or can no longer land, so that what is read
// afterwards shows it: it is then neither lost under this message's own
// write nor done twice, and no later message's change is overwritten by it.
// It waits once per message.
func (r *Runner) awaitPrior(ctx context.Context, c *Call) error {
	_, wait, ok := c.Journal.Prior()
	if !ok || c.priorAwaited {
		return nil
	}
	c.priorAwaited = true
	return r.pause(ctx, wait+landingMargin)
}

func (r *Runner) contactAdd(ctx context.Context, c *Call) (Result, error) {
	ct := Contact{
		Name:      c.Get("name"),
		Phone:     c.Get("phone"),
		Email:     c.Get("email"),
		Webhook:   c.Get("webhook"),
		SystemNoc: c.Bool("systemnoc"),
		Fallback:  c.Get("fallback"),
	}
	// Whether the sender may add this person, with these channels, into
	// this group, the runner checked (access.go).
	who := c.Get("who")
	var notes []string // what the directory could not give
	if who != "" {
		// The person's DingTalk user id, so that ARMS's alert cards
		// @-mention them (a family without the field ignores it).
		ct.CorpUserID = who
		var err error
		if notes, err = r.fromDirectory(ctx, c, who, &ct); err != nil {
			return Result{}, err
		}
	}
	if err := ct.Validate(); err != nil {
		err.(*Error).Usage = c.Spec
		return Result{}, err
	}
	groupID := c.Get("group")
	keys := channelKeys(ct)
	if groupID != "" {
		keys = append(keys, groupKey(groupID))
	}
	// From here to the create (and the group's update), no other message
	// adds this person or changes that group. When nothing is read before
	// the create (no group, no earlier attempt, no search first), the keys
	// are taken with the create's intent, in the same round trip.
	_, _, prior := c.Journal.Prior()
	// Where ARMS does not document that it refuses a second contact with
	// the same phone or email (the legacy family), the add looks first,
	// under the values' locks.
	searchFirst := ct.Email == "" && ct.Phone == "" || c.Bool("dry-run") || !r.arms.Traits().Unique
	var hold []string
	if groupID == "" && !prior && !searchFirst {
		hold = keys
	} else if err := c.Journal.Serialize(ctx, keys...); err != nil {
		return Result{}, err
	}
	var group Group
	if groupID != "" {
		// The group must exist before anything is created for it.
		var err error
		if group, err = r.findGroup(ctx, groupID); err != nil {
			return Result{}, err
		}
	}
	var (
		rc            Receipt
		recovered     bool
		recoveredNote string // why an existing contact is this message's result
	)
	// An earlier owner of this message may have created the contact before
	// it died or handed the message over: that contact is this message's
	// result, never "already exists". If it got as far as the group, the
	// contact is known by id.
	if w, wait, ok := c.Journal.Prior(); ok {
		switch {
		case w.Action == "group update" && w.Contact.ID != "":
			rc, recovered = Receipt{ContactID: w.Contact.ID}, true
		case w.Action == "create":
			found, ok, err := r.landed(ctx, w.Contact, wait)
			if err != nil {
				return Result{}, fmt.Errorf("look for what an earlier attempt created: %w", err)
			}
			if ok {
				rc, recovered = Receipt{ContactID: found.ID}, true
			}
			// Its create has landed or never will; it wrote no group.
			c.priorAwaited = true
		}
	}
	if rc.ContactID == "" {
		// ARMS keeps phone numbers and emails unique itself, and adds of
		// the same value are serialised above: a create that nothing stands
		// in the way of is one ARMS call, and a refused one is looked into
		// afterwards (explainRefusal). A robot-only contact has no value
		// ARMS keeps unique, and a dry run sends nothing: those search
		// first. A contact in the way that this message's own earlier
		// delivery made, before Redis lost its record, is its result.
		var err error
		if searchFirst && c.Msg.MayHaveRun && !c.Bool("dry-run") {
			// Nothing in ARMS keeps a robot-only contact unique: what an
			// earlier delivery may have sent is waited for first.
			if _, _, err = r.landed(ctx, ct, r.window); err != nil {
				return Result{}, fmt.Errorf("look for what an earlier delivery created: %w", err)
			}
		}
		if searchFirst {
			err = r.refuseExisting(ctx, c, ct)
		}
		if err == nil && c.Bool("dry-run") {
			ws := []Write{{Action: "create", Contact: ct}}
			if groupID != "" {
				ws = append(ws, Write{Action: "group update", Group: Group{ID: group.ID, Name: group.Name,
					ContactIDs: append(slices.Clone(group.ContactIDs), r.lang.T("dry.new_contact"))}})
			}
			return r.dryRun(c, ws, Result{GroupID: groupID})
		}
		if err == nil {
			if rc, recovered, err = r.create(ctx, c.Journal, ct, hold...); err != nil {
				err = r.explainRefusal(ctx, c, ct, fmt.Errorf("create contact: %w", err))
			}
		}
		var own *ownCreate
		switch {
		case errors.As(err, &own):
			rc, recoveredNote = Receipt{ContactID: own.ID}, "add.found_after_loss"
		case err != nil:
			return Result{}, err
		}
	}
	ct.ID = rc.ContactID
	if who != "" && r.owners != nil {
		// Whose contact it is: they may verify its phone themselves.
		if err := r.owners.SetOwner(ctx, ct.ID, who); err != nil {
			r.log.Warn("whose contact it is was not recorded", "contact_id", ct.ID, "err", err.Error())
		}
	}
	verifyLine, pending := r.newPhone(ctx, c, &ct)
	lines := []string{
		r.lang.T("add.created", ct.Name, ct.ID),
		strings.Join(r.contactLines(ct, !c.Msg.Private), "\n"),
	}
	if verifyLine != "" {
		lines = append(lines, verifyLine)
	}
	if recovered {
		recoveredNote = "add.recovered"
	}
	if recoveredNote != "" {
		lines = append(lines, r.lang.T(recoveredNote))
	}
	if rc.RequestID != "" {
		lines = append(lines, r.lang.T("field.request_id")+": "+rc.RequestID)
	}
	lines = append(lines, notes...)
	if who != "" && !c.Msg.Private {
		lines = append(lines, r.lang.T("add.private_hint"))
	}
	res := Result{ContactID: rc.ContactID, RequestID: rc.RequestID, GroupID: groupID, VerifyPending: pending}
	if groupID != "" {
		if line, err := r.joinGroup(ctx, c, groupID, ct); err != nil {
			// The contact exists: say so, and how to finish.
			fail := r.errorReply(c, err)
			lines = append(lines, r.lang.T("add.group_failed", groupID, catalog.Markdown(fail.Text), groupID, ct.ID))
		} else {
			lines = append(lines, line)
		}
	}
	res.Text = strings.Join(lines, "\n\n")
	return res, nil
}

// joinGroup adds the new contact ct to the group, reading the group again
// under its lock (held since before the create).
func (r *Runner) joinGroup(ctx context.Context, c *Call, groupID string, ct Contact) (string, error) {
	if err := r.awaitPrior(ctx, c); err != nil {
		return "", err
	}
	g, err := r.findGroup(ctx, groupID)
	if err != nil {
		return "", err
	}
	if slices.Contains(g.ContactIDs, ct.ID) {
		return r.lang.T("group.added", ct.ID, g.Name, g.ID), nil
	}
	// The contact rides along in the intent: a process that finishes this
	// message knows the contact was created.
	w := Write{Action: "group update", Group: Group{ID: g.ID, Name: g.Name, ContactIDs: append(slices.Clone(g.ContactIDs), ct.ID)}, Contact: ct,
		Members: []string{ct.ID}}
	if _, err := r.updateGroup(ctx, c, w); err != nil {
		return "", err
	}
	return r.lang.T("group.added", ct.ID, g.Name, g.ID), nil
}

// fromDirectory fills what the sender did not type from the organisation
// directory: the name, the mobile number, the email. Typed keys win. The
// notes say which channel the directory withheld, for want of a
// permission, from a contact that is created without it.
func (r *Runner) fromDirectory(ctx context.Context, c *Call, staffID string, ct *Contact) (notes []string, err error) {
	if r.directory == nil {
		return nil, &Error{Code: EINVALID, Key: "dir.unavailable", Args: []any{"no directory"}}
	}
	p, err := r.person(ctx, c, staffID)
	var de DirectoryError
	switch {
	case errors.As(err, &de) && de.Unconfigured():
		return nil, &Error{Code: EINVALID, Key: "dir.no_app", Err: err}
	case errors.As(err, &de) && de.Permission() != "":
		return nil, &Error{Code: EINVALID, Key: "dir.permission", Args: []any{de.Permission()}, Err: err}
	case errors.As(err, &de) && de.NotFound():
		return nil, &Error{Code: ENOTFOUND, Key: "dir.not_found", Args: []any{staffID}, Err: err}
	case err != nil:
		return nil, &Error{Code: EINVALID, Key: "dir.unavailable", Args: []any{staffID}, Err: err}
	}
	if !c.Has("name") {
		ct.Name = p.Name
	}
	if !c.Has("phone") && p.Mobile != "" {
		raw := p.Mobile
		if p.StateCode != "" && p.StateCode != "86" {
			raw = "+" + p.StateCode + p.Mobile
		}
		if phone, ok := NormalizePhone(raw); ok {
			ct.Phone = phone
		}
	}
	if !c.Has("email") && p.Email != "" {
		if email, ok := NormalizeEmail(p.Email); ok {
			ct.Email = email
		}
	}
	if ct.Name == "" {
		return nil, &Error{Code: EINVALID, Key: "dir.no_name", Args: []any{staffID}}
	}
	var withheld []Withheld
	for _, w := range p.Withheld {
		if !c.Has(w.Field) {
			withheld = append(withheld, w)
		}
	}
	if ct.Phone == "" && ct.Email == "" && ct.Webhook == "" {
		if len(withheld) > 0 {
			return nil, &Error{Code: EINVALID, Key: "dir.withheld", Args: []any{ct.Name, msgArg{"dir.permissions", []any{permissionNames(withheld)}}}}
		}
		return nil, &Error{Code: EINVALID, Key: "dir.no_channel", Args: []any{ct.Name}}
	}
	for _, w := range withheld {
		notes = append(notes, r.lang.T("dir.withheld_"+w.Field, ct.Name, w.Permission))
	}
	return notes, nil
}

// permissionNames lists the permissions the withheld fields need.
func permissionNames(ws []Withheld) string {
	var names []string
	for _, w := range ws {
		names = append(names, "「"+w.Permission+"」")
	}
	return strings.Join(names, ", ")
}

// create calls CreateAlertContact without ever making two contacts. Each
// attempt is recorded in the journal first, and sent before the journal's
// deadline or not at all. A create is not retried blindly: when its outcome
// is unknown (the answer was lost, it timed out, ARMS failed after
// receiving it), ARMS is searched for the contact first, after waiting, if
// no answer came, until the attempt can no longer land; only if it is not
// there is the create sent once more. recovered reports that the contact
// was found rather than confirmed. The journal takes hold with the intent.
func (r *Runner) create(ctx context.Context, j Journal, ct Contact, hold ...string) (rc Receipt, recovered bool, err error) {
	for attempt := 1; ; attempt++ {
		var sendBy time.Time
		rc, sendBy, err = write(ctx, j, Write{Action: "create", Contact: ct}, hold, func(ctx context.Context) (Receipt, error) {
			return r.arms.CreateContact(ctx, ct)
		})
		if sendBy.IsZero() { // not recorded: nothing was sent
			return Receipt{}, false, err
		}
		var ae ARMSError
		if err == nil || !errors.As(err, &ae) || !ae.OutcomeUnknown() {
			return rc, false, err
		}
		r.log.Warn("create outcome unknown; looking for the contact in ARMS", "attempt", attempt, "err", err.Error())
		wait := -landingMargin // ARMS answered: nothing more will land
		if ae.Fault() == FaultNoAnswer {
			wait = time.Until(sendBy)
		}
		found, ok, ferr := r.landed(ctx, ct, wait)
		if ferr != nil {
			r.log.Warn("search after an unknown create failed", "err", ferr.Error())
			return Receipt{}, false, err // still unknown: the reply says how to check
		}
		if ok {
			return Receipt{ContactID: found.ID}, true, nil
		}
		if attempt == 2 {
			return Receipt{}, false, err
		}
	}
}

// landed looks for the contact a create of ct made, if any. When the
// create may still be in flight (wait from now until it was sent or
// abandoned), a search that finds nothing is repeated once that create can
// no longer land.
func (r *Runner) landed(ctx context.Context, ct Contact, wait time.Duration) (Contact, bool, error) {
	found, ok, err := r.findSame(ctx, ct)
	if err != nil || ok {
		return found, ok, err
	}
	if d := wait + landingMargin; d > 0 {
		if err := r.pause(ctx, d); err != nil {
			return Contact{}, false, err
		}
		return r.findSame(ctx, ct)
	}
	return Contact{}, false, nil
}

// findSame looks for the contact ct would have created: by email or phone,
// which ARMS keeps unique, else by name and robot webhook.
func (r *Runner) findSame(ctx context.Context, ct Contact) (Contact, bool, error) {
	q := ContactQuery{Email: ct.Email, PageSize: 50}
	switch {
	case ct.Email == "" && ct.Phone != "":
		q = ContactQuery{Phone: ct.Phone, PageSize: 50}
	case ct.Email == "":
		q = ContactQuery{Name: ct.Name, PageSize: 50}
	}
	page, err := r.arms.SearchContacts(ctx, q)
	if err != nil {
		return Contact{}, false, err
	}
	for _, o := range page.Contacts {
		switch {
		case ct.Email != "" && strings.EqualFold(o.Email, ct.Email),
			ct.Email == "" && ct.Phone != "" && o.Phone == ct.Phone,
			ct.Email == "" && ct.Phone == "" && o.Name == ct.Name && o.Webhook == ct.Webhook:
			return o, true, nil
		}
	}
	return Contact{}, false, nil
}

// explainRefusal turns ARMS's refusal of a create into "already exists as
// ContactId N" when a contact holds the email or phone: ARMS documents the
// rule but no error code for it, so any refusal that is not a transport or
// credentials failure is checked against a search. Otherwise err stands.
func (r *Runner) explainRefusal(ctx context.Context, c *Call, ct Contact, err error) error {
	var ae ARMSError
	if !errors.As(err, &ae) || ae.OutcomeUnknown() {
		return err
	}
	switch ae.Fault() {
	case FaultInvalid, FaultOther:
	default:
		return err
	}
	if exists := r.refuseExisting(ctx, c, ct); exists != nil {
		var (
			e   *Error
			own *ownCreate
		)
		if errors.As(exists, &e) && e.Code == ECONFLICT || errors.As(exists, &own) {
			return exists
		}
	}
	return err
}

// ownCreate: the contact in the way of a create is this message's own,
// made by an earlier delivery of it whose record Redis lost.
type ownCreate struct{ Contact }

func (e *ownCreate) Error() string {
	return "contact " + e.ID + " was created by this message before its record was lost"
}

// createdSlack allows for the clocks of DingTalk and ARMS when a contact's
// creation is compared with when a message was sent.
const createdSlack = time.Minute

// ownEarlier reports whether o, which holds what ct would, is what an
// earlier delivery of this message created before Redis lost the
// message's record: the message may have run, o is ct in every field, and
// ARMS created it after the message was sent.
func ownEarlier(c *Call, ct, o Contact) bool {
	return c.Msg.MayHaveRun && !c.Bool("dry-run") && o.Name == ct.Name && strings.EqualFold(o.Email, ct.Email) && o.Phone == ct.Phone &&
		o.Webhook == ct.Webhook && o.SystemNoc == ct.SystemNoc &&
		(c.Msg.Sent.IsZero() || o.Created.IsZero() || !o.Created.Before(c.Msg.Sent.Add(-createdSlack)))
}

// refuseExisting fails with ECONFLICT-style advice when a contact already
// holds ct's email or phone, or, for a contact reached only through a
// robot, has its name and robot URL.
func (r *Runner) refuseExisting(ctx context.Context, c *Call, ct Contact) error {
	robotOnly := ""
	if ct.Email == "" && ct.Phone == "" {
		robotOnly = ct.Webhook
	}
	checks := []struct {
		field, value string
		q            ContactQuery
		same         func(Contact) bool
	}{
		{"email", ct.Email, ContactQuery{Email: ct.Email, PageSize: 50}, func(o Contact) bool { return strings.EqualFold(o.Email, ct.Email) }},
		{"phone", ct.Phone, ContactQuery{Phone: ct.Phone, PageSize: 50}, func(o Contact) bool { return o.Phone == ct.Phone }},
		{"webhook", robotOnly, ContactQuery{Name: ct.Name, PageSize: 50}, func(o Contact) bool { return o.Name == ct.Name && o.Webhook == ct.Webhook }},
	}
	// Both searches at once: each costs a full ARMS round trip.
	type found struct {
		page ContactPage
		err  error
	}
	results := make([]found, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		if ch.value == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].page, results[i].err = r.arms.SearchContacts(ctx, ch.q)
		}()
	}
	wg.Wait()
	for i, ch := range checks {
		if err := results[i].err; err != nil {
			return fmt.Errorf("look for an existing contact: %w", err)
		}
		for _, o := range results[i].page.Contacts {
			if ch.value != "" && ch.same(o) && ownEarlier(c, ct, o) {
				return &ownCreate{o}
			}
			if ch.value != "" && ch.same(o) {
				if ch.field == "webhook" {
					return &Error{Code: ECONFLICT, Key: "add.exists_robot", Args: []any{o.Name, o.ID, o.ID}}
				}
				shown := ch.value
				if !c.Msg.Private {
					shown = r.maskField(ch.field, shown)
				}
				return &Error{Code: ECONFLICT, Key: "add.exists", Args: []any{ch.field, shown, o.ID, o.Name, o.ID}}
			}
		}
	}
	return nil
}

func (r *Runner) maskField(field, v string) string {
	switch field {
	case "phone":
		return MaskPhone(v)
	case "email":
		return MaskEmail(v)
	case "webhook":
		return MaskWebhook(v)
	}
	return v
}

func (r *Runner) contactList(ctx context.Context, c *Call) (Result, error) {
	page := 1
	if c.Has("page") {
		page, _ = strconv.Atoi(c.Get("page"))
	}
	var (
		res ContactPage
		err error
	)
	if c.Has("verified") {
		res, err = r.listByVerification(ctx, c.Get("name"), c.Bool("verified"), page)
	} else {
		res, err = r.arms.SearchContacts(ctx, ContactQuery{Name: c.Get("name"), Page: page, PageSize: listPageSize})
	}
	if err != nil {
		return Result{}, fmt.Errorf("list contacts: %w", err)
	}
	l := r.lang
	pages := max(1, (res.Total+listPageSize-1)/listPageSize)
	if len(res.Contacts) == 0 {
		text := l.T("list.empty")
		if res.Total > 0 {
			text = l.T("list.past_end", page, pages)
		}
		return Result{Text: text, RequestID: res.RequestID}, nil
	}
	lines := []string{l.T("list.header", res.Total, page, pages)}
	var items []string
	for _, ct := range res.Contacts {
		items = append(items, "- **"+catalog.Inert(ct.ID)+"** "+catalog.Inert(ct.Name)+r.channelSummary(ct, !c.Msg.Private))
	}
	lines = append(lines, strings.Join(items, "\n"))
	if page < pages {
		next := "/contact list"
		if n := c.Get("name"); n != "" {
			next += " name=" + quoteIfNeeded(n)
		}
		if c.Has("verified") {
			next += " verified=" + map[bool]string{true: "yes", false: "no"}[c.Bool("verified")]
		}
		lines = append(lines, l.T("list.next", next+" page="+strconv.Itoa(page+1)))
	}
	lines = append(lines, l.T("list.show_hint"))
	return Result{Text: strings.Join(lines, "\n\n"), RequestID: res.RequestID}, nil
}

// listByVerification is one page of the contacts whose phone is verified
// (or not): ARMS cannot filter by it, so every contact is read, a full
// page at a time (an account holds at most a few hundred).
func (r *Runner) listByVerification(ctx context.Context, name string, verified bool, page int) (ContactPage, error) {
	want := PhoneUnverified
	if verified {
		want = PhoneVerified
	}
	var match []Contact
	out := ContactPage{Page: page, PageSize: listPageSize}
	for p := 1; ; p++ {
		res, err := r.arms.SearchContacts(ctx, ContactQuery{Name: name, Page: p, PageSize: scanPageSize})
		if err != nil {
			return ContactPage{}, err
		}
		out.RequestID = res.RequestID
		for _, ct := range res.Contacts {
			if ct.Verified == want {
				match = append(match, ct)
			}
		}
		if len(res.Contacts) < scanPageSize || p*scanPageSize >= res.Total {
			break
		}
	}
	out.Total = len(match)
	from := min((page-1)*listPageSize, len(match))
	out.Contacts = match[from:min(from+listPageSize, len(match))]
	return out, nil
}

// scanPageSize is the page size for reading every contact.
const scanPageSize = 100

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " \t\"'") {
		return "「" + s + "」"
	}
	return s
}

// channelSummary renders a contact's channels on one line.
func (r *Runner) channelSummary(ct Contact, masked bool) string {
	var parts []string
	if ct.Phone != "" {
		parts = append(parts, r.shown("phone", ct.Phone, masked)+r.verification(ct.Verified))
	}
	if ct.Email != "" {
		parts = append(parts, r.shown("email", ct.Email, masked))
	}
	if ct.Webhook != "" {
		parts = append(parts, r.lang.T("field.webhook"))
	}
	if len(parts) == 0 {
		return ""
	}
	return " · " + strings.Join(parts, " · ")
}

// shown is a contact's field as a reply shows it: masked unless private,
// and inert, since ARMS holds whatever anyone stored.
func (r *Runner) shown(field, v string, masked bool) string {
	if field == "webhook" {
		return webhookShown(v, masked)
	}
	if masked {
		v = r.maskField(field, v)
	}
	return catalog.Inert(v)
}

// webhookShown renders a robot's URL. One that is a DingTalk robot's (as
// every webhook the bot takes is checked to be) stays a working URL: it
// can lead nowhere but DingTalk, and one shown whole, in a one-to-one
// chat, is copied to be used. Masked, its token's stars cannot make
// emphasis. Anything else is made inert.
func webhookShown(u string, masked bool) string {
	if masked {
		u = MaskWebhook(u)
	}
	if CheckWebhook(strings.ReplaceAll(u, "*", "0")) != nil {
		return catalog.Inert(u)
	}
	return strings.ReplaceAll(u, "*", "∗")
}

// find returns the contact with id, or ErrNotFound.
func (r *Runner) find(ctx context.Context, id string) (Contact, error) {
	res, err := r.arms.SearchContacts(ctx, ContactQuery{IDs: []string{id}, PageSize: 10})
	if err != nil {
		return Contact{}, fmt.Errorf("find contact %s: %w", id, err)
	}
	for _, ct := range res.Contacts {
		if ct.ID == id {
			return ct, nil
		}
	}
	return Contact{}, notFound(id)
}

func notFound(id string) *Error {
	return &Error{Code: ENOTFOUND, Key: "err.not_found", Args: []any{id}, Err: ErrNotFound}
}

func (r *Runner) contactShow(ctx context.Context, c *Call) (Result, error) {
	ct, err := r.find(ctx, c.Get("id"))
	if err != nil {
		return Result{}, err
	}
	lines := []string{
		r.lang.T("show.header", ct.Name, ct.ID),
		strings.Join(r.contactLines(ct, !c.Msg.Private), "\n"),
	}
	return Result{Text: strings.Join(lines, "\n\n"), ContactID: ct.ID}, nil
}

// contactUpdate changes only the fields the sender named: ARMS clears every
// channel an update omits, so the rest are read first and sent again.
func (r *Runner) contactUpdate(ctx context.Context, c *Call) (Result, error) {
	changes := 0
	for _, k := range []string{"name", "phone", "email", "webhook", "systemnoc", "fallback"} {
		if c.Has(k) {
			changes++
		}
	}
	if changes == 0 {
		return Result{}, invalid(c.Spec, "update.nothing")
	}
	// The contact is read, changed and written whole under its lock, so
	// that concurrent updates of different fields all survive; a new
	// email, phone or robot URL must not race an add of the same either.
	changed := Contact{Phone: c.Get("phone"), Email: c.Get("email"), Webhook: c.Get("webhook")}
	if err := c.Journal.Serialize(ctx, append([]string{contactKey(c.Get("id"))}, channelKeys(changed)...)...); err != nil {
		return Result{}, err
	}
	if err := r.awaitPrior(ctx, c); err != nil {
		return Result{}, err
	}
	ct, err := r.find(ctx, c.Get("id"))
	if err != nil {
		return Result{}, err
	}
	oldPhone := ct.Phone
	if r.arms.Traits().Verification && r.owners != nil {
		// ARMS does not say whose contact it is, and an update replaces
		// the whole contact: the person's id goes again, from the record.
		if ct.CorpUserID, err = r.owners.Owner(ctx, ct.ID); err != nil {
			return Result{}, err
		}
	}
	if c.Has("name") {
		ct.Name = c.Get("name")
	}
	if c.Has("phone") {
		ct.Phone = c.Get("phone")
	}
	if c.Has("fallback") {
		ct.Fallback = c.Get("fallback")
	}
	if c.Has("email") {
		ct.Email = c.Get("email")
	}
	if c.Has("webhook") {
		ct.Webhook = c.Get("webhook")
	}
	if c.Has("systemnoc") {
		ct.SystemNoc = c.Bool("systemnoc")
	}
	if ct.Validate() != nil {
		return Result{}, invalid(c.Spec, "update.no_channel")
	}
	if c.Bool("dry-run") {
		return r.dryRun(c, []Write{{Action: "update", Contact: ct}}, Result{ContactID: ct.ID})
	}
	// An update sends the whole contact, so doing it again after a
	// take-over gives the same result: the intent is kept for the record.
	rc, _, err := write(ctx, c.Journal, Write{Action: "update", Contact: ct}, nil, func(ctx context.Context) (Receipt, error) {
		return r.arms.UpdateContact(ctx, ct)
	})
	if err != nil {
		return Result{}, fmt.Errorf("update contact %s: %w", ct.ID, err)
	}
	var verifyLine, pending string
	if ct.Phone != oldPhone {
		verifyLine, pending = r.newPhone(ctx, c, &ct)
	}
	lines := []string{
		r.lang.T("update.done", ct.Name, ct.ID),
		strings.Join(r.contactLines(ct, !c.Msg.Private), "\n"),
	}
	if verifyLine != "" {
		lines = append(lines, verifyLine)
	}
	lines = append(lines, r.lang.T("field.request_id")+": "+rc.RequestID)
	return Result{Text: strings.Join(lines, "\n\n"), ContactID: ct.ID, RequestID: rc.RequestID, VerifyPending: pending}, nil
}

// contactDelete never deletes at once: it shows what would go, and the
// groups the contact would leave, and asks the same sender to confirm
// with a code.
func (r *Runner) contactDelete(ctx context.Context, c *Call) (Result, error) {
	ct, err := r.find(ctx, c.Get("id"))
	if err != nil {
		return Result{}, err
	}
	groups, err := r.groupsOf(ctx, ct.ID)
	if err != nil {
		return Result{}, err
	}
	force := c.Bool("force")
	g, err := r.guard(ctx, c, change{contact: ct.ID}, r.lang.T("what.contact", ct.Name, ct.ID), force)
	if err != nil {
		return Result{}, err
	}
	lines := []string{
		r.lang.T("delete.confirm", ct.Name, ct.ID),
		strings.Join(r.contactLines(ct, !c.Msg.Private), "\n"),
	}
	if len(groups) > 0 {
		lines = append(lines, r.lang.T("delete.groups", len(groups), catalog.Markdown(groupNames(groups))))
	} else {
		lines = append(lines, r.lang.T("delete.no_groups"))
	}
	lines = append(lines, r.impactLines(g, ReceiverContact, ct.ID, groups, nil)...)
	if c.Bool("dry-run") {
		res, err := r.dryRun(c, []Write{{Action: "delete", Contact: ct}}, Result{ContactID: ct.ID, Policies: g.names()})
		res.Text = strings.Join(lines[2:], "\n\n") + "\n\n" + res.Text
		return res, err
	}
	how, err := r.propose(ctx, c, Pending{Action: "delete", ContactID: ct.ID, Name: ct.Name, Force: force})
	if err != nil {
		return Result{}, err
	}
	lines = append(lines, how...)
	return Result{Title: "title.confirm", Text: strings.Join(lines, "\n\n"), ContactID: ct.ID}, nil
}

// contactHistory lists what the audit trail recorded of a contact's life:
// its creation, changes, group memberships, deletion and dry runs, newest
// first.
func (r *Runner) contactHistory(ctx context.Context, c *Call) (Result, error) {
	id := c.Get("id")
	entries, err := r.audit.Touching(ctx, id, 50)
	if err != nil {
		return Result{}, err
	}
	var items []string
	for _, e := range entries {
		if !r.changes(e) {
			continue
		}
		items = append(items, r.auditLine(e))
		if len(items) == 20 {
			break
		}
	}
	if len(items) == 0 {
		return Result{Text: r.lang.T("history.empty", id), ContactID: id}, nil
	}
	return Result{Text: r.lang.T("history.header", id, len(items)) + "\n\n" + strings.Join(items, "\n"), ContactID: id}, nil
}

// changes reports whether an audit entry changed something, or would have
// (a dry run): reads are no part of a contact's history.
func (r *Runner) changes(e AuditEntry) bool {
	if e.Outcome == "dry_run" {
		return true
	}
	if e.Outcome != "ok" {
		return false
	}
	for _, s := range r.specs {
		if s.Name() == e.Command {
			return s.Writes
		}
	}
	return false
}

// contactLines renders a contact's channels, masked unless the chat is
// private, with whether ARMS will call the phone where the family says.
func (r *Runner) contactLines(ct Contact, masked bool) []string {
	l := r.lang
	var out []string
	if ct.Phone != "" {
		out = append(out, "- "+l.T("field.phone")+": "+r.shown("phone", ct.Phone, masked)+r.verification(ct.Verified))
	}
	if ct.Email != "" {
		out = append(out, "- "+l.T("field.email")+": "+r.shown("email", ct.Email, masked))
	}
	if ct.Webhook != "" {
		out = append(out, "- "+l.T("field.webhook")+": "+r.shown("webhook", ct.Webhook, masked))
	}
	t := r.arms.Traits()
	if t.SystemNoc {
		noc := l.T("no")
		if ct.SystemNoc {
			noc = l.T("yes")
		}
		out = append(out, "- "+l.T("field.systemnoc")+": "+noc)
	}
	if t.Fallback && ct.Fallback != "" {
		out = append(out, "- "+l.T("field.fallback")+": "+l.T("fallback."+ct.Fallback))
	}
	return out
}
