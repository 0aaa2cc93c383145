package commands

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/commands/catalog"
)

// What a sender, a nickname or another ARMS client can put in front of the
// group. Each must come out inert wherever it is shown.
var injections = []string{
	"[点此领取](http://evil.example/prize)",
	"![x](http://evil.example/t.png)",
	"<font color=red>系统通知</font>",
	"<img src=http://evil.example/x.png>",
	"a`b",
	"@all 紧急",
	"@所有人",
	"http://evil.example/login",
	"www.evil.example",
	"evil\u202Egnp.exe",
	"line\n# heading\n> quote",
}

func inert(t *testing.T, what, text string) {
	t.Helper()
	if live := catalog.LiveMarkup(text); len(live) > 0 {
		t.Errorf("%s has live markup %q:\n%s", what, live, text)
	}
}

// A contact stored in ARMS by anyone (the console, another tool) shows inert
// in /contact show, /contact list and the delete confirmation.
func TestARMSDataShowsInert(t *testing.T) {
	for _, inj := range injections {
		r, arms, _ := testRunner(t, nil)
		id := arms.add(Contact{Name: inj, Email: "x" + inj + "@example.com", Phone: inj, Webhook: inj})
		for _, text := range []string{"/contact show " + id, "/contact list", "/contact delete " + id} {
			rep := say(r, "boss", text)
			if rep.Outcome != "ok" {
				t.Fatalf("%q with name %q: %+v", text, inj, rep)
			}
			inert(t, text+" of "+inj, rep.Text)
		}
	}
}

// What a sender types comes back inert in error replies, whoever they are,
// and a sender without permission gets no echo of it at all.
func TestSenderInputEchoesInert(t *testing.T) {
	for _, inj := range injections {
		r, _, _ := testRunner(t, nil)
		for _, tc := range []struct{ sender, text string }{
			{"boss", "/contact add name=A email=a@example.com " + inj},
			{"boss", "/contact add name=A email=" + inj},
			{"boss", "/contact show " + inj},
			{"boss", "/contact add name=A " + strings.ReplaceAll(inj, " ", "") + "=x email=a@example.com"},
			{"boss", "/" + inj},
			{"boss", "/help " + inj},
			{"boss", "/perm grant x " + inj},
			{"nobody", "/contact add name=A email=a@example.com " + inj},
		} {
			rep := say(r, tc.sender, tc.text)
			if rep.Outcome == "ok" {
				continue
			}
			inert(t, tc.text, rep.Text)
			if tc.sender == "nobody" && rep.Outcome != string(EFORBIDDEN) {
				t.Errorf("%q from a sender without permission: %s, want denied first", tc.text, rep.Outcome)
			}
		}
	}
}

// A name that reads as something else is refused at the door.
func TestNamesRefuseInvisibleFormatting(t *testing.T) {
	r, arms, _ := testRunner(t, nil)
	for _, name := range []string{"evil\u202Egnp.exe", "a\u2066b\u2069", "x\u202Ay"} {
		rep := say(r, "boss", "/contact add name="+name+" email=n@example.com")
		if rep.Outcome != string(EINVALID) || !strings.Contains(rep.Text, "invisible formatting") {
			t.Errorf("name %q: %s %q", name, rep.Outcome, rep.Text)
		}
	}
	if n := arms.called("create"); n != 0 {
		t.Errorf("%d creates", n)
	}
}

// Nicknames, commands and outcomes in /audit are inert.
func TestAuditShowsInert(t *testing.T) {
	r, _, state := testRunner(t, nil)
	for i, inj := range injections {
		state.audit = append(state.audit, AuditEntry{Time: time.Unix(int64(i), 0), SenderID: "u" + inj, SenderNick: inj,
			Command: "contact add", Args: "name=" + inj, Outcome: "ok", ContactID: inj})
	}
	rep := say(r, "boss", "/audit 50")
	if rep.Outcome != "ok" {
		t.Fatalf("%+v", rep)
	}
	inert(t, "/audit", rep.Text)
}

