package dispatch

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/redisstore"
	"github.com/armsbot/armsbot/commands/catalog"
)

// fakeCardAPI records the data the bot puts on cards.
type fakeCardAPI struct{ public, private []string }

func (f *fakeCardAPI) DeliverCard(_ context.Context, _, _ string, _ *dingtalk.Message, data map[string]string, _ string) error {
	f.public = append(f.public, slices.Collect(maps.Keys(data))...)
	return nil
}

func (f *fakeCardAPI) UpdateCard(_ context.Context, _ string, data map[string]string, _ string, private map[string]string) error {
	f.public = append(f.public, slices.Collect(maps.Keys(data))...)
	f.private = append(f.private, slices.Collect(maps.Keys(private))...)
	return nil
}

type fakeCardStore struct{}

func (fakeCardStore) RememberCard(context.Context, string, redisstore.CardRecord) error { return nil }
func (fakeCardStore) Card(context.Context, string) (redisstore.CardRecord, bool, error) {
	return redisstore.CardRecord{}, false, nil
}

// The template an operator builds from deploy/dingtalk/confirm-card.json
// has every variable the bot fills, public or private, and a button for
// every action a card of each kind takes, and nothing the bot ignores.
func TestCardTemplateMatchesTheBot(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/dingtalk/confirm-card.json")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Variables []struct {
			Name    string
			Private bool
		}
		Buttons []struct{ Kind, Action string }
	}
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	api := &fakeCardAPI{}
	d := &Dispatcher{cards: &Cards{API: api, Store: fakeCardStore{}, TemplateID: "tpl"}}
	m := &dingtalk.Message{MsgID: "m", ConversationID: "cid", SenderStaffID: "u1"}
	if err := d.deliverCard(t.Context(), &ticket{m: m}, dingtalk.CardOffer{OutTrackID: "o", Kind: "approval", Code: "K7P2QX",
		Title: "Approval needed", Text: "body", Expires: dingtalk.MillisOf(time.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	click := &dingtalk.Message{MsgID: "c", SenderStaffID: "u2", CardTrack: "o"}
	for _, title := range []string{catalog.EN.T("title.ok"), catalog.EN.T("title.cancelled"), catalog.EN.T("title.denied")} {
		if err := d.updateCard(t.Context(), &ticket{m: click}, dingtalk.MarkdownReply(title, "text", "u2")); err != nil {
			t.Fatal(err)
		}
	}
	var public, private []string
	for _, v := range tpl.Variables {
		if v.Private {
			private = append(private, v.Name)
		} else {
			public = append(public, v.Name)
		}
	}
	for name, got := range map[string][]string{"public": api.public, "private": api.private} {
		want := map[string][]string{"public": public, "private": private}[name]
		got = slices.Compact(slices.Sorted(slices.Values(got)))
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s variables: the bot fills %v, the template declares %v", name, got, want)
		}
	}
	var actions []string
	for _, b := range tpl.Buttons {
		actions = append(actions, b.Kind+":"+b.Action)
	}
	var want []string
	for kind, bs := range buttons {
		for action := range bs {
			want = append(want, kind+":"+action)
		}
	}
	slices.Sort(actions)
	slices.Sort(want)
	if !slices.Equal(actions, want) {
		t.Errorf("buttons: the template has %v, the bot takes %v", actions, want)
	}
}
