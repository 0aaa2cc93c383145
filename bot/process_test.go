package bot_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The bot as an operator runs it: the binary, in processes a test can kill.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// botBinary builds cmd/bot once per test run.
func botBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "armsbot-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "bot")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/bot")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binPath
}

// process is a running bot binary.
type process struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn runs the bot binary as another replica of h's world (its Redis,
// ARMS and DingTalk stand-ins), with env on top of the test defaults.
func (h *harness) spawn(env map[string]string) *harness {
	h.t.Helper()
	r := &harness{t: h.t, arms: h.arms, redis: h.redis, session: h.session}
	vars := r.vars(env)
	cmd := exec.Command(botBinary(h.t), "serve")
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = r.logs
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	r.proc = p
	var once sync.Once
	var runErr error
	r.stop = func() error {
		once.Do(func() { runErr = r.signal(syscall.SIGTERM, 30*time.Second) })
		return runErr
	}
	h.t.Cleanup(func() { _ = r.stop() })
	r.waitHealthy(p.done)
	return r
}

// signal sends sig to the process and waits up to d for it to exit.
func (h *harness) signal(sig syscall.Signal, d time.Duration) error {
	h.t.Helper()
	if err := h.proc.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		h.t.Fatal(err)
	}
	select {
	case err := <-h.proc.done:
		h.proc.done <- err // later waits see it too
		return err
	case <-time.After(d):
		h.t.Fatalf("the bot was still running %s after %s\n%s", d, sig, h.logs)
		return nil
	}
}

// kill ends the process at once, as an OOM kill or a lost node does.
func (h *harness) kill() {
	h.t.Helper()
	_ = h.signal(syscall.SIGKILL, 10*time.Second)
}

// freeze stops the process without ending it, as a long GC pause, a
// throttled container or a VM migration does; thaw lets it go on.
func (h *harness) freeze() {
	h.t.Helper()
	if err := h.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(h.thaw) // a stopped process never exits on SIGTERM
}

func (h *harness) thaw() { _ = h.proc.cmd.Process.Signal(syscall.SIGCONT) }
