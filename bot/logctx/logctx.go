// Package logctx carries a message's log attributes (its msg_id) in the
// context of every call made for it, so that a line logged deep inside an
// adapter (an ARMS call) names the message without the adapter knowing what
// a message is; and its Handler writes them.
package logctx

import (
	"context"
	"log/slog"
)

type logAttrsKey struct{}

// With returns ctx carrying attrs for every line logged with it.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(logAttrsKey{}).([]slog.Attr)
	return context.WithValue(ctx, logAttrsKey{}, append(prev[:len(prev):len(prev)], attrs...))
}

// Handler adds the context's attributes to each record. It also keeps
// the attributes of Logger.With until a line is logged instead of
// formatting them at once: every message gets a logger naming it, and most
// messages log a single line.
type Handler struct {
	slog.Handler
	attrs []slog.Attr // from With, written before the record's own
}

func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	if len(h.attrs) > 0 {
		nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
		nr.AddAttrs(h.attrs...)
		r.Attrs(func(a slog.Attr) bool {
			nr.AddAttrs(a)
			return true
		})
		r = nr
	}
	if attrs, ok := ctx.Value(logAttrsKey{}).([]slog.Attr); ok {
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return Handler{h.Handler, append(h.attrs[:len(h.attrs):len(h.attrs)], attrs...)}
}

// WithGroup puts the kept attributes down first: they belong outside it.
func (h Handler) WithGroup(name string) slog.Handler {
	inner := h.Handler
	if len(h.attrs) > 0 {
		inner = inner.WithAttrs(h.attrs)
	}
	return Handler{Handler: inner.WithGroup(name)}
}
