package commands

import (
	"context"
	"time"
)

// The core's ports: what the handlers need from the outside world, declared
// here by their consumer. The arms package implements Contacts, Groups and
// Planner; the Redis store Permissions, Confirmations and AuditLog; the
// DingTalk adapter the Directory.

// Contacts is what the handlers need of ARMS.
type Contacts interface {
	// Traits are what the configured contact family promises and offers.
	Traits() Traits
	CreateContact(ctx context.Context, c Contact) (Receipt, error)
	SearchContacts(ctx context.Context, q ContactQuery) (ContactPage, error)
	// UpdateContact replaces every field of the contact c.ID.
	UpdateContact(ctx context.Context, c Contact) (Receipt, error)
	// DeleteContact returns ErrNotFound when there was nothing to delete.
	DeleteContact(ctx context.Context, id string) (Receipt, error)
}

// Traits are what a contact family of ARMS promises and offers; the arms
// package knows which family is configured and what it documents.
type Traits struct {
	Family string // as ARMS_CONTACT_API names it
	// Unique: ARMS documents that a phone or email belongs to one contact
	// only, and refuses a second.
	Unique bool
	// Robots: a contact may be a DingTalk robot's webhook.
	Robots bool
	// Verification: ARMS says whether a phone is verified, and sends the
	// link that verifies it (PhoneVerifier).
	Verification bool
	// Fallback: what happens to an unanswered call can be set.
	Fallback bool
	// SystemNoc: a contact may receive ARMS's system notifications.
	SystemNoc bool
	// IMRobots: a group chat's robot is an IM robot of its own (Robots),
	// which a notification policy names beside contacts and groups.
	IMRobots bool
}

// PhoneVerifier sends a contact's phone ARMS's verification link: ARMS
// calls and texts only verified numbers.
type PhoneVerifier interface {
	SendVerification(ctx context.Context, contactID, phone string) (Receipt, error)
}

// Groups is what the handlers need of ARMS's contact groups: alerts reach
// a contact only through a group that an alert rule or notification policy
// uses.
type Groups interface {
	CreateGroup(ctx context.Context, name string, contactIDs []string) (Receipt, error)
	// SearchGroups is not paged: ARMS returns every group that matches.
	SearchGroups(ctx context.Context, q GroupQuery) (GroupList, error)
	// UpdateGroup replaces the group's name and its whole member list.
	UpdateGroup(ctx context.Context, g Group) (Receipt, error)
	// DeleteGroup returns ErrNotFound when there was nothing to delete.
	DeleteGroup(ctx context.Context, id string) (Receipt, error)
}

// Group is an ARMS contact group.
type Group struct {
	ID         string
	Name       string
	ContactIDs []string  // every member, in ARMS's order
	Members    []Contact // the members in full, when searched with Detail
}

// GroupQuery filters SearchGroups; empty fields do not filter.
type GroupQuery struct {
	IDs       []string
	Name      string // partial match
	ContactID string // groups this contact belongs to
	Detail    bool   // include the members
	MemberIDs bool   // include the members' ids (ContactIDs), not their details
}

// GroupList is what SearchGroups found.
type GroupList struct {
	Groups    []Group
	RequestID string
}

// ContactQuery filters SearchContacts; empty fields do not filter.
type ContactQuery struct {
	IDs      []string
	Name     string
	Phone    string
	Email    string
	Page     int // 1-based
	PageSize int
}

// ContactPage is one page of search results.
type ContactPage struct {
	Contacts  []Contact
	Total     int
	Page      int
	PageSize  int
	RequestID string
}

// Receipt identifies what a successful ARMS write produced.
type Receipt struct {
	ContactID string
	GroupID   string
	RobotID   string
	RequestID string
}

// Policies reads ARMS's notification policies: where alerts go.
type Policies interface {
	// NotificationPolicies returns every policy, every page of them, with
	// the receivers each names.
	NotificationPolicies(ctx context.Context) ([]Policy, error)
}

// Policy is an ARMS notification policy, as far as whom it reaches.
type Policy struct {
	ID, Name string
	Enabled  bool
	Channels []string // its notification methods (dingTalk, email, sms, tts, webhook)
	// Receivers are what it notifies: contacts, groups and robots of the
	// configured family, and whatever else it names.
	Receivers []Receiver
	// Escalates: an escalation policy may notify others when an alert
	// stays unresolved; who is not in the policy itself.
	Escalates bool
}

