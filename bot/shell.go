package bot

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
)

// shell reads commands line by line and prints the replies, through the
// same dispatcher the webhook uses.
func shell(ctx context.Context, cfg *Config, stdin io.Reader, stdout, stderr io.Writer) error {
	level := cfg.LogLevel
	if level < slog.LevelWarn {
		level = slog.LevelWarn // keep the console for replies
	}
	log := newLogger(stderr, level)
	if cfg.ARMS.AccessKeyID == "" || cfg.ARMS.AccessKeySecret == "" {
		cfg.Sandbox = true
	}
	if cfg.ShellAdmin {
		cfg.Admins = append(cfg.Admins, cfg.ShellUser)
	}
	a, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()

	conv := "1"
	if cfg.ShellGroup {
		conv = "2"
	}
	fmt.Fprintf(stdout, "armsbot shell: acting as %s. Type /help to start; Ctrl-D quits.\n", cfg.ShellUser)
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for n := 1; ; n++ {
		fmt.Fprint(stdout, "> ")
		if !sc.Scan() {
			fmt.Fprintln(stdout)
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		now := time.Now()
		m := dingtalk.NewTextMessage("shell-"+strconv.FormatInt(now.UnixNano(), 36)+"-"+strconv.Itoa(n), cfg.ShellUser, line, now)
		m.ConversationType, m.ConversationID = conv, "shell"
		rep := a.dispatcher.runOnce(ctx, &m)
		fmt.Fprintf(stdout, "%s\n%s\n\n", "## "+rep.Title, rep.Text)
		if ctx.Err() != nil {
			return nil
		}
	}
}
