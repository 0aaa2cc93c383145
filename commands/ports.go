package commands

import (
	"context"
	"time"
)

// The core's ports: what the handlers need from the outside world, declared
// here by their consumer. The arms package implements Contacts; the Redis
// store implements Permissions, Confirmations and AuditLog.

// Contacts is what the handlers need of ARMS.
type Contacts interface {
	CreateContact(ctx context.Context, c Contact) (Receipt, error)
	SearchContacts(ctx context.Context, q ContactQuery) (ContactPage, error)
	// UpdateContact replaces every field of the contact c.ID.
	UpdateContact(ctx context.Context, c Contact) (Receipt, error)
	// DeleteContact returns ErrNotFound when there was nothing to delete.
	DeleteContact(ctx context.Context, id string) (Receipt, error)
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
	RequestID string
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
	// the returned time or not at all.
	Intend(ctx context.Context, w Write) (sendBy time.Time, err error)
	// Prior is the write an earlier owner of this message recorded, and how
	// long from now until that write was sent or abandoned; ok is false
	// when there is none.
	Prior() (w Write, wait time.Duration, ok bool)
}

// Write is a change a handler is about to make, as its journal keeps it.
type Write struct {
	Action  string  `json:"action"` // "create", "update", "delete", "revoke"
	Contact Contact `json:"contact,omitzero"`
	User    string  `json:"user,omitempty"`
	Scope   string  `json:"scope,omitempty"`
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
	Action    string `json:"action"` // "delete"
	ContactID string `json:"contact_id"`
	Name      string `json:"name"`
}

// AuditLog reads the audit trail.
type AuditLog interface {
	// Recent returns up to n entries, newest first; only user's when set.
	Recent(ctx context.Context, n int, user string) ([]AuditEntry, error)
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
	RequestRef     string // the bot's own request id, as in its logs
}
