package config

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/spf13/pflag"
)

// Load is a command's start: it parses args and getenv into the Config of
// role for the command prog. --help and --version print to stdout; a
// mistake prints one plain line to stderr (Fail). When done, the command
// exits with code (0 after --help or --version, 2 after a mistake);
// otherwise cfg is valid.
func Load(prog string, role Role, version string, args []string, getenv func(string) string, stdout, stderr io.Writer) (cfg *Config, code int, done bool) {
	opts := NewRoleOptions(prog, role)
	opts.FlagSet().SetOutput(io.Discard)
	if err := opts.Parse(args, getenv); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, opts.Usage())
			return nil, 0, true
		}
		return nil, Fail(stderr, prog, err), true
	}
	if opts.VersionRequested() {
		fmt.Fprintf(stdout, "%s %s (%s, %s/%s)\n", prog, version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil, 0, true
	}
	cfg, err := opts.Validate()
	if err != nil {
		return nil, Fail(stderr, prog, err), true
	}
	return cfg, 0, false
}

// Fail prints err as the one line of a configuration mistake, prefixed
// with prog, and returns the exit code 2.
func Fail(stderr io.Writer, prog string, err error) int {
	fmt.Fprintf(stderr, "%s: %s\n", prog, strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; "))
	return 2
}
