package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/armsbot/armsbot/commands/catalog"
)

// Fakes of the core's ports: small, in memory, with a hook where a test
// needs a failure. They record what was asked of them, not in which order.

// fakeARMS keeps contacts in memory and searches them as the ARMS stand-in
// does: filters match partially, newest first.
type fakeARMS struct {
	mu       sync.Mutex
	contacts []Contact
	groups   []Group
	next     int
	calls    map[string]int
	updated  []Contact
	// createErr, when set, may fail a create, after storing the contact
	// (committed) or not.
	createErr func(c Contact) (committed bool, err error)
	searchErr error
	// traits are the contact family's; the legacy family's when zero.
	traits Traits
	links  []string // contact ids a verification link was sent for
	// linkErr, when set, fails SendVerification.
	linkErr error
	// The notification policies, and policyErr to fail reading them.
	policies  []Policy
	policyErr error
	robots    []Robot
}

func (f *fakeARMS) NotificationPolicies(context.Context) ([]Policy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("policies")
	return slices.Clone(f.policies), f.policyErr
}

func (f *fakeARMS) CreateRobot(_ context.Context, rb Robot) (Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("create robot")
	f.next++
	rb.ID, rb.Signed, rb.Secret = strconv.Itoa(f.next), rb.Secret != "", ""
	f.robots = append(f.robots, rb)
	return Receipt{RobotID: rb.ID, RequestID: "rid-robot"}, nil
}

func (f *fakeARMS) SearchRobots(_ context.Context, q RobotQuery) ([]Robot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Robot
	for _, rb := range f.robots {
		if (len(q.IDs) == 0 || slices.Contains(q.IDs, rb.ID)) && strings.Contains(rb.Name, q.Name) {
			out = append(out, rb)
		}
	}
	return out, nil
}

func (f *fakeARMS) DeleteRobot(_ context.Context, id string) (Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("delete robot")
	n := len(f.robots)
	f.robots = slices.DeleteFunc(f.robots, func(rb Robot) bool { return rb.ID == id })
	if len(f.robots) == n {
		return Receipt{}, ErrNotFound
	}
	return Receipt{RobotID: id, RequestID: "rid-robot-delete"}, nil
}

// alertManagement are the Alert Management family's traits.
var alertManagement = Traits{Family: "alert-management", Unique: true, Verification: true, Fallback: true, IMRobots: true}

func (f *fakeARMS) SendVerification(_ context.Context, id, phone string) (Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("verify")
	if f.linkErr != nil {
		return Receipt{}, f.linkErr
	}
	for _, c := range f.contacts {
		if c.ID == id && c.Phone == phone {
			f.links = append(f.links, id)
			return Receipt{ContactID: id, RequestID: "rid-verify"}, nil
		}
	}
	return Receipt{}, &armsFault{fault: FaultInvalid, code: "ParameterIllegal"}
}

func (f *fakeARMS) Traits() Traits {
	if f.traits.Family == "" {
		return Traits{Family: "legacy", Robots: true, SystemNoc: true}
	}
	return f.traits
}

func (f *fakeARMS) called(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeARMS) count(op string) {
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
}

func (f *fakeARMS) add(c Contact) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.traits.Verification && c.Phone != "" && c.Verified == VerifyUnknown {
		c.Verified = PhoneUnverified
	}
	f.next++
	c.ID = strconv.Itoa(10000 + f.next)
	f.contacts = append(f.contacts, c)
	return c.ID
}

func (f *fakeARMS) CreateContact(_ context.Context, c Contact) (Receipt, error) {
	f.mu.Lock()
	f.count("create")
	hook := f.createErr
	f.mu.Unlock()
	if hook != nil {
		if committed, err := hook(c); err != nil {
			if committed {
				f.add(c)
			}
			return Receipt{}, err
		}
	}
	// As ARMS does: an email or phone belongs to one contact.
	f.mu.Lock()
	for _, o := range f.contacts {
		if c.Email != "" && strings.EqualFold(o.Email, c.Email) || c.Phone != "" && o.Phone == c.Phone {
			f.mu.Unlock()
			return Receipt{}, &armsFault{fault: FaultInvalid, code: "ParameterIllegal"}
		}
	}
	f.mu.Unlock()
	return Receipt{ContactID: f.add(c), RequestID: "rid-create"}, nil
}

