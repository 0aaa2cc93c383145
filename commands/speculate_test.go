package commands

import (
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
				w, hold, ok := r.Speculate(Message{Text: tc.text, SenderID: "boss"})
				if ok != tc.ok {
					t.Fatalf("Speculate said %v, want %v", ok, tc.ok)
				}
				if !ok {
					return
				}
				j := &fakeJournal{}
				if rep := sayWith(r, j, "boss", tc.text); rep.ContactID == "" {
					t.Fatalf("the add did not create: %s", rep.Text)
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
