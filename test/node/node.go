package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vishvananda/netns"

	"github.com/catops/cli/test/rig"
)

// Options chooses where the node lives and how it reports.
type Options struct {
	// Dir is the state folder (PIDs, configs, logs, containerd's and the
	// kubelet's data, the overlays' upper dirs, the control plane in
	// Dir/cp). Required; Down removes it.
	Dir string
	// Detach lets the node outlive this Go process (the shell entry); Down
	// then works from Dir/state.json alone.
	Detach bool
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// Node is a running node and its control plane.
type Node struct {
	// Name is the Node object's name (the machine's host name).
	Name string
	// Cluster is the control plane (for Detach, an Attach handle).
	Cluster *rig.Cluster
	// Times of the start phases.
	Timings Timings

	opts  Options
	paths paths
	st    *state
	// netns is the node's network namespace (-1 until Up opens it, and
	// after Down).
	nsMu  sync.Mutex
	netns netns.NsHandle
}

// Timings of Up, for the docs.
type Timings struct {
	Namespace, ControlPlane, Runtime, Ready, Total time.Duration
}

// state is Dir/state.json: what Down needs to find and stop everything.
type state struct {
	Node          string    `json:"node"`
	Anchor        proc      `json:"anchor"`
	MountNS       string    `json:"mountNS"` // "mnt:[inode]" of the anchor
	NetNS         string    `json:"netNS"`   // "net:[inode]" of the anchor
	Containerd    proc      `json:"containerd"`
	Kubelet       proc      `json:"kubelet"`
	NewCgroups    []string  `json:"newCgroups"` // kubepods dirs absent before Up
	ControlPlane  bool      `json:"controlPlane"`
	Started       time.Time `json:"started"`
	ReadyDuration string    `json:"readyDuration,omitempty"`
}

func (n *Node) logf(format string, args ...any) {
	if n.opts.Logf != nil {
		n.opts.Logf(format, args...)
	}
}

func (n *Node) saveState() error {
	data, err := json.MarshalIndent(n.st, "", "  ")
	if err != nil {
		return err
	}
	tmp := n.paths.state + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, n.paths.state)
}

func readState(p paths) (*state, error) {
	data, err := os.ReadFile(p.state)
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("node: %s: %w", p.state, err)
	}
	return &st, nil
}

// CheckHost returns an error saying what is missing for Up on this machine:
// root, the binaries of make node-tools, the images of make node-images,
// util-linux's unshare/nsenter, iproute2's ip.
func CheckHost() error {
	if os.Geteuid() != 0 {
		return errors.New("node: must run as root (mount namespace, mounts, cgroups, containerd); run with sudo or as root")
	}
	b, err := findBinaries()
	if err != nil {
		return err
	}
	for _, f := range append(b.all(), b.images()...) {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("node: %s missing: run `make node-tools node-images` first", f)
		}
	}
	_, err = nodeName()
	return err
}

// Up starts the namespace, the control plane, containerd (with the images
// imported) and the kubelet, and returns once the Node is Ready. On error
// what was started is stopped again, unless RIG_KEEP=1 (to look at it; then
// Down or `node down` cleans up).
func Up(ctx context.Context, opts Options) (_ *Node, err error) {
	t0 := time.Now()
	if opts.Dir == "" {
		return nil, errors.New("node: Options.Dir is required")
	}
	if err := CheckHost(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	p := newPaths(dir)
	if _, err := os.Stat(p.state); err == nil {
		return nil, fmt.Errorf("node: a node is (or was) up in %s; run `node down --dir %s` first", dir, dir)
	}
	if err := os.MkdirAll(p.logs, 0o755); err != nil {
		return nil, err
	}
	name, _ := nodeName()
	bins, _ := findBinaries()
	n := &Node{Name: name, opts: opts, paths: p, st: &state{Node: name, Started: t0}, netns: -1}
	defer func() {
		if err != nil && os.Getenv("RIG_KEEP") != "1" {
			if derr := n.Down(); derr != nil {
				err = errors.Join(err, fmt.Errorf("node: cleaning up after the failed start: %w", derr))
			}
		}
	}()

	n.st.NewCgroups = absentKubepods()
	if err := n.startNamespace(); err != nil {
		return n, err
	}
	n.Timings.Namespace = time.Since(t0)
	n.logf("node: mount namespace %s ready in %.2fs (anchor pid %d)", n.st.MountNS, n.Timings.Namespace.Seconds(), n.st.Anchor.PID)

	t := time.Now()
	if err := n.startControlPlane(ctx, bins); err != nil {
		return n, err
	}
	n.Timings.ControlPlane = time.Since(t)

	t = time.Now()
	if err := n.startContainerd(ctx, bins); err != nil {
		return n, err
	}
	if err := n.startKubelet(bins); err != nil {
		return n, err
	}
	n.Timings.Runtime = time.Since(t)
	if err := n.waitReady(ctx, 2*time.Minute); err != nil {
		return n, err
	}
	n.Timings.Ready = time.Since(t)
	n.Timings.Total = time.Since(t0)
	n.st.ReadyDuration = n.Timings.Total.String()
	if err := n.saveState(); err != nil {
		return n, err
	}
	n.logf("node: Node %s Ready %.2fs after containerd start; %.2fs in all", name, n.Timings.Ready.Seconds(), n.Timings.Total.Seconds())
	return n, nil
}

// Down stops the node started with the same Dir (this handle's or, for
// DownDir, the one in state.json).
func (n *Node) Down() error {
	n.closeNetNS()
	return down(n.paths, n.Cluster, n.st, n.opts.Logf)
}

// DownDir stops a node started detached in dir and removes dir. Nothing
// to stop (no state.json) is not an error.
func DownDir(dir string, logf func(string, ...any)) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	p := newPaths(dir)
	st, err := readState(p)
	if errors.Is(err, os.ErrNotExist) {
		if logf != nil {
			logf("node: nothing to stop (no %s)", p.state)
		}
		return nil
	}
	if err != nil {
		return err
	}
	return down(p, nil, st, logf)
}