// ReceiverKind is what a policy's receiver is, to this bot.
type ReceiverKind string

const (
	ReceiverContact ReceiverKind = "contact"
	ReceiverGroup   ReceiverKind = "group"
	ReceiverRobot   ReceiverKind = "robot"
	// ReceiverOther is what the bot does not manage: an on-call schedule,
	// a webhook, a contact or group of the other family. It still receives.
	ReceiverOther ReceiverKind = "other"
)

// Receiver is one object a policy notifies.
type Receiver struct {
	Kind ReceiverKind
	ID   string
	Name string
	// Type is ARMS's name for the kind (NotifyObjectType), shown for
	// ReceiverOther.
	Type     string
	Channels []string
}

// Robots is what the handlers need of ARMS's IM robots (Alert
// Management): a group chat's robot that policies notify.
type Robots interface {
	CreateRobot(ctx context.Context, rb Robot) (Receipt, error)
	// SearchRobots returns every robot that matches, every page of them.
	SearchRobots(ctx context.Context, q RobotQuery) ([]Robot, error)
	// DeleteRobot returns ErrNotFound when there was nothing to delete.
	DeleteRobot(ctx context.Context, id string) (Receipt, error)
}

// Robot is an ARMS IM robot.
type Robot struct {
	ID, Name string
	Webhook  string // the robot's address, access token included
	// Secret is the robot's signing secret (加签), sent on create only: it
	// is never read back, shown, logged or kept.
	Secret string `json:"-"`
	// Signed: ARMS holds a signing secret for the robot.
	Signed bool
	// Daily are the times of day ARMS sends the robot a summary
	// ("09:30"); none when off.
	Daily []string
	// Policies are the notification policies that name the robot, as ARMS
	// lists them with it.
	Policies []PolicyRef
}

// PolicyRef names a policy.
type PolicyRef struct{ ID, Name string }

// RobotQuery filters SearchRobots; empty fields do not filter.
type RobotQuery struct {
	IDs  []string
	Name string
}

// Journal is one message's record in the shared state, as its handler sees
// it: what the message holds and what it is about to write, so that
// whichever process finishes the message after a crash or a hand-over
// knows. The dispatcher gives every message its own. Its methods return
// ErrLostOwnership once another process owns the message: the handler then
// stops, writes nothing, and its reply is dropped.
type Journal interface {
	// Serialize returns once this message alone holds every key (a
	// contact's email, phone or robot URL); they stay held until the
	// message is settled, so two messages never add the same person at once.
	Serialize(ctx context.Context, keys ...string) error
	// Intend records w before it is written. The write must be sent before
	// the returned time or not at all. Keys in hold are taken first, as
	// Serialize takes them; when nothing stands in the way, taking them and
	// recording w may cost one round trip instead of two.
	Intend(ctx context.Context, w Write, hold ...string) (sendBy time.Time, err error)
	// Prior is the write an earlier owner of this message recorded, and how
	// long from now until that write was sent or abandoned; ok is false
	// when there is none.
	Prior() (w Write, wait time.Duration, ok bool)
}

// Write is a change a handler is about to make, as its journal keeps it.
type Write struct {
	// Action is "create", "update", "delete" (a contact), "group create",
	// "group update", "group delete", "robot create", "robot delete", or
	// "revoke".
	Action  string  `json:"action"`
	Contact Contact `json:"contact,omitzero"`
	Group   Group   `json:"group,omitzero"`
	// Members are the contacts a group update adds or removes: this
	// message's own change, which a process finishing the message reports
	// as done even when it finds it done already.
	Members []string `json:"members,omitempty"`
	// Robot is the robot a robot write creates or deletes; its secret is
	// never recorded (Robot.Secret is left out of the JSON).
	Robot Robot `json:"robot,omitzero"`
	// From is a renamed group's name before the rename.
	From  string `json:"from,omitempty"`
	User  string `json:"user,omitempty"`
	Scope string `json:"scope,omitempty"`
	// Batch is the whole import a row's write belongs to, and Row its
	// index: whoever finishes the message resumes the import from it.
	Batch []string `json:"batch,omitempty"`
	Row   int      `json:"row,omitempty"`
}

// Planner says what a write would send to ARMS, for a dry run: the arms
// package knows the requests; the core only shows them.
type Planner interface {
	Plan(w Write) (Request, error)
}

