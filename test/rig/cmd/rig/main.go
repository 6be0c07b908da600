// Command rig starts and stops the test rig's control plane from the shell,
// in the background, with its state in .rig/ at the repository root.
//
//	go run ./test/rig/cmd/rig up [--nodes N] [--no-controllers] [--no-kwok]
//	go run ./test/rig/cmd/rig status
//	go run ./test/rig/cmd/rig down
//
// After `up`: export KUBECONFIG=$PWD/.rig/kubeconfig and use .cache/bin/kubectl.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/test/rig"
)

func usage() {
	fmt.Fprintf(os.Stderr, `usage: rig up [--nodes N] [--no-controllers] [--no-kwok] [--metrics-server] [--control-plane-node] [--dir DIR] [--stop-hint CMD]
       rig status [--dir DIR]
       rig down [--dir DIR]

up      starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
        kwok with N simulated nodes (default 2) in the background; state, logs
        and the admin kubeconfig go to DIR (default .rig/ at the repo root).
status  shows each process and whether the API server answers.
down    stops every process by its PID and removes DIR.
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
	dir := fl.String("dir", "", "state folder (default .rig at the repository root)")
	nodes := fl.Int("nodes", 2, "kwok nodes to create (up)")
	noControllers := fl.Bool("no-controllers", false, "do not run kube-controller-manager and kube-scheduler (up)")
	noKwok := fl.Bool("no-kwok", false, "do not run kwok (up; implies --nodes 0)")
	metricsServer := fl.Bool("metrics-server", false, "also run metrics-server behind the aggregation layer (up; needs kwok)")
	controlPlane := fl.Bool("control-plane-node", false, "also create kwok-control-plane, a node tainted node-role.kubernetes.io/control-plane:NoSchedule (up)")
	stopHint := fl.String("stop-hint", "", "the command the banner names to stop the rig (up; default: `rig down` for DIR)")
	_ = fl.Parse(os.Args[2:])

	if *dir == "" {
		root, err := rig.RepoRoot()
		if err != nil {
			fail(err)
		}
		*dir = filepath.Join(root, ".rig")
	}
	var err error
	switch cmd {
	case "up":
		err = up(*dir, *nodes, !*noControllers, !*noKwok, *metricsServer, *controlPlane, *stopHint)
	case "down":
		err = down(*dir)
	case "status":
		err = status(*dir)
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "rig: %v\n", err)
	os.Exit(1)
}

func logf(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func up(dir string, nodes int, controllers, kwok, metricsServer, controlPlane bool, stopHint string) error {
	if st, err := rig.ReadState(dir); err == nil {
		for _, p := range st.Processes {
			if p.Alive() {
				return fmt.Errorf("a rig is already up in %s (%s pid %d); run `rig down` first", dir, p.Name, p.PID)
			}
		}
		logf("rig: removing stale state in %s", dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Leftovers of a stale or failed `up` (only the rig's own files).
	if err := rig.CleanDir(dir); err != nil {
		return err
	}
	if !kwok {
		nodes = 0
	}
	// Ctrl-C during `up` stops what was started (Start cleans up when its
	// context ends); a closed stdout (`| head`) must not kill us half-way.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	c, err := rig.Start(ctx, rig.Options{
		ControllerManager: controllers,
		Scheduler:         controllers,
		Kwok:              kwok,
		MetricsServer:     metricsServer && kwok,
		Nodes:             nodes,
		Dir:               dir,
		KeepDir:           true,
		Detach:            true,
		Logf:              logf,
	})
	if err != nil {
		return err // logs stay in dir/logs; the next `up` cleans up
	}
	if controlPlane && kwok {
		if _, err := c.CreateNode(ctx, rig.NodeOptions{
			Name:   "kwok-control-plane",
			Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""},
			Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
		}); err != nil {
			return err
		}
		if err := c.WaitNodeReady(ctx, "kwok-control-plane", time.Minute); err != nil {
			return err
		}
		logf("rig: tainted control-plane node kwok-control-plane Ready")
	}
	bin, _ := rig.BinDir()
	if stopHint == "" {
		stopHint = "go run ./test/rig/cmd/rig down   (or make cluster-down)"
		abs, _ := filepath.Abs(dir)
		if root, err := rig.RepoRoot(); err != nil || abs != filepath.Join(root, ".rig") {
			stopHint = "go run ./test/rig/cmd/rig down --dir " + dir
		}
	}
	fmt.Printf(`
API server:  %s
kubeconfig:  %s
logs:        %s
Try:
  export KUBECONFIG=%s
  %s get nodes
Stop with:   %s
`, c.APIServerURL, c.Kubeconfig, filepath.Join(dir, "logs"), c.Kubeconfig, filepath.Join(bin, rig.BinKubectl), stopHint)
	return nil
}

func down(dir string) error {
	if _, err := rig.ReadState(dir); errors.Is(err, fs.ErrNotExist) {
		logf("rig: nothing to stop (no %s)", filepath.Join(dir, rig.StateFile))
		return nil
	}
	if err := rig.StopDetached(dir, logf); err != nil {
		return err
	}
	logf("rig: down; cleaned %s", dir)
	return nil
}

func status(dir string) error {
	st, err := rig.ReadState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		logf("rig: not up (no %s)", filepath.Join(dir, rig.StateFile))
		os.Exit(3)
	}
	if err != nil {
		return err
	}
	up := 0
	for _, p := range st.Processes {
		state := "DEAD"
		if p.Alive() {
			state = "running"
			up++
		}
		logf("%-24s pid %-7d %-8s log %s", p.Name, p.PID, state, p.Log)
	}
	c, err := rig.Attach(context.Background(), dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if body, err := c.Get(ctx, "/readyz"); err != nil {
		logf("API server %s: NOT ready: %v", c.APIServerURL, err)
	} else {
		logf("API server %s: readyz %s", c.APIServerURL, strings.TrimSpace(string(body)))
		if cs, err := c.Clientset(); err == nil {
			if nl, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
				logf("nodes: %d", len(nl.Items))
			}
		}
	}
	logf("kubeconfig: %s (up since %s)", st.Kubeconfig, st.Started.Format(time.RFC3339))
	if !st.Ready {
		logf("WARNING: `rig up` did not finish; run `rig down` and `rig up` again")
	}
	if up != len(st.Processes) {
		return fmt.Errorf("%d of %d processes are not running", len(st.Processes)-up, len(st.Processes))
	}
	return nil
}
