package bot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ergochat/readline"
	"golang.org/x/term"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/logctx"
	"github.com/armsbot/armsbot/commands"
)

// shell reads commands and shows the replies as a member of the chat would
// see them, through the same dispatcher the webhook uses. On a terminal it
// edits lines (arrow keys, history, Ctrl-R search, Tab completion of
// commands); piped, it reads line by line.
func shell(ctx context.Context, cfg *Config, stdin io.Reader, stdout, stderr io.Writer) error {
	log, closeLog, err := shellLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	if cfg.ARMS.AccessKeyID == "" || cfg.ARMS.AccessKeySecret == "" {
		cfg.Sandbox = true
	}
	if cfg.ShellAdmin {
		cfg.Admins = append(cfg.Admins, cfg.ShellUser)
	}
	// One person at a local console: the per-user limit, which protects a
	// group chat from a flood, would only get in their way.
	cfg.RateLimit = 0
	a, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()

	in, styled, err := newLineReader(stdin, stdout)
	if err != nil {
		return err
	}
	defer in.Close()
	fmt.Fprintln(stdout, shellBanner(cfg))
	conv := "1"
	if cfg.ShellGroup {
		conv = "2"
	}
	for n := 1; ctx.Err() == nil; n++ {
		line, err := readLine(ctx, in)
		switch {
		case ctx.Err() != nil:
			fmt.Fprintln(stdout)
			return nil // SIGTERM or Ctrl-\ while waiting for a line
		case errors.Is(err, readline.ErrInterrupt):
			continue // Ctrl-C drops the line, as in a shell
		case errors.Is(err, io.EOF):
			fmt.Fprintln(stdout)
			return nil
		case err != nil:
			return err
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if c, err := commands.Parse(commands.Commands(), line); err == nil && c.Spec.Lines {
			// A command that takes lines (an import) reads them up to an
			// empty line, as a pasted message holds them.
			fmt.Fprintln(stdout, "  (one per line; an empty line ends them)")
			for {
				more, err := readLine(ctx, in)
				if err != nil || strings.TrimSpace(more) == "" {
					break
				}
				line += "\n" + more
			}
		}
		now := time.Now()
		m := dingtalk.NewTextMessage("shell-"+strconv.FormatInt(now.UnixNano(), 36)+"-"+strconv.Itoa(n), cfg.ShellUser, line, now)
		m.ConversationType, m.ConversationID = conv, "shell"
		rep := a.dispatcher.Shell(ctx, &m)
		fmt.Fprint(stdout, terminalText(dingtalk.MarkdownReply(rep.Title, rep.Text, m.SenderStaffID), styled))
	}
	return nil
}

// shellLogger keeps the console for replies: errors only reach it, as
// text; everything at BOT_LOG_LEVEL goes to BOT_SHELL_LOG when set.
func shellLogger(cfg *Config, stderr io.Writer) (*slog.Logger, func(), error) {
	handlers := []slog.Handler{slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})}
	closeLog := func() {}
	if cfg.ShellLog != "" {
		f, err := os.OpenFile(cfg.ShellLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("BOT_SHELL_LOG: %w", err)
		}
		handlers = append(handlers, slog.NewJSONHandler(f, &slog.HandlerOptions{Level: cfg.LogLevel}))
		closeLog = func() { _ = f.Close() }
	}
	log := slog.New(logctx.Handler{Handler: slog.NewMultiHandler(handlers...)})
	return log, closeLog, nil
}

func shellBanner(cfg *Config) string {
	chat, arms, state := "a one-to-one chat", "your ARMS account", "Redis at "+redactURL(cfg.RedisURL)
	if cfg.ShellGroup {
		chat = "a group chat (replies masked)"
	}
	if cfg.Sandbox {
		arms = "an in-process ARMS stand-in (no credentials set)"
	}
	if cfg.RedisURL == "" {
		state = "an in-memory store"
	}
	return fmt.Sprintf("armsbot shell: you are %s, in %s, against %s, with %s.\nType /help to start; ↑/↓ recall, Ctrl-R searches, Tab completes, Ctrl-D quits.",
		cfg.ShellUser, chat, arms, state)
}

// lineReader is where the shell's lines come from.
type lineReader interface {
	ReadLine() (string, error)
	Close() error
}

