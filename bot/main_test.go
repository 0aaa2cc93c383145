package bot_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs up to 16 tests of this package at once unless -parallel
// says otherwise: they spend their time waiting on bots, stand-ins and
// timers, not on the CPU, so two at a time (the default on two cores)
// leaves the machine idle.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "16")
	}
	os.Exit(m.Run())
}
