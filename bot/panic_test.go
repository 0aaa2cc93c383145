package bot

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/armsbot/armsbot/commands"
	"github.com/armsbot/armsbot/commands/catalog"
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

func TestAPanickingCommandGetsAnInternalErrorReply(t *testing.T) {
	a, handler := testApp(t, map[string]string{"BOT_ADMINS": "boss", "BOT_LANG": "en"})
	a.dispatcher.runner = commands.NewRunner(commands.Settings{Lang: catalog.EN, Admins: []string{"boss"}},
		commands.Ports{Permissions: a.store, Confirmations: a.store, Audit: a.store, Contacts: panickingContacts{}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	post := func(id, text string) string {
		_, body := serveSigned(handler, id, "boss", text)
		return body
	}
	if got := post("p1", "/contact add name=P email=p@example.com"); !strings.Contains(got, "Internal error") || !strings.Contains(got, "p1") {
		t.Fatalf("panicking command answered %s", got)
	}
	if got := post("p2", "/whoami"); !strings.Contains(got, "boss") {
		t.Fatalf("the bot stopped working after a panic: %s", got)
	}
}
