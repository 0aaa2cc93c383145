package catalog

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Replies are DingTalk markdown, read by a whole group. A value that comes
// from a sender, a nickname or ARMS is placed into that text inert: it can
// show what it says, but not become a link, an image, an HTML tag, a code
// span that swallows the text after it, a new line of its own, or an
// @-mention. The characters that would make it so are swapped for their
// full-width look-alikes, which every client shows as text; DingTalk
// documents no escape syntax for its markdown, so none is relied on.

// Markdown is text the bot itself wrote (a usage line, another catalog
// message): T places it as it is.
type Markdown string

var inertReplacer = strings.NewReplacer(
	"<", "＜", ">", "＞", // HTML tags, <autolinks>
	"[", "［", "]", "］", // [links](…) and ![images](…)
	"`", "｀", // code spans
	"*", "∗", // emphasis: masks (138****2222) would pair up and vanish
	"\\", "＼", // escapes of the text around the value
	"://", "：//", // bare URLs that clients turn into links
)

// www. starts a link in clients too, in any case.
var wwwRE = regexp.MustCompile(`(?i)www\.`)

// Inert renders s so that nothing in it is markup: see above. Invisible
// format characters (bidi overrides, zero-width characters) are dropped,
// and an @ that could start a mention (not the one inside an email
// address) becomes ＠.
func Inert(s string) string {
	if plain(s) {
		return s
	}
	return inert(s)
}

// plain reports whether inert would return s unchanged, without the
// allocations inert makes: most values (names, ids, addresses) are.
func plain(s string) bool {
	prev := ' '
	for i, r := range s {
		switch {
		case r == utf8.RuneError: // invalid UTF-8 comes out as U+FFFD
			return false
		case r >= utf8.RuneSelf:
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				return false
			}
		case r < ' ' || r == 0x7f || strings.ContainsRune("<>[]`*\\", r):
			return false
		case r == '@' && !emailLocal(prev):
			return false
		case r == ':' && strings.HasPrefix(s[i+1:], "//"):
			return false
		case (r == 'w' || r == 'W') && len(s) >= i+4 && strings.EqualFold(s[i+1:i+4], "ww."):
			return false
		}
		prev = r
	}
	return true
}

func inert(s string) string {
	s = inertReplacer.Replace(Visible(s))
	s = wwwRE.ReplaceAllStringFunc(s, func(w string) string { return w[:3] + "．" })
	var b strings.Builder
	b.Grow(len(s))
	prev := ' '
	for _, r := range s {
		if r == '@' && !emailLocal(prev) {
			r = '＠'
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// Visible is s as a reader sees it, on one line: line breaks and tabs
// become spaces, other control characters and invisible format characters
// (bidi overrides, zero-width characters) go. Masking works on this, so
// that no hidden character splits a phone number it should find.
func Visible(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
}

// emailLocal reports whether r may end the local part of an email address,
// so that an @ after it belongs to an address, not a mention. A masked
// address (so***@example.com) counts.
func emailLocal(r rune) bool {
	return r == '∗' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._%+-*", r))
}

var (
	liveRE = regexp.MustCompile(`\]\(|!\[|<[A-Za-z/!?]|://|(?i:www\.[a-z0-9-]+\.)|(?i:(?:^|[^A-Za-z0-9._%+*∗\-])@(?:all|everyone|所有人))|\p{Cf}`)
	// The one URL the catalog writes: the shape of a robot webhook.
	robotURLSample = "https://oapi.dingtalk.com/robot/send?access_token=..."
)

// LiveMarkup lists what in a reply's text could act as markup: a link, an
// image, an HTML tag, a URL, an @all, an invisible format character, an
// unbalanced code span. The catalog writes none of these
// (but robotURLSample) and Inert lets none out of a value, so a reply in
// which it finds any placed a value without Inert. Tests hold every reply
// to it.
func LiveMarkup(text string) []string {
	text = strings.ReplaceAll(text, robotURLSample, "")
	found := liveRE.FindAllString(text, -1)
	if strings.Count(text, "`")%2 != 0 {
		found = append(found, "unbalanced `")
	}
	return found
}