func (f *fakeARMS) SearchContacts(_ context.Context, q ContactQuery) (ContactPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("search")
	if f.searchErr != nil {
		return ContactPage{}, f.searchErr
	}
	var out []Contact
	for i := len(f.contacts) - 1; i >= 0; i-- {
		c := f.contacts[i]
		if (len(q.IDs) == 0 || slices.Contains(q.IDs, c.ID)) && strings.Contains(c.Name, q.Name) &&
			strings.Contains(c.Phone, q.Phone) && strings.Contains(strings.ToLower(c.Email), strings.ToLower(q.Email)) {
			out = append(out, c)
		}
	}
	page := ContactPage{Total: len(out), Page: max(q.Page, 1), PageSize: q.PageSize, RequestID: "rid-search"}
	start := (page.Page - 1) * q.PageSize
	if start < len(out) {
		page.Contacts = out[start:min(start+q.PageSize, len(out))]
	}
	return page, nil
}

func (f *fakeARMS) UpdateContact(_ context.Context, c Contact) (Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("update")
	f.updated = append(f.updated, c)
	for i := range f.contacts {
		if f.contacts[i].ID == c.ID {
			if f.traits.Verification && c.Phone != "" && c.Phone != f.contacts[i].Phone {
				c.Verified = PhoneUnverified // a new number is not verified
			} else {
				c.Verified = f.contacts[i].Verified
			}
			f.contacts[i] = c
		}
	}
	return Receipt{ContactID: c.ID, RequestID: "rid-update"}, nil
}

func (f *fakeARMS) DeleteContact(_ context.Context, id string) (Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("delete")
	for i := range f.contacts {
		if f.contacts[i].ID == id {
			f.contacts = slices.Delete(f.contacts, i, i+1)
			return Receipt{ContactID: id, RequestID: "rid-delete"}, nil
		}
	}
	return Receipt{}, ErrNotFound
}

// groups are kept beside the contacts, as ARMS keeps them.
func (f *fakeARMS) addGroup(name string, ids ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	g := Group{ID: strconv.Itoa(700 + f.next), Name: name, ContactIDs: ids}
	f.groups = append(f.groups, g)
	return g.ID
}

func (f *fakeARMS) group(id string) (Group, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.groups {
		if g.ID == id {
			return g, true
		}
	}
	return Group{}, false
}

func (f *fakeARMS) CreateGroup(_ context.Context, name string, ids []string) (Receipt, error) {
	f.mu.Lock()
	f.count("group create")
	f.mu.Unlock()
	id := f.addGroup(name, ids...)
	return Receipt{GroupID: id, RequestID: "rid-group-create"}, nil
}

func (f *fakeARMS) SearchGroups(_ context.Context, q GroupQuery) (GroupList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("group search")
	var out []Group
	for _, g := range f.groups {
		if (len(q.IDs) > 0 && !slices.Contains(q.IDs, g.ID)) || !strings.Contains(g.Name, q.Name) ||
			(q.ContactID != "" && !slices.Contains(g.ContactIDs, q.ContactID)) {
			continue
		}
		g.ContactIDs = slices.Clone(g.ContactIDs)
		if q.Detail {
			for _, id := range g.ContactIDs {
				for _, c := range f.contacts {
					if c.ID == id {
						g.Members = append(g.Members, c)
					}
				}
			}
		}
		out = append(out, g)
	}
	return GroupList{Groups: out, RequestID: "rid-group-search"}, nil
}

func (f *fakeARMS) UpdateGroup(_ context.Context, g Group) (Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("group update")
	for i := range f.groups {
		if f.groups[i].ID == g.ID {
			f.groups[i].Name, f.groups[i].ContactIDs = g.Name, slices.Clone(g.ContactIDs)
			return Receipt{GroupID: g.ID, RequestID: "rid-group-update"}, nil
		}
	}
	return Receipt{}, &armsFault{fault: FaultInvalid, code: "ParameterIllegal"}
}

func (f *fakeARMS) DeleteGroup(_ context.Context, id string) (Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("group delete")
	for i := range f.groups {
		if f.groups[i].ID == id {
			f.groups = slices.Delete(f.groups, i, i+1)
			return Receipt{GroupID: id, RequestID: "rid-group-delete"}, nil
		}
	}
	return Receipt{}, ErrNotFound
}

