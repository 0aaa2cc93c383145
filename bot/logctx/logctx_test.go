package logctx

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// A message's logger names it on every line, before the line's own
// fields, together with what the context carries; a group keeps the
// message's fields outside it.
func TestLogLinesNameTheirMessage(t *testing.T) {
	var b bytes.Buffer
	base := slog.New(Handler{Handler: slog.NewJSONHandler(&b, nil)})
	log := base.With("msg_id", "m1", "sender", "u1").With("request_id", "r1")
	ctx := With(context.Background(), slog.String("arms_action", "CreateAlertContact"))

	tests := []struct {
		name string
		log  func()
		want string
	}{
		{"line", func() { log.InfoContext(ctx, "message handled", "outcome", "created") },
			`"msg":"message handled","msg_id":"m1","sender":"u1","request_id":"r1","outcome":"created","arms_action":"CreateAlertContact"}`},
		{"many fields", func() { log.Info("x", "a", 1, "b", 2, "c", 3, "d", 4, "e", 5) },
			`"msg":"x","msg_id":"m1","sender":"u1","request_id":"r1","a":1,"b":2,"c":3,"d":4,"e":5}`},
		{"group", func() { log.WithGroup("g").Info("y", "k", "v") },
			`"msg":"y","msg_id":"m1","sender":"u1","request_id":"r1","g":{"k":"v"}}`},
		{"base untouched", func() { base.Info("z") }, `"msg":"z"}`},
	}
	for _, tc := range tests {
		b.Reset()
		tc.log()
		if got := strings.TrimSpace(b.String()); !strings.HasSuffix(got, tc.want) {
			t.Errorf("%s: got %s\nwant it to end %s", tc.name, got, tc.want)
		}
	}
}
