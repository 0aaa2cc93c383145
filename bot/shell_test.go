package bot_test

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/armsbot/armsbot/bot"
)

// On a terminal the shell edits lines: the arrow keys recall earlier
// commands, Ctrl-R finds one, Tab completes a command; Ctrl-D quits.
// The test drives it through a pseudo-terminal, as a person would.
func TestShellOnATerminal(t *testing.T) {
	t.Parallel()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	screen := &syncBuffer{}
	go func() {
		// A terminal answers the editor's cursor position queries.
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			if err != nil {
				return
			}
			_, _ = screen.Write(buf[:n])
			for range bytes.Count(buf[:n], []byte("\x1b[6n")) {
				_, _ = ptmx.Write([]byte("\x1b[1;1R"))
			}
		}
	}()
	done := make(chan error, 1)
	var console syncBuffer
	go func() {
		done <- bot.Run(context.Background(), []string{"bot", "shell"}, env(map[string]string{"BOT_LANG": "en"}), tty, tty, &console)
	}()
	typed := func(keys string, want string, times int) {
		t.Helper()
		if _, err := ptmx.Write([]byte(keys)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(plainText(screen.String()), want) < times {
			if time.Now().After(deadline) {
				select {
				case err := <-done:
					t.Fatalf("shell ended: %v; console %s", err, console.String())
				default:
				}
				t.Fatalf("after typing %q the screen does not show %q %d times:\n%s", keys, want, times, screen)
			}
			time.Sleep(10 * time.Millisecond) // polling the screen
		}
	}
	// A person types a line once its prompt shows: until the editor draws
	// it, the terminal is not yet in raw mode, and its line discipline
	// would take Ctrl-R for its own (reprint the line).
	waitPrompt := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.HasSuffix(strings.TrimRight(plainText(screen.String()), " "), "armsbot>") {
			if time.Now().After(deadline) {
				t.Fatalf("no prompt:\n%s", screen)
			}
			time.Sleep(10 * time.Millisecond) // polling the screen
		}
	}
	prompt := func(keys string, want string, times int) {
		t.Helper()
		waitPrompt()
		typed(keys, want, times)
	}
	prompt("/whoami\r", "Your staff id: shell-admin", 1)
	prompt("\x1b[A\r", "Your staff id: shell-admin", 2) // ↑ recalls it
	prompt("/contact add name=Tty email=tty@example.com\r", "ContactId", 1)
	// Ctrl-R finds /whoami from "hoam"; Enter once the search shows it, as
	// a person waits to see the match (the editor reads keys as they come).
	prompt("\x12hoam", "-i-search: hoam", 1)
	typed("\r", "Your staff id: shell-admin", 3)
	prompt("/contact li\t\r", "1 contact(s)", 1) // Tab completes list
	waitPrompt()
	if _, err := ptmx.Write([]byte{4}); err != nil { // Ctrl-D
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shell: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-D did not end the shell")
	}
	lacks(t, "screen", plainText(screen.String()), "**", "`", `{"time"`)
	if console.String() != "" {
		t.Errorf("log lines on the console:\n%s", console.String())
	}
}

// plainText is what a terminal shows of s: without its escape sequences.
func plainText(s string) string { return ansiEscape.ReplaceAllString(s, "") }

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// A signal stops a shell that waits for its next line, on a terminal and
// piped; and the shell's one user is not rate-limited.
func TestShellStopsOnASignalAndIsNotRateLimited(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	env := map[string]string{"BOT_LANG": "en", "BOT_RATE_LIMIT": "2"}
	go func() {
		done <- bot.Run(ctx, []string{"bot", "shell"}, func(k string) string { return env[k] }, pr, &out, io.Discard)
	}()
	for i := range 5 {
		if _, err := io.WriteString(pw, "/whoami\n"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return strings.Count(out.String(), "Your staff id") > i })
	}
	if strings.Contains(out.String(), "per minute") {
		t.Errorf("the shell's user was rate-limited:\n%s", out.String())
	}
	cancel() // the shell waits for a sixth line
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shell after a signal: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the shell did not stop on a signal while waiting for input")
	}
}

// In the shell, an import's rows follow its command line up to an empty
// line, as a pasted message holds them; the confirmation creates them.
func TestShellReadsAnImportsLines(t *testing.T) {
	t.Parallel()
	in := strings.NewReader("/contact import\nname=A email=a@example.com\nname=B email=b@example.com\n\n")
	var out bytes.Buffer
	env := map[string]string{"BOT_LANG": "en"}
	if err := bot.Run(context.Background(), []string{"bot", "shell"}, func(k string) string { return env[k] }, in, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	contains(t, "shell", out.String(), "2 to create, 0 already exist, 0 invalid", "line 2: B")
}
