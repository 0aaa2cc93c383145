package bot

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Stamped at build time with -ldflags "-X github.com/armsbot/armsbot/bot.version=..." (see deploy/Dockerfile).
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

func versionLine() string {
	c, d := commit, buildDate
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown"
	}
	return fmt.Sprintf("armsbot %s (commit %s, built %s, %s)", version, c, d, runtime.Version())
}
