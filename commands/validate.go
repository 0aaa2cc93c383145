package commands

import (
	"errors"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/armsbot/armsbot/commands/catalog"
	"github.com/armsbot/armsbot/commands/grammar"
)

// MaxNameRunes is this bot's own limit on contact names: ARMS documents none,
// and a name longer than this is almost certainly a paste gone wrong.
const MaxNameRunes = 64

// check validates every argument the sender gave and normalises it into
// c.vals, then enforces required keys. It reports every problem of the
// command at once, bind's included: one Error, the others in its Also.
func (c *Call) check() error {
	c.vals = map[string]string{}
	problems := append([]*Error(nil), c.problems...)
	for i := range c.Spec.Args {
		a := &c.Spec.Args[i]
		raw, ok := c.raw[a.Name]
		if !ok {
			if a.Required {
				problems = append(problems, invalid(nil, "err.required", a.Name))
			}
			continue
		}
		raw = strings.TrimSpace(raw)
		if raw == "" {
			if !a.Clearable {
				problems = append(problems, invalid(nil, "err.missing_value", c.typed[a.Name]))
				continue
			}
			c.vals[a.Name] = ""
			continue
		}
		// An @mention stays as typed: resolveMentions finds whom it
		// names once the sender may run the command.
		v, err := checkValue(a, c.typed[a.Name], raw)
		if err == nil && a.Kind == KindWho && v == "me" {
			v = c.Msg.SenderID
		}
		if err != nil {
			problems = append(problems, err)
			continue
		}
		c.vals[a.Name] = v
	}
	if c.Spec.Rule != nil {
		if e := c.Spec.Rule(c); e != nil {
			problems = append(problems, e)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	first := problems[0]
	first.Usage, first.Also = c.Spec, problems[1:]
	return first
}

func checkValue(a *Arg, typed, raw string) (string, *Error) {
	switch a.Kind {
	case KindBool:
		b, err := parseBool(raw)
		if err != nil {
			return "", invalid(nil, "err.bad_bool", typed, short(raw))
		}
		return strconv.FormatBool(b), nil
	case KindInt:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return "", invalid(nil, "err.bad_int", typed, short(raw))
		}
		return strconv.FormatInt(n, 10), nil
	case KindName:
		return checkName(raw)
	case KindID:
		if n, err := strconv.ParseInt(raw, 10, 64); err != nil || n <= 0 {
			return "", invalid(nil, "err.bad_id", short(raw))
		}
		return raw, nil
	case KindScope:
		sc := strings.ToLower(raw)
		if !slices.Contains(Scopes, sc) {
			e := invalid(nil, "err.bad_scope", short(raw), strings.Join(Scopes, ", "))
			if m := grammar.Closest(sc, Scopes); m != "" {
				e.Hint = m
			}
			return "", e
		}
		return sc, nil
	case KindUser:
		if strings.HasPrefix(raw, "@") && len(raw) > 1 {
			return raw, nil // resolved against the message's mentions by resolveMentions
		}
		if !ValidStaffID(raw) {
			return "", invalid(nil, "err.bad_user", short(raw))
		}
		return raw, nil
	case KindWho:
		switch strings.ToLower(raw) {
		case "me", "myself", "我", "自己", "本人":
			return "me", nil
		}
		if strings.HasPrefix(raw, "@") && len(raw) > 1 {
			return raw, nil // resolved against the message's mentions by resolveMentions
		}
		return "", invalid(nil, "err.bad_who", short(raw))
	case KindIDs:
		var ids []string
		for _, f := range strings.FieldsFunc(raw, func(r rune) bool { return r == ' ' || r == ',' || r == '，' || r == '、' }) {
			if n, err := strconv.ParseInt(f, 10, 64); err != nil || n <= 0 {
				return "", invalid(nil, "err.bad_id", short(f))
			}
			if !slices.Contains(ids, f) {
				ids = append(ids, f)
			}
		}
		if len(ids) == 0 {
			return "", invalid(nil, "err.missing_value", typed)
		}
		return strings.Join(ids, " "), nil
	case KindGroupID:
		if n, err := strconv.ParseInt(raw, 10, 64); err != nil || n <= 0 {
			return "", invalid(nil, "err.bad_group_id", short(raw))
		}
		return raw, nil
	case KindFormat:
		switch f := strings.ToLower(raw); f {
		case "csv":
			return f, nil
		case "terraform", "tf", "hcl":
			return "terraform", nil
		}
		return "", invalid(nil, "err.bad_format", short(raw))
	case KindFallback:
		f, ok := fallbackWords[strings.ToLower(raw)]
		if !ok {
			return "", invalid(nil, "err.bad_fallback", short(raw))
		}
		return f, nil
	case KindCode:
		code := strings.ToUpper(raw)
		if !confirmCode.MatchString(code) {
			return "", invalid(nil, "err.bad_code", short(raw))
		}
		return code, nil
	case KindPhone:
		p, ok := NormalizePhone(raw)
		if !ok {
			return "", invalid(nil, "err.bad_phone", short(raw))
		}
		return p, nil
	case KindEmail:
		e, ok := NormalizeEmail(raw)
		if !ok {
			return "", invalid(nil, "err.bad_email", short(raw))
		}
		return e, nil
	case KindSecret:
		if raw != SecretWithheld && !secretRE.MatchString(raw) {
			return "", invalid(nil, "err.bad_secret", typed)
		}
		return raw, nil
	case KindTimes:
		var out []string
		for _, t := range strings.Split(strings.ReplaceAll(raw, "，", ","), ",") {
			t = strings.TrimSpace(t)
			if !timeRE.MatchString(t) || slices.Contains(out, t) {
				return "", invalid(nil, "err.bad_times", typed, short(raw))
			}
			out = append(out, t)
		}
		if len(out) == 0 || len(out) > 6 {
			return "", invalid(nil, "err.bad_times", typed, short(raw))
		}
		return strings.Join(out, ","), nil
	case KindWebhook:
		if err := CheckWebhook(raw); err != nil {
			var we webhookError
			errors.As(err, &we)
			return "", invalid(nil, "err.bad_webhook", msgArg{string(we), nil})
		}
		return raw, nil
	}
	return raw, nil
}

// secretRE is what DingTalk's robot signing secrets look like: SEC and
// hex digits (64 today).
var secretRE = regexp.MustCompile(`^SEC[0-9a-fA-F]{16,128}$`)

// timeRE is a time of day, HH:MM.
var timeRE = regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d$`)

// fallbackWords are how people name what ARMS does about an unanswered
// call (ReissueSendNotice).
var fallbackWords = map[string]string{
	"none": "none", "no": "none", "off": "none", "无": "none", "不处理": "none",
	"call": "call", "recall": "call", "redial": "call", "重拨": "call", "再打": "call", "电话": "call",
	"sms": "sms", "text": "sms", "短信": "sms",
	"default": "default", "global": "default", "默认": "default",
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "y", "on", "1", "是", "开":
		return true, nil
	case "false", "no", "n", "off", "0", "否", "关":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

func checkName(s string) (string, *Error) {
	if utf8.RuneCountInString(s) > MaxNameRunes {
		return "", &Error{Code: EINVALID, Key: "err.bad_name", Args: []any{msgArg{"err.name_too_long", []any{MaxNameRunes}}}}
	}
	for _, r := range s {
		// Format characters (bidi overrides U+202A–U+202E, U+2066–U+2069,
		// zero-width ones) are invisible and can make a name read as
		// something else.
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "", &Error{Code: EINVALID, Key: "err.bad_name", Args: []any{msgArg{"err.name_control", nil}}}
		}
	}
	return s, nil
}

// msgArg is an argument that is itself a catalog message, rendered in the
// reply's language.
type msgArg struct {
	key  string
	args []any
}

var confirmCode = regexp.MustCompile(`^[0-9A-Z]{4,12}$`)

var (
	mainlandMobile = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	e164           = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// NormalizePhone accepts an 11-digit mainland mobile number, optionally with
// +86/0086, or any +<country code> number, ignoring the separators people type.
// A mainland number is returned without its country code, as ARMS shows it.
func NormalizePhone(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '-', ' ', '(', ')', '.':
			return -1
		}
		return r
	}, s)
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if rest, ok := strings.CutPrefix(s, "+86"); ok && mainlandMobile.MatchString(rest) {
		return rest, true
	}
	if mainlandMobile.MatchString(s) || e164.MatchString(s) {
		return s, true
	}
	return "", false
}

// NormalizeEmail accepts a bare address (no display name) whose domain has a
// dot, and lower-cases the domain.
func NormalizeEmail(s string) (string, bool) {
	if len(s) > 254 || strings.ContainsAny(s, " <>\"") {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", false
	}
	return local + "@" + strings.ToLower(domain), true
}

var accessToken = regexp.MustCompile(`^[0-9A-Za-z]+$`)

// webhookError names what is wrong with a robot URL as a catalog key.
type webhookError string

func (e webhookError) Error() string { return catalog.EN.T(string(e)) }

// CheckWebhook accepts only a DingTalk custom-robot send URL:
// https://oapi.dingtalk.com/robot/send?access_token=<token>.
func CheckWebhook(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return webhookError("wh.not_url")
	case u.Scheme != "https":
		return webhookError("wh.https")
	case u.User != nil:
		return webhookError("wh.userinfo")
	case u.Hostname() != "oapi.dingtalk.com" || (u.Port() != "" && u.Port() != "443"):
		return webhookError("wh.host")
	case u.Path != "/robot/send":
		return webhookError("wh.path")
	case u.Fragment != "":
		return webhookError("wh.fragment")
	}
	q := u.Query()
	for k := range q {
		if k != "access_token" {
			return webhookError("wh.params")
		}
	}
	if t := q["access_token"]; len(t) != 1 || !accessToken.MatchString(t[0]) {
		return webhookError("wh.token")
	}
	return nil
}
