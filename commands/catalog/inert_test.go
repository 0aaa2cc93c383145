package catalog

import (
	"strings"
	"testing"
)

// What senders and ARMS data have been seen to carry, placed into a reply.
func TestInertDefusesMarkup(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"[点此领取](http://evil.example)", "［点此领取］(http：//evil.example)"},
		{"![x](http://evil.example/t.png)", "!［x］(http：//evil.example/t.png)"},
		{"<font color=red>alert</font>", "＜font color=red＞alert＜/font＞"},
		{"<img src=x onerror=alert(1)>", "＜img src=x onerror=alert(1)＞"},
		{"a`b`c", "a｀b｀c"},
		{"@all 紧急", "＠all 紧急"},
		{"请 @所有人 注意", "请 ＠所有人 注意"},
		{"someone@example.com", "someone@example.com"},
		{"so***@example.com", "so∗∗∗@example.com"},
		{"138****2222 · 139****3333", "138∗∗∗∗2222 · 139∗∗∗∗3333"},
		{"visit www.evil.example now", "visit www．evil.example now"},
		{"WWW.EVIL.EXAMPLE", "WWW．EVIL.EXAMPLE"},
		{"line one\nline two\r\n# heading", "line one line two  # heading"},
		{"evil\u202Egnp.exe", "evilgnp.exe"},
		{"zero\u200Bwidth\u2066iso\u2069", "zerowidthiso"},
		{"\x1b[31mred", "［31mred"},
		{`back\slash`, "back＼slash"},
		{"张三 O'Brien_x *bold*", "张三 O'Brien_x ∗bold∗"},
	}
	for _, tc := range tests {
		got := Inert(tc.in)
		if got != tc.want {
			t.Errorf("Inert(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if live := LiveMarkup(got); len(live) > 0 {
			t.Errorf("Inert(%q) = %q still has %q", tc.in, got, live)
		}
		if Inert(got) != got {
			t.Errorf("Inert is not stable on %q", got)
		}
	}
}

// T places every argument inert unless the bot wrote it (Markdown).
func TestTPlacesArgumentsInert(t *testing.T) {
	if got := EN.T("add.created", "[x](http://evil.example)", "7"); strings.Contains(got, "](") || !strings.Contains(got, "**7**") {
		t.Errorf("T with a link argument: %q", got)
	}
	if got := EN.T("usage", Markdown("/a `b`")); got != "Usage: /a `b`" {
		t.Errorf("T with Markdown: %q", got)
	}
}

// The catalog itself writes no live markup, so LiveMarkup on a reply finds
// only what a value brought in.
func TestCatalogWritesNoLiveMarkup(t *testing.T) {
	for _, c := range []map[string]string{zh, en} {
		for k, v := range c {
			if live := LiveMarkup(v); len(live) > 0 {
				t.Errorf("%s: %q has %q", k, v, live)
			}
		}
	}
}

// Inert skips its work for values it would leave alone; skipping must never
// let through what the full pass would change. Every short combination of
// the characters that matter is checked against the full pass.
func TestInertShortcutAgreesWithFullPass(t *testing.T) {
	parts := []string{"a", "Z", "7", " ", "@", ".", ":", "/", "w", "W", "<", "]", "`", "*", "\\",
		"\n", "\x7f", "\u0085", "\u200b", "\u202e", "张", "＠", "∗", "\xff", "\uFFFD", "_", "-"}
	var n int
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		if got, want := Inert(prefix), inert(prefix); got != want {
			t.Errorf("Inert(%q) = %q, the full pass gives %q", prefix, got, want)
		}
		n++
		if depth == 0 {
			return
		}
		for _, p := range parts {
			walk(prefix+p, depth-1)
		}
	}
	walk("", 4)
	for _, s := range []string{"www.x", "xWwW.y", "a://b", "someone@example.com", "so.me+tag@x", "张三", "JohnDoe"} {
		if Inert(s) != inert(s) {
			t.Errorf("Inert(%q) = %q, the full pass gives %q", s, Inert(s), inert(s))
		}
	}
	if n < 500000 {
		t.Fatalf("only %d strings checked", n)
	}
}
