//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/catops/cli/test/node"
	"github.com/catops/cli/test/rig"
)

// agentProcess is catops-k8s running as a process on the host, its
// stdout and stderr captured together.
type agentProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error // cmd.Wait's answer, set before done closes
}

// startAgentProcess runs cmd (the agent binary, e.g. through
// node.Command) with the host's environment plus env.
func startAgentProcess(t *testing.T, cmd *exec.Cmd, env []string) *agentProcess {
	t.Helper()
	p := &agentProcess{done: make(chan struct{})}
	p.cmd = cmd
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start the agent: %v", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

func (p *agentProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *agentProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *agentProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill ends the process with SIGKILL unless it has exited already.
func (p *agentProcess) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends the agent with SIGTERM, as the kubelet does, and returns how
// long it took and how it exited (nil: status 0).
func (p *agentProcess) stop(t *testing.T) (time.Duration, error) {
	t.Helper()
	t0 := time.Now()
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
		return time.Since(t0), p.err
	case <-time.After(30 * time.Second):
		t.Error("agent did not stop within 30s of SIGTERM")
		p.kill()
		return time.Since(t0), p.err
	}
}

// serveInNode serves h on addr inside the node's network namespace (plain
// HTTP, or HTTPS with tlsCfg) until the test ends, and returns its URL.
func serveInNode(t *testing.T, n *node.Node, addr string, h http.Handler, tlsCfg *tls.Config) string {
	t.Helper()
	l, err := n.Listen("tcp", addr)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	if tlsCfg != nil {
		srv.TLS = tlsCfg
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv.URL
}

// testContext is a context for a test's work that ends after want, or
// early enough before go test's -timeout to leave the node 2 minutes to
// stop (a test that hits -timeout panics without running its cleanups,
// leaving the node up).
func testContext(t *testing.T, want time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(want)
	if d, ok := t.Deadline(); ok && d.Add(-2*time.Minute).Before(deadline) {
		deadline = d.Add(-2 * time.Minute)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// requireHostAsFound fails the test when the host's state differs from
// before (node.HostState), listing the differences.
func requireHostAsFound(t *testing.T, before string) {
	t.Helper()
	after, err := node.HostState()
	require.NoError(t, err)
	if before != after {
		t.Errorf("host state changed:\n%s", diffLines(before, after))
	}
}

// upNode starts a node in dir and returns it with down, which stops it
// once (and runs at the test's end if the test did not call it).
func upNode(ctx context.Context, t *testing.T, dir string) (*node.Node, func() error) {
	t.Helper()
	n, err := node.Up(ctx, node.Options{Dir: dir, Logf: t.Logf})
	require.NoError(t, err, "logs in %s/logs", dir)
	var once sync.Once
	var downErr error
	down := func() error {
		once.Do(func() { downErr = n.Down() })
		return downErr
	}
	t.Cleanup(func() {
		if err := down(); err != nil {
			t.Errorf("node down: %v", err)
		}
	})
	return n, down
}

// nodeDir returns the state folder .rig/<name> for a real node, after
// checking the host can run one: a test skips when it cannot (fails in
// CI), and fails when an earlier run left the folder behind.
func nodeDir(t *testing.T, name string) string {
	t.Helper()
	if err := node.CheckHost(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("real node unavailable in CI: %v", err)
		}
		t.Skipf("real node unavailable: %v", err)
	}
	root, err := rig.RepoRoot()
	require.NoError(t, err)
	dir := filepath.Join(root, ".rig", name)
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s exists (a previous run left it): go run ./test/node/cmd/node down --dir %s", dir, dir)
	}
	return dir
}
