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
	"syscall"

	"github.com/spf13/pflag"

	"github.com/catops/cli/pkg/config"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: exit code 2 for bad configuration, 1 for
// a failure to start, 0 after a clean shutdown.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	opts := config.NewOptions("catops-k8s")
	opts.FlagSet().SetOutput(io.Discard)
	if err := opts.Parse(args, getenv); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, opts.Usage())
			return 0
		}
		fmt.Fprintf(stderr, "catops-k8s: %v\n", err)
		return 2
	}
	cfg, err := opts.Validate()
	if err != nil {
		fmt.Fprintf(stderr, "catops-k8s: %v\n", err)
		return 2
	}
	return start(ctx, cfg, stderr)
}