// Plan describes a write as the arms package does, in a form a test reads.
func (f *fakeARMS) Plan(w Write) (Request, error) {
	switch w.Action {
	case "create", "update":
		return Request{Action: w.Action + " contact", Params: []Param{{Name: "ContactName", Value: w.Contact.Name},
			{Name: "PhoneNum", Value: w.Contact.Phone, Personal: "phone"}, {Name: "Email", Value: w.Contact.Email, Personal: "email"}}}, nil
	case "delete":
		return Request{Action: "delete contact", Params: []Param{{Name: "ContactId", Value: w.Contact.ID}}}, nil
	case "group create", "group update", "group delete":
		return Request{Action: w.Action, Params: []Param{{Name: "ContactGroupId", Value: w.Group.ID},
			{Name: "ContactGroupName", Value: w.Group.Name}, {Name: "ContactIds", Value: strings.Join(w.Group.ContactIDs, " ")}}}, nil
	}
	return Request{}, fmt.Errorf("no plan for %q", w.Action)
}

// writes counts the ARMS calls that change something.
func (f *fakeARMS) writes() int {
	n := 0
	for _, op := range []string{"create", "update", "delete", "group create", "group update", "group delete"} {
		n += f.called(op)
	}
	return n
}

// fakeDirectory is the organisation directory: people by staff id, or an
// error for every lookup.
type fakeDirectory struct {
	people map[string]Person
	err    error
}

func (d *fakeDirectory) Person(_ context.Context, id string) (Person, error) {
	if d.err != nil {
		return Person{}, d.err
	}
	p, ok := d.people[id]
	if !ok {
		return Person{}, dirError{notFound: true}
	}
	return p, nil
}

// dirError is a failed directory lookup as the DingTalk adapter reports one.
type dirError struct {
	unconfigured bool
	permission   string
	notFound     bool
}

func (e dirError) Error() string      { return "directory: " + e.permission }
func (e dirError) Permission() string { return e.permission }
func (e dirError) NotFound() bool     { return e.notFound }
func (e dirError) Unconfigured() bool { return e.unconfigured }

// armsFault is a failed ARMS call as the arms package reports one.
type armsFault struct {
	fault   Fault
	code    string
	unknown bool
}

func (e *armsFault) Error() string        { return fmt.Sprintf("arms: %s %s", e.fault, e.code) }
func (e *armsFault) Fault() Fault         { return e.fault }
func (e *armsFault) Action() string       { return "CreateAlertContact" }
func (e *armsFault) ErrorCode() string    { return e.code }
func (e *armsFault) Message() string      { return "explained by ARMS" }
func (e *armsFault) RequestID() string    { return "rid-failed" }
func (e *armsFault) OutcomeUnknown() bool { return e.unknown }

// fakeState is the Redis store's part: scopes, pending confirmations, the
// audit trail and whose contacts are whose. err, when set, makes every
// call fail as an outage does.
type fakeState struct {
	mu      sync.Mutex
	scopes  map[string][]string
	pending map[string]Pending
	// approvals by code, and the message that decided each
	approvals map[string]Approval
	decided   map[string]string
	audit     []AuditEntry
	owners    map[string]string
	err       error
}

func (s *fakeState) SetOwner(_ context.Context, contactID, staffID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owners == nil {
		s.owners = map[string]string{}
	}
	s.owners[contactID] = staffID
	return s.err
}

func (s *fakeState) Owner(_ context.Context, contactID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owners[contactID], s.err
}

func (s *fakeState) Scopes(_ context.Context, user string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.scopes[user]), s.err
}

func (s *fakeState) Grant(_ context.Context, user, scope string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.scopes == nil {
		s.scopes = map[string][]string{}
	}
	if !slices.Contains(s.scopes[user], scope) {
		s.scopes[user] = append(s.scopes[user], scope)
	}
	return nil
}

func (s *fakeState) Revoke(_ context.Context, user, scope string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.scopes[user], scope)
	if i < 0 {
		return false, s.err
	}
	s.scopes[user] = slices.Delete(s.scopes[user], i, i+1)
	return true, s.err
}

func (s *fakeState) Holders(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for u, sc := range s.scopes {
		if len(sc) > 0 {
			out = append(out, u)
		}
	}
	return out, s.err
}

func (s *fakeState) Propose(_ context.Context, user, code string, p Pending, _ time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	if s.pending == nil {
		s.pending = map[string]Pending{}
	}
	k := user + ":" + code
	if _, taken := s.pending[k]; taken {
		return false, nil
	}
	s.pending[k] = p
	return true, nil
}

func (s *fakeState) Take(_ context.Context, user, code string) (Pending, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := user + ":" + code
	p, ok := s.pending[k]
	delete(s.pending, k)
	return p, ok, s.err
}

