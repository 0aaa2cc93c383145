package bot_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// slug is the anchor GitHub gives a heading.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// The README is the front door and the docs hold the rest: it fits on a
// page, and every link between them, and into the repository, leads to a
// file and a heading that exist.
func TestDocsLinksResolve(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	files = append(files, filepath.Join("..", "README.md"))
	anchors := map[string]map[string]bool{}
	read := func(path string) (string, bool) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", false
		}
		if anchors[path] == nil {
			anchors[path] = map[string]bool{}
			for _, m := range mdHeading.FindAllStringSubmatch(string(b), -1) {
				anchors[path][slug(m[1])] = true
			}
		}
		return string(b), true
	}
	for _, f := range files {
		text, _ := read(f)
		if f == filepath.Join("..", "README.md") {
			if n := strings.Count(text, "\n"); n >= 400 {
				t.Errorf("README.md has %d lines: what a newcomer and an operator do not need belongs in docs/", n)
			}
		}
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(link, "#")
			target := f
			if path != "" {
				target = filepath.Join(filepath.Dir(f), path)
			}
			if _, ok := read(target); !ok {
				if _, err := os.Stat(target); err != nil {
					t.Errorf("%s links to %s, which does not exist", f, link)
				}
				continue
			}
			if anchor != "" && !anchors[target][anchor] {
				t.Errorf("%s links to %s: no heading has that anchor", f, link)
			}
		}
	}
}
