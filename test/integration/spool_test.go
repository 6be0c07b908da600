//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/spool"
	"github.com/catops/cli/pkg/wire"
	"github.com/catops/cli/test/rig"
)

// lossyBackend serves the reference receiver; while lose is set it applies
// each batch and then drops the connection without an answer, as a
// backend that crashes after committing does. The agent cannot tell such a
// batch from one never applied, so it sends it again: only the backend's
// dedupe on (session, seq) keeps it from being applied twice.
type lossyBackend struct {
	h    http.Handler
	lose atomic.Bool
}

func (l *lossyBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !l.lose.Load() || r.URL.Path != wire.Path {
		l.h.ServeHTTP(w, r)
		return
	}
	l.h.ServeHTTP(httptest.NewRecorder(), r)
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		_ = conn.Close()
	}
}

// TestSpoolKill9: the backend loses its answers, pods change, the agent is
// killed with SIGKILL and started again on the same spool, the backend
// answers again → every change arrives, each exactly once, in order.
// SPOOL_KILL9_ROUNDS (default 10) repeats it with a fresh receiver and spool.
func TestSpoolKill9(t *testing.T) {
	rounds := 10
	if v := os.Getenv("SPOOL_KILL9_ROUNDS"); v != "" {
		var err error
		rounds, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	c := rig.Shared(t)
	bin := filepath.Join(t.TempDir(), "catops-k8s")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kubernetes")
	build.Dir = "../.."
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for round := 1; round <= rounds; round++ {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) { spoolKill9Round(t, c, bin, round) })
	}
}

func spoolKill9Round(t *testing.T, c *rig.Cluster, bin string, round int) {
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	ns := fmt.Sprintf("spool-%d", round)
	ensureNamespace(t, cs, ns)
	for _, name := range []string{"api", "doomed"} {
		_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, name, node1), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})

	rec := &receiver.Recorder{}
	rcv, err := receiver.New(receiver.Options{Token: token, OnBatch: rec.Record})
	require.NoError(t, err)
	backend := &lossyBackend{h: rcv.Handler()}
	srv := httptest.NewServer(backend)
	defer srv.Close()
	dir := t.TempDir()

	first := startAgentProcess(t, c, bin, srv.URL, dir)
	waitState(t, rcv, "the start snapshot", func(st receiver.NodeState) bool {
		_, api := st.Pods[ns+"/api"]
		_, doomed := st.Pods[ns+"/doomed"]
		return api && doomed
	})

	backend.lose.Store(true)
	for i := 1; i <= 3; i++ {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "api", metav1.GetOptions{})
		require.NoError(t, err)
		p.Labels["step"] = strconv.Itoa(i)
		_, err = cs.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
		require.NoError(t, err)
		time.Sleep(300 * time.Millisecond) // more than a flush delay: no two steps coalesce
	}
	_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, "born", node1), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, cs.CoreV1().Pods(ns).Delete(ctx, "doomed", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
	// Kill the agent once the last change is in its spool: read a copy of
	// the file (the agent holds its lock) until the delete is there.
	require.Eventually(t, func() bool { return spooled(t, dir, ns, "doomed") }, 60*time.Second, 200*time.Millisecond,
		"the agent never spooled the delete of %s/doomed\n%s", ns, first.log())
	first.kill9()
	dupsBefore := rcv.Stats().Duplicates
	st, _ := rcv.Node(node1)
	require.NotContains(t, st.Pods, ns+"/born", "nothing after the first lost answer was applied before the kill")

	backend.lose.Store(false)
	second := startAgentProcess(t, c, bin, srv.URL, dir)
	defer second.stop(t)
	waitState(t, rcv, "the state after the restart", equalsTruth(t, cs, node1))
	// The second run's own session comes after the replay: once the
	// receiver is on it, the replay is over.
	require.Eventually(t, func() bool { st, _ := rcv.Node(node1); return second.session() != "" && st.Session == second.session() },
		30*time.Second, 100*time.Millisecond, "the second run's session never reached the receiver")
	require.NotEqual(t, first.session(), second.session())

	// Each change, exactly once, in the first run's session: the replay.
	var steps []string
	var bornUpserts, doomedDeletes, replayed int
	seqs := map[string]bool{}
	for _, b := range rec.Batches() {
		key := b.Session + "/" + strconv.FormatUint(b.Seq, 10)
		assert.False(t, seqs[key], "batch %s applied twice", key)
		seqs[key] = true
		if b.Replay {
			replayed++
		}
		if b.Session == second.session() {
			continue
		}
		for _, e := range b.Events {
			switch {
			case e.Type == wire.EventPodUpsert && e.Pod.Namespace == ns && e.Pod.Name == "api" && e.Pod.Labels["step"] != "":
				steps = append(steps, e.Pod.Labels["step"])
			case e.Type == wire.EventPodUpsert && e.Pod.Namespace == ns && e.Pod.Name == "born":
				bornUpserts++
			case e.Type == wire.EventPodDelete && e.PodRef.Namespace == ns && e.PodRef.Name == "doomed":
				doomedDeletes++
			}
		}
	}
	assert.Equal(t, []string{"1", "2", "3"}, steps, "each change of api once, in order")
	assert.GreaterOrEqual(t, bornUpserts, 1, "born, created while the answers were lost, arrives from the first run")
	assert.Equal(t, 1, doomedDeletes, "the delete of doomed arrives once")
	assert.Positive(t, replayed, "the first run's batches were sent again by the second run, marked replay")
	assert.Greater(t, rcv.Stats().Duplicates, dupsBefore, "the batch in flight at the kill, already applied, was sent again and recognised as a duplicate")
	if t.Failed() {
		t.Logf("first run:\n%s\nsecond run:\n%s", first.log(), second.log())
	}
}