// Phone numbers typed with separators are masked wherever a group sees
// them: an error's echo, the audit trail.
func TestSpacedPhonesAreMasked(t *testing.T) {
	r, _, _ := testRunner(t, nil)
	// 5678 and 7890 are in no example the catalog gives.
	for _, tc := range []struct{ text, full string }{
		{"/contact add name=A phone=137 5678 78901", "5678"},
		{"/contact add name=A phone=137 5678 7890x", "5678"},
		{"/contact add name=A phone=135.5678.7890.6", "5678"},
		{"/contact add name=A email=a@example.com 137 5678 7890", "5678"},
		{"/contact add name=A email=a@example.com (010) 5678-7890", "5678"},
		{"/contact show 137-5678-7890", "5678"},
		{"/contcat add phone=+86 137 5678 7890", "5678"},
	} {
		rep := say(r, "boss", tc.text)
		if rep.Outcome == "ok" {
			t.Fatalf("%q was run", tc.text)
		}
		if strings.Contains(rep.Text, tc.full) || strings.Contains(rep.Args, tc.full) {
			t.Errorf("%q: the group sees %q in\n%s\naudit: %s", tc.text, tc.full, rep.Text, rep.Args)
		}
	}
}

// Only a positively private chat shows a sender's input unmasked.
func TestPrivateChatsEchoInFull(t *testing.T) {
	r, _, _ := testRunner(t, nil)
	rep := r.Handle(context.Background(), Message{ID: "m", SenderID: "boss", Private: true,
		Text: "/contact add name=A phone=137 5678 78901"}, &fakeJournal{})
	contains(t, "private reply", rep.Text, "137 5678 78901")
}

// Every problem of a command is in one reply, after the permission check.
func TestEveryProblemInOneReply(t *testing.T) {
	r, _, _ := testRunner(t, nil)
	rep := say(r, "boss", "/contact add name= emial=x@example.com phone=12345 hello there systemnoc=maybe again")
	if rep.Outcome != string(EINVALID) {
		t.Fatalf("%+v", rep)
	}
	contains(t, "reply", rep.Text, "6 problems", "Key name has no value", "Unknown key emial, did you mean email?",
		"Unexpected text: hello there", "Unexpected text: again", "Phone 12345 is not valid", "Key systemnoc takes true or false, got maybe", "Usage: /contact add")
	if strings.Count(rep.Text, "Usage:") != 1 {
		t.Errorf("the usage line is repeated:\n%s", rep.Text)
	}
	if rep := say(r, "nobody", "/contact add name= emial=x hello"); rep.Outcome != string(EFORBIDDEN) {
		t.Errorf("a sender without permission got %s, want denied before any detail", rep.Outcome)
	}
}

// A robot's URL stays a URL that works when copied: whole in a one-to-one
// chat, its token masked in a group (without stars that would make
// emphasis). A URL that is not a DingTalk robot's, stored by someone
// through the console, is shown inert.
func TestRobotURLsAreShownUsable(t *testing.T) {
	const hook = "https://oapi.dingtalk.com/robot/send?access_token=91f2f6abc0d1e2"
	tests := []struct {
		name, stored string
		private      bool
		want, never  []string
	}{
		{"whole in a one-to-one chat", hook, true, []string{hook}, []string{"https："}},
		{"masked in the group", hook, false, []string{"https://oapi.dingtalk.com/robot/send?access_token=91f2∗∗∗∗"}, []string{"f6abc0d1e2", "access_token=91f2*", "https："}},
		{"another site", "https://evil.example/robot/send?access_token=91f2f6abc0d1e2", true, []string{"evil.example"}, []string{"https://evil"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, arms, _ := testRunner(t, nil)
			id := arms.add(Contact{Name: "Bot", Webhook: tc.stored})
			rep := r.Handle(context.Background(), Message{ID: "m", SenderID: "boss", Private: tc.private, ConversationID: "cid",
				Text: "/contact show " + id}, &fakeJournal{})
			contains(t, "show", rep.Text, tc.want...)
			for _, s := range tc.never {
				if strings.Contains(rep.Text, s) {
					t.Errorf("shows %q:\n%s", s, rep.Text)
				}
			}
		})
	}
}