func (s *fakeState) Request(_ context.Context, a Approval) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	if s.approvals == nil {
		s.approvals, s.decided = map[string]Approval{}, map[string]string{}
	}
	if _, taken := s.approvals[a.Code]; taken {
		return false, nil
	}
	s.approvals[a.Code] = a
	return true, nil
}

func (s *fakeState) Approval(_ context.Context, code string) (Approval, string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.approvals[code]
	return a, s.decided[code], ok, s.err
}

func (s *fakeState) Decide(_ context.Context, code, msgID string) (Approval, ApprovalState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Approval{}, 0, s.err
	}
	a, ok := s.approvals[code]
	switch by := s.decided[code]; {
	case !ok:
		return Approval{}, ApprovalNotFound, nil
	case by == "" || by == msgID:
		s.decided[code] = msgID
		return a, ApprovalTaken, nil
	}
	return a, ApprovalDecided, nil
}

func (s *fakeState) Touching(_ context.Context, id string, n int) ([]AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AuditEntry
	for i := len(s.audit) - 1; i >= 0 && len(out) < n; i-- {
		if e := s.audit[i]; e.ContactID == id || slices.Contains(e.Contacts, id) {
			out = append(out, e)
		}
	}
	return out, s.err
}

func (s *fakeState) Recent(_ context.Context, n int, user string) ([]AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AuditEntry
	for i := len(s.audit) - 1; i >= 0 && len(out) < n; i-- {
		if user == "" || s.audit[i].SenderID == user {
			out = append(out, s.audit[i])
		}
	}
	return out, s.err
}

// fakeJournal is one message's record: it keeps what the handler held and
// meant to write, and can carry an earlier owner's intent.
type fakeJournal struct {
	mu     sync.Mutex
	held   []string
	writes []Write
	prior  *Write
	wait   time.Duration // until the prior write could no longer land
	lost   bool          // another process owns the message
}

func (j *fakeJournal) Serialize(_ context.Context, keys ...string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.lost {
		return ErrLostOwnership
	}
	j.held = append(j.held, keys...)
	return nil
}

func (j *fakeJournal) Intend(_ context.Context, w Write, hold ...string) (time.Time, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.lost {
		return time.Time{}, ErrLostOwnership
	}
	for _, k := range hold {
		if !slices.Contains(j.held, k) {
			j.held = append(j.held, k)
		}
	}
	j.writes = append(j.writes, w)
	return time.Now().Add(time.Minute), nil
}

func (j *fakeJournal) Prior() (Write, time.Duration, bool) {
	if j.prior == nil {
		return Write{}, 0, false
	}
	return *j.prior, j.wait, true
}

func (j *fakeJournal) intents() []Write {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.writes)
}

// testRunner is a Runner in English with admin "boss" over the fakes,
// with the legacy contact family.
func testRunner(t *testing.T, mod func(*Settings)) (*Runner, *fakeARMS, *fakeState) {
	t.Helper()
	return testRunnerOf(t, Traits{}, mod)
}

// testRunnerOf is testRunner with a contact family's traits (the legacy
// family's when zero).
func testRunnerOf(t *testing.T, family Traits, mod func(*Settings)) (*Runner, *fakeARMS, *fakeState) {
	t.Helper()
	arms, state, dir := &fakeARMS{traits: family}, &fakeState{}, &fakeDirectory{people: map[string]Person{}}
	s := Settings{Lang: catalog.EN, Admins: []string{"boss"}, VerifyAuto: true}
	if mod != nil {
		mod(&s)
	}
	r := NewRunner(s, Ports{Permissions: state, Confirmations: state, Audit: state, Contacts: arms, Groups: arms, Planner: arms, Directory: dir,
		Verifier: arms, Owners: state, Policies: arms, Robots: arms, Approvals: state},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.pause = func(context.Context, time.Duration) error { return nil } // time passes at once
	return r, arms, state
}

// say handles text from sender in a group chat, as a new message.
func say(r *Runner, sender, text string) Reply {
	return sayWith(r, &fakeJournal{}, sender, text)
}

func sayWith(r *Runner, j *fakeJournal, sender, text string) Reply {
	return r.Handle(context.Background(), Message{ID: "msg-" + sender, SenderID: sender, SenderNick: sender,
		ConversationID: "cid-ops", Text: text}, j)
}

var errRedisDown = fmt.Errorf("redis scopes: %w: %w", ErrUnavailable, errors.New("connection refused"))
