// Command node starts and stops the real node (test/node: a kubelet on
// containerd + runc, joined to test/rig's control plane, in a private mount
// namespace) from the shell, in the background, with its state in
// .rig/node/ at the repository root. Needs root.
//
//	go run ./test/node/cmd/node up [--dir DIR]    (make node-up)
//	go run ./test/node/cmd/node down [--dir DIR]  (make node-down)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/catops/cli/test/node"
	"github.com/catops/cli/test/rig"
)

func usage() {
	fmt.Fprintf(os.Stderr, `usage: node up [--dir DIR]
       node down [--dir DIR]

up    starts the control plane, containerd and the kubelet in the background
      and waits for the Node Ready; state, logs and the admin kubeconfig
      (DIR/cp/kubeconfig) go to DIR (default .rig/node at the repo root).
down  stops everything by PID, removes the cgroups the node made and DIR.
`)
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd := os.Args[1]
	fl := flag.NewFlagSet(cmd, flag.ExitOnError)
	fl.Usage = usage
	dir := fl.String("dir", "", "state folder (default .rig/node at the repository root)")
	_ = fl.Parse(os.Args[2:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cmd, *dir); err != nil {
		fmt.Fprintf(os.Stderr, "node: %v\n", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func run(ctx context.Context, cmd, dir string) error {
	if dir == "" {
		root, err := rig.RepoRoot()
		if err != nil {
			return err
		}
		dir = filepath.Join(root, ".rig", "node")
	}
	switch cmd {
	case "up":
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		n, err := node.Up(ctx, node.Options{Dir: dir, Detach: true, Logf: logf})
		if err != nil {
			return err
		}
		fmt.Printf(`
Node %s Ready in %.1fs (namespace %.1fs, control plane %.1fs, containerd + kubelet to Ready %.1fs)
kubeconfig:  %s
logs:        %s
The node has its own network namespace: kubectl and helm reach it through
the wrappers in %s (nsenter, admin kubeconfig). Try:
  %s get nodes -o wide
Stop with:   make node-down
`, n.Name, n.Timings.Total.Seconds(), n.Timings.Namespace.Seconds(), n.Timings.ControlPlane.Seconds(), n.Timings.Ready.Seconds(),
			node.Kubeconfig(dir), filepath.Join(dir, "logs"), node.ClientBin(dir), filepath.Join(node.ClientBin(dir), "kubectl"))
		return nil
	case "down":
		return node.DownDir(dir, logf)
	default:
		usage()
		os.Exit(2)
	}
	return nil
}
