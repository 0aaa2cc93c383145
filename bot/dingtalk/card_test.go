package dingtalk

import (
	"strings"
	"testing"
)

// A card callback gives the card, the clicker and the button; anything
// else is refused rather than guessed at.
func TestDecodeCardClick(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name, body string
		want       CardClick
		err        bool
	}{
		{"a click", `{"type":"actionCallback","outTrackId":"o1","userId":"u1","corpId":"c","content":"{\"cardPrivateData\":{\"actionIds\":[\"approve\"],\"params\":{\"action\":\"approve\"}}}"}`,
			CardClick{OutTrackID: "o1", UserID: "u1", CorpID: "c", Action: "approve"}, false},
		{"the action id alone", `{"outTrackId":"o1","userId":"u1","content":"{\"cardPrivateData\":{\"actionIds\":[\"reject\"]}}"}`,
			CardClick{OutTrackID: "o1", UserID: "u1", Action: "reject"}, false},
		{"no clicker", `{"outTrackId":"o1","content":"{}"}`, CardClick{}, true},
		{"no card", `{"userId":"u1"}`, CardClick{}, true},
		{"content not JSON", `{"outTrackId":"o1","userId":"u1","content":"{"}`, CardClick{}, true},
		{"an id too long", `{"outTrackId":"` + long + `","userId":"u1"}`, CardClick{}, true},
		{"not JSON", `<xml/>`, CardClick{}, true},
	}
	for _, tc := range tests {
		got, err := DecodeCardClick([]byte(tc.body))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: %+v, %v", tc.name, got, err)
		}
	}
}

// A reply that offers a card keeps the markdown reply whole: it is what
// goes out when no card can, and the only part a message API sees.
func TestCardReplyKeepsItsText(t *testing.T) {
	offer := CardOffer{OutTrackID: OutTrackID("m1"), Kind: "confirm", Code: "K7P2QX", Title: "Confirmation needed", Text: "body"}
	body := CardReply("Confirmation needed", "body", "u1", offer)
	got, text, ok := OfferOf(body)
	if !ok || got != offer {
		t.Fatalf("offer %+v, %v", got, ok)
	}
	if string(text) != string(MarkdownReply("Confirmation needed", "body", "u1")) {
		t.Errorf("text %s", text)
	}
	if _, same, ok := OfferOf(MarkdownReply("Done", "x", "")); ok || string(same) != string(MarkdownReply("Done", "x", "")) {
		t.Error("a plain reply is taken for a card")
	}
	if OutTrackID("m1") == OutTrackID("m2") || OutTrackID("m1") != OutTrackID("m1") {
		t.Error("card ids are not one per message")
	}
}
