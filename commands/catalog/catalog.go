// Package catalog holds the text of every reply the bot writes, in Chinese
// and English, keyed by message. Both catalogs hold every key, with the same
// format arguments; TestCatalogsComplete keeps them in step.
package catalog

import (
	"fmt"
	"strings"
)

// Lang selects the language of every reply.
type Lang string

const (
	ZH Lang = "zh"
	EN Lang = "en"
)

// Parse accepts the values BOT_LANG documents.
func Parse(s string) (Lang, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "zh", "zh-cn", "cn":
		return ZH, nil
	case "en", "en-us":
		return EN, nil
	}
	return "", fmt.Errorf("unknown language %q (want zh or en)", s)
}

// T renders the message key in l. A missing key renders as the key itself so
// that a gap shows up in review rather than as an empty reply. Every
// argument is placed inert (see Inert) unless it is Markdown; numbers are
// formatted as the message says.
func (l Lang) T(key string, args ...any) string {
	f, ok := l.catalog()[key]
	if !ok {
		return key
	}
	if len(args) == 0 {
		return f
	}
	safe := make([]any, len(args))
	for i, a := range args {
		safe[i] = inertArg(a)
	}
	return fmt.Sprintf(f, safe...)
}

func inertArg(a any) any {
	switch v := a.(type) {
	case Markdown:
		return string(v)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, bool:
		return v
	case string:
		return Inert(v)
	}
	return Inert(fmt.Sprint(a)) // named strings, Stringers, errors
}

// Verdict names what a reply's title says of how its command went, in
// either language: ok, error, denied, invalid, help, not_found, exists,
// dry_run, confirm (a delete waits for /confirm), approval (a request
// waits for a second person); "" for a title the
// catalog does not have. It lets a client that sees only the reply (bot
// send) tell success from failure.
func Verdict(title string) string {
	v := TitleOf(title)
	if succeeded[v] {
		return "ok"
	}
	return v
}

// TitleOf is the key a reply's title was rendered from, without its
// "title." prefix (cancelled, confirm, ok, denied, ...), in either
// language; "" for a title the catalog does not have.
func TitleOf(title string) string {
	for _, c := range catalogs {
		for key, text := range c {
			if v, ok := strings.CutPrefix(key, "title."); ok && text == title {
				return v
			}
		}
	}
	return ""
}

// succeeded are the titles of commands that did what was asked, each
// saying what it shows.
var succeeded = map[string]bool{"contacts": true, "contact": true, "history": true, "groups": true,
	"robots": true, "permissions": true, "audit": true, "cancelled": true}

// Has reports whether l has a message under key.
func (l Lang) Has(key string) bool {
	_, ok := l.catalog()[key]
	return ok
}

func (l Lang) catalog() map[string]string {
	if c := catalogs[l]; c != nil {
		return c
	}
	return catalogs[ZH]
}

var catalogs = map[Lang]map[string]string{ZH: zh, EN: en}
