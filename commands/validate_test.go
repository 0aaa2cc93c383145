package commands

import (
	"strings"
	"testing"

	"github.com/armsbot/armsbot/commands/catalog"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"13811112222", "13811112222", true},
		{"+8613811112222", "13811112222", true},
		{"008613811112222", "13811112222", true},
		{"138-1111-2222", "13811112222", true},
		{"+85291234567", "+85291234567", true},
		{"+1 (415) 555-0100", "+14155550100", true},
		{"12811112222", "", false},  // no such mobile prefix
		{"1381111222", "", false},   // ten digits
		{"138111122223", "", false}, // twelve digits
		{"+0123456789", "", false},
		{"+123", "", false},
		{"phone", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := NormalizePhone(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"someone@example.com", "someone@example.com", true},
		{"First.Last+tag@Sub.Example.CN", "First.Last+tag@sub.example.cn", true},
		{"someone@", "", false},
		{"@example.com", "", false},
		{"someone@example", "", false},
		{"someone@.example.com", "", false},
		{"someone@example..com", "", false},
		{"John <j@example.com>", "", false},
		{"a b@example.com", "", false},
		{"a@b@example.com", "", false},
		{strings.Repeat("a", 250) + "@example.com", "", false},
	}
	for _, tc := range tests {
		got, ok := NormalizeEmail(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCheckWebhook(t *testing.T) {
	tests := []struct {
		in   string
		want string // catalog key, "" for valid
	}{
		{"https://oapi.dingtalk.com/robot/send?access_token=91f2f6abc", ""},
		{"https://oapi.dingtalk.com:443/robot/send?access_token=91f2f6abc", ""},
		{"http://oapi.dingtalk.com/robot/send?access_token=91f2f6abc", "wh.https"},
		{"https://evil.example/robot/send?access_token=abc", "wh.host"},
		{"https://oapi.dingtalk.com.evil.example/robot/send?access_token=abc", "wh.host"},
		{"https://oapi.dingtalk.com:8443/robot/send?access_token=abc", "wh.host"},
		{"https://u:p@oapi.dingtalk.com/robot/send?access_token=abc", "wh.userinfo"},
		{"https://oapi.dingtalk.com/robot/sendBySession?access_token=abc", "wh.path"},
		{"https://oapi.dingtalk.com/robot/send?access_token=abc#x", "wh.fragment"},
		{"https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1&sign=x", "wh.params"},
		{"https://oapi.dingtalk.com/robot/send", "wh.token"},
		{"https://oapi.dingtalk.com/robot/send?access_token=", "wh.token"},
		{"https://oapi.dingtalk.com/robot/send?access_token=a&access_token=b", "wh.token"},
		{"https://oapi.dingtalk.com/robot/send?access_token=ab-cd", "wh.token"},
		{"::not a url", "wh.not_url"},
	}
	for _, tc := range tests {
		err := CheckWebhook(tc.in)
		got := ""
		if err != nil {
			got = string(err.(webhookError))
		}
		if got != tc.want {
			t.Errorf("CheckWebhook(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMasks(t *testing.T) {
	tests := []struct{ got, want string }{
		{MaskPhone("13811112222"), "138****2222"},
		{MaskPhone("+85291234567"), "+852****4567"},
		{MaskPhone("123"), "***"},
		{MaskEmail("someone@example.com"), "so***@example.com"},
		{MaskEmail("abc@example.com"), "a***@example.com"},
		{MaskEmail("a@example.com"), "a***@example.com"},
		{MaskWebhook("https://oapi.dingtalk.com/robot/send?access_token=91f2f6abcdef"), "https://oapi.dingtalk.com/robot/send?access_token=91f2****"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("mask = %q, want %q", tc.got, tc.want)
		}
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		granted []string
		scope   string
		want    bool
	}{
		{nil, "", true},
		{nil, "contact.add", false},
		{[]string{"contact.add"}, "contact.add", true},
		{[]string{"contact"}, "contact.add", true},
		{[]string{"contact"}, "contact.delete", true},
		{[]string{"contacts"}, "contact.add", false},
		{[]string{"contact.read"}, "contact.add", false},
		{[]string{"contact.add"}, "contact", false},
		{[]string{"admin"}, "perm", true},
		{[]string{"con"}, "contact.add", false},
	}
	for _, tc := range tests {
		if got := Covers(tc.granted, tc.scope); got != tc.want {
			t.Errorf("Covers(%v, %q) = %v, want %v", tc.granted, tc.scope, got, tc.want)
		}
	}
}

// Every key a spec refers to exists in the catalogs.
func TestSpecsReferToCatalogKeys(t *testing.T) {
	for _, s := range Commands() {
		for _, k := range append([]string{s.Summary}, argHelps(s)...) {
			if !catalog.EN.Has(k) || !catalog.ZH.Has(k) {
				t.Errorf("spec %s refers to missing key %q", s.Name(), k)
			}
		}
	}
}

func argHelps(s *Spec) []string {
	var out []string
	for _, a := range s.Args {
		out = append(out, a.Help)
	}
	return out
}
