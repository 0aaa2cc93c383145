package dingtalk

import (
	"strings"
	"testing"
	"time"
)

func BenchmarkVerify(b *testing.B) {
	v := NewVerifier("this is a secret", func() time.Time { return time.UnixMilli(1577262236757) })
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify("1577262236757", "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA="); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAndClean(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		m, err := DecodeMessage(strings.NewReader(officialSample))
		if err != nil {
			b.Fatal(err)
		}
		_ = m.Command()
		_ = m.Mentions()
	}
}

func BenchmarkReplyRender(b *testing.B) {
	text := "Created alert contact **JohnDoe**, ContactId: **10211**\n\n- Phone: 138****2222\n- Email: so***@example.com\n- System notifications: yes\n\nRequestId: E9C9DA3D-10FE-472E-9EEF-2D0A3E41B2C5"
	b.ReportAllocs()
	for b.Loop() {
		_ = MarkdownReply("Done", text, "user123")
	}
}
