package catalog

import (
	"regexp"
	"slices"
	"sort"
	"testing"
)

var formatVerb = regexp.MustCompile(`%[a-z]`)

// Both languages are complete: every key exists in both, with the same
// format arguments.
func TestCatalogsComplete(t *testing.T) {
	keys := func(m map[string]string) []string {
		var k []string
		for key := range m {
			k = append(k, key)
		}
		sort.Strings(k)
		return k
	}
	if !slices.Equal(keys(zh), keys(en)) {
		for _, k := range keys(zh) {
			if _, ok := en[k]; !ok {
				t.Errorf("en lacks %q", k)
			}
		}
		for _, k := range keys(en) {
			if _, ok := zh[k]; !ok {
				t.Errorf("zh lacks %q", k)
			}
		}
	}
	for k, z := range zh {
		if e, ok := en[k]; ok && !slices.Equal(formatVerb.FindAllString(z, -1), formatVerb.FindAllString(e, -1)) {
			t.Errorf("%q: zh and en take different arguments: %q vs %q", k, z, e)
		}
	}
}

func TestParseAndFallbacks(t *testing.T) {
	tests := []struct {
		in   string
		want Lang
		ok   bool
	}{
		{"", ZH, true}, {"zh", ZH, true}, {" ZH-CN ", ZH, true}, {"cn", ZH, true},
		{"en", EN, true}, {"en-US", EN, true}, {"fr", "", false},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("Parse(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if got := EN.T("no.such.key"); got != "no.such.key" {
		t.Errorf("a missing key renders as %q, want the key itself", got)
	}
	if got, want := Lang("de").T("title.ok"), ZH.T("title.ok"); got != want {
		t.Errorf("an unknown language renders %q, want the Chinese %q", got, want)
	}
	if !EN.Has("title.ok") || EN.Has("no.such.key") {
		t.Error("Has does not tell present keys from missing ones")
	}
}

// bot send judges a reply by its title alone: every title, in either
// language, says whether the command did what was asked, and no two
// titles of different verdicts read the same.
func TestVerdictOfEveryTitle(t *testing.T) {
	want := map[string]string{"title.ok": "ok", "title.contacts": "ok", "title.contact": "ok", "title.history": "ok",
		"title.groups": "ok", "title.robots": "ok", "title.permissions": "ok", "title.audit": "ok", "title.cancelled": "ok",
		"title.help": "help", "title.error": "error", "title.denied": "denied", "title.invalid": "invalid",
		"title.not_found": "not_found", "title.exists": "exists", "title.dry_run": "dry_run", "title.confirm": "confirm", "title.approval": "approval", "title.progress": "progress",
		"title.reminder": "reminder"}
	for _, l := range []Lang{EN, ZH} {
		for key, text := range l.catalog() {
			if len(key) < 6 || key[:6] != "title." {
				continue
			}
			if w, ok := want[key]; !ok {
				t.Errorf("%s: no verdict decided for a new title", key)
			} else if got := Verdict(text); got != w {
				t.Errorf("%s %q: verdict %q, want %q", key, text, got, w)
			}
		}
	}
	if got := Verdict("Something else"); got != "" {
		t.Errorf("an unknown title: %q", got)
	}
}
