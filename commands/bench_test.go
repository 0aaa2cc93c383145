package commands

import "testing"

func BenchmarkParse(b *testing.B) {
	specs := Commands()
	for _, tc := range []struct{ name, text string }{
		{"ascii", "/contact add name=JohnDoe email=someone@example.com phone=13811112222 systemnoc=true"},
		{"fullwidth", "／contact　add　姓名＝“张 三”　邮箱：ｚｓ＠ｅｘａｍｐｌｅ．ｃｏｍ　手机＝１３８１１１１２２２２"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := Parse(specs, tc.text)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.check(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
