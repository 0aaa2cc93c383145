package dingtalk

import (
	"strings"
	"testing"
)

func TestMarkdownReplyMentionsSender(t *testing.T) {
	want := `{"msgtype":"markdown","markdown":{"title":"Done","text":"body\n\n@user123"},"at":{"atUserIds":["user123"],"isAtAll":false}}`
	if got := string(MarkdownReply("Done", "body", "user123")); got != want {
		t.Fatalf("reply\n%s\nwant\n%s", got, want)
	}
	// No staff id (an external member): no mention rather than a broken one.
	if got, want := string(MarkdownReply("Done", "body", "")), `{"msgtype":"markdown","markdown":{"title":"Done","text":"body"}}`; got != want {
		t.Fatalf("reply without staff id\n%s\nwant\n%s", got, want)
	}
	// A staff id from a forged body cannot carry markup or mention more.
	for _, id := range []string{"x [link](http://evil.example)", "all\n@all", "<b>", strings.Repeat("9", 65)} {
		if got, want := string(MarkdownReply("Done", "body", id)), `{"msgtype":"markdown","markdown":{"title":"Done","text":"body"}}`; got != want {
			t.Errorf("staff id %q: reply %s", id, got)
		}
	}
	r, err := DecodeReply(MarkdownReply("Done", "body", "user123"))
	if err != nil || r.Markdown == nil || r.Markdown.Title != "Done" || r.At == nil || r.At.AtUserIDs[0] != "user123" {
		t.Errorf("DecodeReply = %+v, %v", r, err)
	}
}

func TestEmptyReply(t *testing.T) {
	if !IsEmptyReply(EmptyReply()) || IsEmptyReply(MarkdownReply("t", "x", "")) {
		t.Fatal("IsEmptyReply does not tell the empty reply from a markdown one")
	}
	if r, err := DecodeReply(EmptyReply()); err != nil || r.MsgType != "empty" {
		t.Fatalf("the empty reply decodes as %+v, %v", r, err)
	}
}

func TestReplyContentForTheOpenAPI(t *testing.T) {
	title, text, err := ReplyContent(MarkdownReply("Done", "Created **A**", "user123"), "user123")
	if err != nil || title != "Done" || text != "Created **A**" {
		t.Errorf("ReplyContent = %q, %q, %v; want the reply without its mention", title, text, err)
	}
	if _, _, err := ReplyContent(EmptyReply(), "user123"); err == nil {
		t.Error("the empty reply has content")
	}
}
