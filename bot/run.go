// Package bot is the armsbot process: Run and one file per subcommand, the
// wiring of the core (commands) to its adapters (arms, redisstore,
// dingtalk), the HTTP server, the dispatcher that takes a message through
// de-duplication, the rate limit and the command runner to a delivered
// reply, the configuration and the metrics.
package bot

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/armsbot/armsbot/bot/logctx"
	"github.com/armsbot/armsbot/bot/redisstore"
)

const usage = `armsbot: manage Alibaba Cloud ARMS alert contacts from DingTalk.

Usage:
  bot serve [flags]            run the DingTalk webhook server
  bot shell [flags]            type commands in a local console (no DingTalk needed)
  bot send [flags] "/command"  sign a message and post it to a running bot
  bot check [flags]            check configuration, Redis, ARMS and DingTalk; changes nothing
  bot version                  print version, commit, build date and Go version
  bot probe URL                print what URL answers; exit 0 if 200 (health checks, kubectl exec)

Run "bot serve -h" or "bot shell -h" for the settings; every flag can also
be given as the environment variable named in its description.
`

// Run is the whole program; main only adds signals and the exit code.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch cmd := args[1]; cmd {
	case "serve", "shell", "send", "check":
		cfg, err := parseConfig(cmd, args[2:], getenv, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("invalid configuration:\n%w", err)
		}
		switch cmd {
		case "serve":
			return serve(ctx, cfg, newLogger(stderr, cfg.LogLevel))
		case "send":
			return send(ctx, cfg, stdout)
		case "check":
			return check(ctx, cfg, stdout)
		}
		return shell(ctx, cfg, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "probe":
		// The container health check: the runtime image has no shell or curl.
		if len(args) != 3 {
			return errors.New("usage: bot probe http://127.0.0.1:8080/healthz")
		}
		return probe(ctx, args[2], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	log := slog.New(logctx.Handler{Handler: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
	redisstore.RouteClientLogs(log)
	return log
}
