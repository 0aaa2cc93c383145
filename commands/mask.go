package commands

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/armsbot/armsbot/commands/catalog"
	"github.com/armsbot/armsbot/commands/grammar"
)

// Group chats are read by many; these keep personal data and robot secrets
// out of them while leaving enough to recognise the contact.

// MaskPhone keeps the first three and last four digits: 138****2222.
func MaskPhone(p string) string {
	r := []rune(p)
	lead := 3
	if strings.HasPrefix(p, "+") {
		lead = 4
	}
	if len(r) <= lead+4 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:lead]) + "****" + string(r[len(r)-4:])
}

// MaskEmail keeps the first one or two characters of the local part.
func MaskEmail(e string) string {
	local, domain, ok := strings.Cut(e, "@")
	if !ok {
		return "***"
	}
	keep := 1
	if utf8.RuneCountInString(local) >= 5 {
		keep = 2
	}
	r := []rune(local)
	if len(r) < keep {
		keep = len(r)
	}
	return string(r[:keep]) + "***@" + domain
}

var tokenParam = regexp.MustCompile(`(access_token=)([^&\s]{0,4})[^&\s]*`)

// maskTokens hides all but the first four characters of every access_token.
func maskTokens(s string) string {
	if !strings.Contains(s, "access_token=") {
		return s // the regexp allocates even when it finds nothing
	}
	return tokenParam.ReplaceAllString(s, "${1}${2}****")
}

// MaskWebhook hides the robot's access token.
func MaskWebhook(u string) string { return maskTokens(u) }

var (
	// An address's local part is what mail systems take; its domain may be
	// mistyped (someone@example).
	textEmail = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[^\s"'“”‘’「」@]+`)
	// Seven digits or more, however people separate them: 138 1111 2222,
	// 135.4444.5555, (010) 1234-5678, +86 138-1111-2222, and the first
	// part of one typed wrongly (138 1111).
	textPhone = regexp.MustCompile(`\+?\(?\d(?:[ .\-()]{0,2}\d){6,}`)
	phoneSeps = strings.NewReplacer(" ", "", ".", "", "-", "", "(", "", ")", "")
)

// secretText is a robot's signing secret in free text: SEC and hex digits.
var secretText = regexp.MustCompile(`SEC[0-9a-fA-F]{16,}`)

// RedactSecrets replaces every robot signing secret in text with
// SecretWithheld: the text of a message is kept (so that another process
// can finish it), its secrets never are.
func RedactSecrets(text string) string {
	if !strings.Contains(text, "SEC") {
		return text
	}
	return secretText.ReplaceAllString(text, SecretWithheld)
}

// MaskText masks anything in free text that looks like an email address, a
// phone number, a robot access token or signing secret.
func MaskText(s string) string {
	s = maskTokens(catalog.Visible(grammar.Normalize(s)))
	s = secretText.ReplaceAllString(s, "SEC…")
	s = textEmail.ReplaceAllStringFunc(s, MaskEmail)
	// A masked number keeps digits at its ends, which may join digits
	// next to it into another run: mask until none is left.
	for range 8 {
		if !textPhone.MatchString(s) {
			break
		}
		s = textPhone.ReplaceAllStringFunc(s, func(p string) string {
			return MaskPhone(phoneSeps.Replace(p))
		})
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