// spooled reports whether a copy of the spool in dir holds the pod_delete
// of ns/name. A copy taken in the middle of a write may be unreadable:
// then it reports false and the caller reads again.
func spooled(t *testing.T, dir, ns, name string) bool {
	raw, err := os.ReadFile(filepath.Join(dir, spool.FileName))
	if err != nil {
		return false
	}
	cp := t.TempDir()
	if os.WriteFile(filepath.Join(cp, spool.FileName), raw, 0o600) != nil {
		return false
	}
	s, err := spool.Open(cp, spool.Options{})
	if err != nil {
		return false
	}
	defer s.Close()
	for _, r := range s.Replay().Records {
		if r.Event.Type == wire.EventPodDelete && bytes.Contains(r.Event.Data, []byte(`"namespace":"`+ns+`","name":"`+name+`"`)) {
			return true
		}
	}
	return false
}

func waitState(t *testing.T, rcv *receiver.Receiver, what string, cond func(receiver.NodeState) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, rcv.Wait(ctx, func() bool { st, ok := rcv.Node(node1); return ok && cond(st) }), "waiting for %s", what)
}

// agentProcess is catops-k8s running as its own process, so that it can
// be killed with SIGKILL.
type agentProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func startAgentProcess(t *testing.T, c *rig.Cluster, bin, backendURL, spoolDir string) *agentProcess {
	t.Helper()
	p := &agentProcess{done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(),
		"CATOPS_BACKEND_URL="+backendURL, "CATOPS_AUTH_TOKEN="+token, "NODE_NAME="+node1, "NAMESPACE=catops-system",
		"KUBECONFIG="+c.Kubeconfig, "COLLECTION_INTERVAL=10s", "CATOPS_FLUSH_DELAY=100ms", "CATOPS_HEALTH_ADDR=off",
		"CATOPS_POD_METRICS_SOURCE=none", "CATOPS_SPOOL_DIR="+spoolDir, "CATOPS_LOG_LEVEL=debug")
	p.cmd.Stdout, p.cmd.Stderr = p, p
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill9() })
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

func (p *agentProcess) kill9() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends the agent with SIGTERM, as the kubelet does.
func (p *agentProcess) stop(t *testing.T) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Error("agent did not stop on SIGTERM")
		p.kill9()
	}
}

// session is the session the agent logged at start ("" before it did).
func (p *agentProcess) session() string {
	m := sessionRE.FindStringSubmatch(p.log())
	if m == nil {
		return ""
	}
	return m[1]
}

var sessionRE = regexp.MustCompile(`"session":"([0-9a-f]+)"`)
