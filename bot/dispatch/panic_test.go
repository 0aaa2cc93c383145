package dispatch_test

import (
	"context"
	"strings"
	"testing"

	"github.com/armsbot/armsbot/bot/dispatch"
	"github.com/armsbot/armsbot/commands"
)

// panickingContacts stands in for an ARMS client with a bug.
type panickingContacts struct{}

func (panickingContacts) Traits() commands.Traits {
	return commands.Traits{Family: "legacy", Robots: true, SystemNoc: true}
}

func (panickingContacts) CreateContact(context.Context, commands.Contact) (commands.Receipt, error) {
	panic("bug in create")
}
func (panickingContacts) SearchContacts(context.Context, commands.ContactQuery) (commands.ContactPage, error) {
	return commands.ContactPage{}, nil
}
func (panickingContacts) UpdateContact(context.Context, commands.Contact) (commands.Receipt, error) {
	panic("bug in update")
}
func (panickingContacts) DeleteContact(context.Context, string) (commands.Receipt, error) {
	panic("bug in delete")
}

// A bug in one command answers its sender with an internal error that
// names the message, and the next command runs.
func TestAPanickingCommandGetsAnInternalErrorReply(t *testing.T) {
	t.Parallel()
	r := newRigWith(t, dispatch.Config{}, panickingContacts{})
	m := r.message(boss, "/contact add name=P email=p@example.com")
	a := r.d.Webhook(t.Context(), m, "req-1")
	a.Report(true)
	if got := string(a.Body); !strings.Contains(got, "Internal error") || !strings.Contains(got, m.MsgID) {
		t.Fatalf("panicking command answered %s", got)
	}
	if got := string(r.d.Webhook(t.Context(), r.message(boss, "/whoami"), "req-2").Body); !strings.Contains(got, boss) {
		t.Fatalf("the bot stopped working after a panic: %s", got)
	}
	if !strings.Contains(r.logs.String(), "bug in create") {
		t.Error("the panic is not logged")
	}
}
