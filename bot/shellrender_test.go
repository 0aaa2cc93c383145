package bot

import (
	"testing"

	"github.com/armsbot/armsbot/bot/dingtalk"
)

// A reply reads on a terminal as it reads in the chat, without markdown's
// marks.
func TestTerminalText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   []byte
		styled bool
		want   string
	}{
		{"bold dropped", dingtalk.MarkdownReply("Done", "Created **A**, ContactId: **7**", "u1"), false,
			"Done\n  Created A, ContactId: 7\n  \n  @u1\n\n"},
		{"bold kept on a terminal", dingtalk.MarkdownReply("Done", "**A**", ""), true,
			"\x1b[1mDone\x1b[0m\n  \x1b[1mA\x1b[0m\n\n"},
		{"an unclosed mark does not leak", dingtalk.MarkdownReply("T", "a **b", ""), true,
			"\x1b[1mT\x1b[0m\n  a \x1b[1mb\x1b[0m\n\n"},
		{"headings and code spans", dingtalk.MarkdownReply("T", "## Head\nsend `/confirm X`", ""), false,
			"T\n  Head\n  send /confirm X\n\n"},
		{"the empty reply shows nothing", dingtalk.EmptyReply(), false, ""},
	}
	for _, tc := range tests {
		if got := terminalText(tc.body, tc.styled); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
