// Command catops-k8s is the CatOps Kubernetes connector: a DaemonSet agent
// that watches the pods of its node and ships their state, usage and host
// samples to the CatOps backend.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/catops/cli/pkg/config"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

// defaultGCPercent is the agent's GOGC unless the GOGC variable sets one:
// between collections the heap grows by half of what is live instead of all
// of it. The agent allocates little once its caches are filled, so the extra
// collections cost next to no CPU; at 1,000 pods they keep ≈ 2 MiB less
// resident (docs/benchmarks.md, "Memory reductions"). GOMEMLIMIT, if set,
// applies as usual.
const defaultGCPercent = 50

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process. Exit codes: 2 for a configuration the
// agent cannot use (a setting, the kubeconfig or the in-cluster config),
// printed as one plain line before anything else; 1 for a failure once
// running, logged as JSON; 0 after a clean shutdown, --help or --version.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	opts := config.NewOptions("catops-k8s")
	opts.FlagSet().SetOutput(io.Discard)
	if err := opts.Parse(args, getenv); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, opts.Usage())
			return 0
		}
		return configError(stderr, err)
	}
	if opts.VersionRequested() {
		fmt.Fprintf(stdout, "catops-k8s %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	cfg, err := opts.Validate()
	if err != nil {
		return configError(stderr, err)
	}
	restCfg, mode, err := kubeConfig(cfg.Kubeconfig, getenv)
	if err != nil {
		return configError(stderr, err)
	}
	return start(ctx, cfg, kube{restCfg, mode}, stderr)
}

// configError prints err as the one line of a configuration mistake.
func configError(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "catops-k8s: %s\n", strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; "))
	return 2
}