// Request is one ARMS request as a dry run shows it.
type Request struct {
	Action string
	Params []Param
}

// Param is one parameter of a Request; Personal names the kind of
// personal data it holds ("phone", "email", "webhook"), masked in groups.
type Param struct {
	Name, Value string
	Personal    string
}

// Directory is the organisation's directory of people, for filling a
// contact from a staff id (/contact add me).
type Directory interface {
	Person(ctx context.Context, staffID string) (Person, error)
}

// Person is what the directory knows of someone; empty when it does not
// say.
type Person struct {
	Name   string
	Mobile string // as the directory keeps it
	// StateCode is the mobile's country calling code ("86").
	StateCode string
	Email     string
	// Withheld are fields the directory left out because the app may not
	// read them, rather than because the person has none.
	Withheld []Withheld
}

// Withheld is a field of a Person the directory did not return, and the
// permission the app needs in the developer console to read it.
type Withheld struct {
	Field      string // "mobile", "email"
	Permission string
}

// DirectoryError is what the core needs to know of a failed directory
// lookup; the DingTalk adapter's errors implement it.
type DirectoryError interface {
	error
	// Permission is the permission the app must be granted in the
	// developer console, when that is what is missing.
	Permission() string
	// NotFound: no such person in the organisation.
	NotFound() bool
	// Unconfigured: the bot has no DingTalk app to ask with: its operator
	// sets one, not an admin of the developer console.
	Unconfigured() bool
}

// Owners remembers whose contact a contact is: the person /contact add me
// or @someone added, who may verify their own contact's phone without
// contact.update.
type Owners interface {
	SetOwner(ctx context.Context, contactID, staffID string) error
	// Owner is "" when nobody is known.
	Owner(ctx context.Context, contactID string) (string, error)
}

// Permissions keeps per-user scopes.
type Permissions interface {
	Scopes(ctx context.Context, userID string) ([]string, error)
	Grant(ctx context.Context, userID, scope string) error
	// Revoke reports whether the user held the scope.
	Revoke(ctx context.Context, userID, scope string) (bool, error)
	// Holders lists every user with at least one grant.
	Holders(ctx context.Context) ([]string, error)
}

// Confirmations keeps destructive actions waiting for their confirmation
// code.
type Confirmations interface {
	// Propose keeps p under user's code for ttl; false when the code is taken.
	Propose(ctx context.Context, user, code string, p Pending, ttl time.Duration) (bool, error)
	// Take removes and returns user's pending action under code, if any.
	Take(ctx context.Context, user, code string) (Pending, bool, error)
}

// Pending is an action waiting for /confirm.
type Pending struct {
	Action    string `json:"action"` // "delete" (a contact), "group delete", "robot delete"
	ContactID string `json:"contact_id,omitempty"`
	GroupID   string `json:"group_id,omitempty"`
	RobotID   string `json:"robot_id,omitempty"`
	Name      string `json:"name"`
	// Force: the sender asked, with contact.force, to delete it even when
	// it is the last receiver of an enabled notification policy.
	Force bool `json:"force,omitempty"`
	// Rows are an import's contacts, each as /contact add's key=value
	// text, checked at the preview.
	Rows []string `json:"rows,omitempty"`
}

// AuditLog reads the audit trail.
type AuditLog interface {
	// Recent returns up to n entries, newest first; only user's when set.
	Recent(ctx context.Context, n int, user string) ([]AuditEntry, error)
	// Touching returns up to n entries that touched the contact, newest
	// first: its ContactID, or one of its Contacts.
	Touching(ctx context.Context, contactID string, n int) ([]AuditEntry, error)
}

// AuditEntry is one handled message in the audit trail.
type AuditEntry struct {
	Time           time.Time
	MsgID          string
	SenderID       string
	SenderNick     string
	ConversationID string
	Command        string
	Args           string // masked
	Outcome        string
	RequestID      string // ARMS RequestId
	ContactID      string
	// Contacts are every contact the command touched (a group's members
	// added or removed), GroupID the group.
	Contacts   []string
	GroupID    string
	RobotID    string
	RequestRef string // the bot's own request id, as in its logs
	// Policies are the notification policies a delete touched, by name
	// and id; those it left without a receiver end in " [silenced]".
	Policies []string
	// Approval is the code of a request waiting for a second person (on
	// the request's entry); RequestedBy who asked for what this entry's
	// sender approved or refused.
	Approval    string
	RequestedBy string
}
