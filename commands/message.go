package commands

import "time"

// Message is what a handler knows of one chat message, whatever the chat
// platform's wire format.
type Message struct {
	ID             string
	SenderID       string // the stable id permissions are keyed by
	SenderNick     string
	ConversationID string
	// Private: positively a one-to-one chat, the only place a reply shows
	// phone numbers, email addresses and robot tokens in full. The zero
	// value masks.
	Private  bool
	Text     string
	Mentions []string // ids of other people @-mentioned in the message
	// Grants are the sender's permission scopes when they were read with
	// the message (in the same round trip as its claim); nil when not.
	Grants []string
	// Sent is when the sender sent the message, as DingTalk says.
	Sent time.Time
	// MayHaveRun: the shared state lost its data after this message may
	// have been handled, so an earlier delivery may have run it and left
	// no record: what it would create may be its own doing.
	MayHaveRun bool
	// Progress, when set, tells the sender how a long command is going
	// (an import), besides its one reply at the end.
	Progress func(Reply) `json:"-"`
	// Read is what Speculate read of Text, which Handle then need not
	// read again; nil when nothing was.
	Read *Read `json:"-"`
}

// Read is a message's text as Speculate read it, for its first Handle.
type Read struct {
	text string
	call *Call
	used bool // a Call carries one run's state: a second run reads anew
}

// RowAudit is one row of a command that did many things (an import):
// its own entry in the audit trail.
type RowAudit struct {
	Command   string
	Args      string // masked
	Outcome   string
	ContactID string
	RequestID string
}

// Result is what a handler produced on success.
type Result struct {
	Text      string // markdown body in the runner's language
	ContactID string
	Contacts  []string // every contact touched, for the audit trail
	GroupID   string
	RobotID   string
	RequestID string
	// Policies are the notification policies a delete touched; those it
	// left without a receiver end in " [silenced]".
	Policies []string
	DryRun   bool // nothing was written: the reply shows what would be
	// Title, a catalog key, overrides the command's: a delete that waits
	// for /confirm has done nothing yet.
	Title string
	// Rows are what each row of a command that did many things did.
	Rows []RowAudit
	// RequestedBy is the staff id of who asked for what a second person
	// approved (or rejected).
	RequestedBy string
	// VerifyPending is a contact whose phone ARMS will not call until it
	// is verified, and whose adder is to be reminded.
	VerifyPending string
}

// Reply is the outcome of handling one message, ready to send and to log.
type Reply struct {
	Title     string
	Text      string
	Command   string // e.g. "contact add"; "" when no command was recognised
	Args      string // the arguments, masked for the audit trail
	Outcome   string // ok, invalid, denied, not_found, exists, unavailable, arms_error, error, hint
	ContactID string
	Contacts  []string
	GroupID   string
	RobotID   string
	RequestID string
	Policies  []string // the policies a delete touched (Result.Policies)
	// VerifyPending: remind the sender, in this conversation, while this
	// contact's phone stays unverified (BOT_VERIFY_REMIND).
	VerifyPending string
	// RequestedBy: the command ran (or was rejected) on a second
	// person's decision; this is who asked for it. Approval is the code
	// of a request this reply holds.
	RequestedBy string
	Approval    string
	// Decision: the reply asks for a decision (a delete's confirmation, a
	// request's approval), which DingTalk cards can show with buttons.
	Decision *Decision
	// Rows are audited each on their own, after the message's entry.
	Rows []RowAudit
	Err  error // the full cause, for logs only
}
