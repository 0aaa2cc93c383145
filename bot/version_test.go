package bot_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/armsbot/armsbot/bot"
)

func TestVersionAndProbe(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := bot.Run(context.Background(), []string{"bot", "version"}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	contains(t, "version", out.String(), "armsbot ", "commit ", "built ", "go1.")

	h := startBot(t, nil)
	if err := bot.Run(context.Background(), []string{"bot", "probe", h.base + "/healthz"}, env(nil), nil, io.Discard, io.Discard); err != nil {
		t.Errorf("probe of a healthy bot: %v", err)
	}
	if err := bot.Run(context.Background(), []string{"bot", "probe", h.base + "/nope"}, env(nil), nil, io.Discard, io.Discard); err == nil {
		t.Error("probe of a 404 passed")
	}
}
