// Command catops-k8s is the CatOps Kubernetes connector: a DaemonSet agent
// that watches the pods of its node and ships their state, usage and host
// samples to the CatOps backend.
//
// "catops-k8s cluster" runs the cluster reporter instead: it executes
// catops-k8s-cluster (./cmd/kubernetes-cluster), installed beside it in the
// image. The reporter is a binary of its own so that the node agent, on
// every node, does not link client-go's clientset, informers and leader
// election: they register every built-in API group at start, ≈ 9 MiB more
// resident in each agent (docs/benchmarks.md, "The cluster reporter's
// binary").
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/kubeaccess"
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
	if len(os.Args) > 1 && os.Args[1] == "cluster" {
		os.Exit(execCluster(os.Args[2:], os.Stderr))
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
	cfg, code, done := config.Load("catops-k8s", config.RoleNode, version, args, getenv, stdout, stderr)
	if done {
		return code
	}
	access, err := kubeaccess.Find(cfg.Kubeconfig, getenv)
	if err != nil {
		return config.Fail(stderr, "catops-k8s", err)
	}
	return start(ctx, cfg, access, stderr)
}

// clusterBinary is the cluster reporter's binary beside the executable exe.
const clusterBinary = "catops-k8s-cluster"

// execCluster replaces this process with the cluster reporter, given
// args; it returns only when that fails (exit code 2, one line).
func execCluster(args []string, stderr io.Writer) int {
	exe, err := os.Executable()
	if err == nil {
		path := filepath.Join(filepath.Dir(exe), clusterBinary)
		err = syscall.Exec(path, append([]string{clusterBinary}, args...), os.Environ()) //nolint:gosec // our own binary, beside this one
		err = fmt.Errorf("run %s: %w (the image installs it beside catops-k8s; locally, make build builds both)", path, err)
	}
	return config.Fail(stderr, "catops-k8s", err)
}