// newLineReader edits lines when stdin and stdout are a terminal (and says
// so: replies may then be styled), else reads plain lines.
// readLine reads the next line, or gives up when ctx ends: a signal must
// stop a shell that waits for input. The reader is closed then (which
// restores the terminal); a read already under way ends with the process.
func readLine(ctx context.Context, in lineReader) (string, error) {
	type read struct {
		line string
		err  error
	}
	got := make(chan read, 1)
	go func() {
		line, err := in.ReadLine()
		got <- read{line, err}
	}()
	select {
	case r := <-got:
		return r.line, r.err
	case <-ctx.Done():
		_ = in.Close()
		return "", ctx.Err()
	}
}

func newLineReader(stdin io.Reader, stdout io.Writer) (lineReader, bool, error) {
	in, inOK := stdin.(*os.File)
	out, outOK := stdout.(*os.File)
	if !inOK || !outOK || !term.IsTerminal(int(in.Fd())) || !term.IsTerminal(int(out.Fd())) {
		return &plainLines{sc: bufio.NewScanner(stdin), prompt: stdout}, false, nil
	}
	fd := int(in.Fd())
	var saved *term.State
	rl, err := readline.NewFromConfig(&readline.Config{
		Prompt:            "\x1b[1marmsbot>\x1b[0m ",
		HistorySearchFold: true,
		AutoComplete:      commandCompleter(),
		Stdin:             in,
		Stdout:            out,
		Stderr:            out,
		FuncIsTerminal:    func() bool { return true },
		FuncMakeRaw: func() (err error) {
			saved, err = term.MakeRaw(fd)
			return err
		},
		FuncExitRaw: func() error {
			if saved == nil {
				return nil
			}
			return term.Restore(fd, saved)
		},
		FuncGetSize: func() (int, int) {
			w, h, err := term.GetSize(int(out.Fd()))
			if err != nil {
				return 80, 24
			}
			return w, h
		},
	})
	if err != nil {
		return nil, false, fmt.Errorf("terminal: %w", err)
	}
	return rl, true, nil
}

// plainLines reads a line at a time, prompting as the terminal would.
type plainLines struct {
	sc     *bufio.Scanner
	prompt io.Writer
}

func (p *plainLines) ReadLine() (string, error) {
	fmt.Fprint(p.prompt, "> ")
	if !p.sc.Scan() {
		if err := p.sc.Err(); err != nil {
			return "", err
		}
		return "", io.EOF
	}
	return p.sc.Text(), nil
}

func (p *plainLines) Close() error { return nil }

// commandCompleter completes the command words every spec declares.
func commandCompleter() readline.AutoCompleter {
	groups := map[string][]*readline.PrefixCompleter{}
	var order []string
	for _, s := range commands.Commands() {
		top := "/" + s.Path[0]
		if _, ok := groups[top]; !ok {
			order = append(order, top)
		}
		if len(s.Path) > 1 {
			groups[top] = append(groups[top], readline.PcItem(s.Path[1]))
		} else {
			groups[top] = groups[top][:0:0]
		}
	}
	items := make([]*readline.PrefixCompleter, 0, len(order))
	for _, top := range order {
		items = append(items, readline.PcItem(top, groups[top]...))
	}
	return readline.NewPrefixCompleter(items...)
}

// terminalText is a DingTalk reply as a terminal shows it: the markdown's
// marks dropped (bold kept as bold on a terminal), the mention at its end
// as the chat shows it.
func terminalText(body []byte, styled bool) string {
	r, err := dingtalk.DecodeReply(body)
	if err != nil || r.Markdown == nil {
		return "" // the empty reply: nothing to show
	}
	bold, plain := "", ""
	if styled {
		bold, plain = "\x1b[1m", "\x1b[0m"
	}
	var b strings.Builder
	b.WriteString(bold + r.Markdown.Title + plain + "\n")
	for _, line := range strings.Split(r.Markdown.Text, "\n") {
		if strings.HasPrefix(line, "#") {
			line = strings.TrimPrefix(strings.TrimLeft(line, "#"), " ")
		}
		parts := strings.Split(strings.ReplaceAll(line, "`", ""), "**")
		b.WriteString("  ")
		for i, p := range parts {
			if i > 0 && i%2 == 1 {
				b.WriteString(bold)
			} else if i > 0 {
				b.WriteString(plain)
			}
			b.WriteString(p)
		}
		if len(parts)%2 == 0 { // an unclosed **
			b.WriteString(plain)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	return b.String()
}
