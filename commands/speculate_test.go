package commands

import (
	"context"
	"reflect"
	"slices"
	"testing"
)

// What Speculate says an add will write is exactly what the add then
// records: otherwise the admission's intent is wasted (an add costs a
// round trip more) or, worse, the locks it took are not the ones the add
// needs. What it cannot know (a person from the directory, a group, a dry
// run, a command that is not a plain add) it does not guess.
func TestSpeculateIsWhatTheAddWrites(t *testing.T) {
	for _, fam := range []struct {
		name   string
		traits Traits
	}{{"legacy", Traits{}}, {"alert-management", alertManagement}} {
		for _, tc := range []struct {
			text string
			ok   bool
		}{
			{"/contact add name=Kim email=Kim@Example.com", true},
			// Only Alert Management has a fallback setting.
			{"/contact add name=Kim phone=138 1111 2222 email=kim@example.com fallback=sms", fam.traits.Unique},
			{"/contact add name=Kim phone=138 1111 2222 email=kim@example.com", true},
			// Alert Management has no such setting: the add is refused.
			{"/contact add name=Kim email=kim@example.com systemnoc=true", !fam.traits.Unique},
			{"/contact add 名字=金 电话=13811112222", true},
			{"/contact add name=Kim email=kim@example.com group=7", false},
			{"/contact add name=Kim email=kim@example.com dry-run=true", false},
			{"/contact add me", false},
			{"/contact add name=Kim", false},
			{"/contact show 1", false},
			{"hello", false},
		} {
			t.Run(fam.name+"/"+tc.text, func(t *testing.T) {
				r, _, _ := testRunnerOf(t, fam.traits, nil)
				read, w, hold, ok := r.Speculate(Message{Text: tc.text, SenderID: "boss"})
				if ok != tc.ok {
					t.Fatalf("Speculate said %v, want %v", ok, tc.ok)
				}
				if !ok {
					return
				}
				// The add runs on the text as Speculate read it.
				j := &fakeJournal{}
				m := Message{ID: "msg-boss", SenderID: "boss", SenderNick: "boss", ConversationID: "cid-ops", Text: tc.text, Read: read}
				if rep := r.Handle(context.Background(), m, j); rep.ContactID == "" {
					t.Fatalf("the add did not create: %s", rep.Text)
				}
				if read == nil || !read.used {
					t.Error("the add read its text again")
				}
				for _, k := range hold {
					if !slices.Contains(j.held, k) {
						t.Errorf("Speculate holds %q; the add held %v", k, j.held)
					}
				}
				got := j.intents()
				switch {
				case fam.traits.Unique && w == nil:
					t.Error("no write foretold where the add is one create")
				case !fam.traits.Unique && w != nil:
					t.Errorf("a write foretold where the add searches first: %+v", *w)
				case w != nil && (len(got) == 0 || !reflect.DeepEqual(got[0], *w)):
					t.Errorf("foretold %+v, the add intended %+v", *w, got)
				}
			})
		}
	}
}

// A message run twice (its first run found Redis unreachable) reads its
// text anew the second time: a Call carries one run's state, and the
// second run answers as a message with nothing read before would.
func TestReadServesOneRun(t *testing.T) {
	r, _, _ := testRunner(t, nil)
	const text = "/contact add name=Kim email=kim@example.com"
	read, _, _, _ := r.Speculate(Message{Text: text})
	m := Message{ID: "m", SenderID: "boss", ConversationID: "cid-ops", Text: text, Read: read}
	if first := r.Handle(context.Background(), m, &fakeJournal{}); first.ContactID == "" {
		t.Fatalf("first run: %s", first.Text)
	}
	second := r.Handle(context.Background(), m, &fakeJournal{})
	m.Read = nil
	fresh := r.Handle(context.Background(), m, &fakeJournal{})
	if second.Outcome != fresh.Outcome || second.Title != fresh.Title || second.Outcome == "ok" {
		t.Errorf("second run answered %q (%s), want what a fresh read answers: %q (%s)", second.Outcome, second.Title, fresh.Outcome, fresh.Title)
	}
}
