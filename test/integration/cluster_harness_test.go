//go:build integration

package integration

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
	"github.com/catops/cli/test/rig"
)

// reporterUA is the cluster reporter's user agent in the audit log.
const reporterUA = "catops-k8s-cluster/integration"

var (
	reporterOnce sync.Once
	reporterBin  string
	reporterErr  error
)

// reporterBinary builds catops-k8s-cluster once per test binary, as
// `make build` does, with the version "integration". The first build on a
// machine takes minutes (client-go's clientset); the go build cache keeps
// it.
func reporterBinary(t *testing.T) string {
	t.Helper()
	reporterOnce.Do(func() {
		root, err := rig.RepoRoot()
		if err != nil {
			reporterErr = err
			return
		}
		dir, err := os.MkdirTemp("", "catops-reporter-")
		if err != nil {
			reporterErr = err
			return
		}
		reporterBin = filepath.Join(dir, "catops-k8s-cluster")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=integration", "-o", reporterBin, "./cmd/kubernetes-cluster")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build: its compiled packages are reused
		if out, err := cmd.CombinedOutput(); err != nil {
			reporterErr = fmt.Errorf("go build ./cmd/kubernetes-cluster: %w: %s", err, out)
		}
	})
	require.NoError(t, reporterErr)
	return reporterBin
}

// clusterPost is one request the backend got on the cluster path, whatever
// it answered.
type clusterPost struct {
	at      time.Time
	session string
	leader  wire.Leader
	status  int
	events  []wire.ClusterEvent
}

// clusterBackend is the reference receiver behind a recorder of every
// request on the cluster path: the receiver decides, the recorder sees
// what was attempted (a fenced reporter must attempt nothing).
type clusterBackend struct {
	t   *testing.T
	rcv *receiver.Receiver
	url string

	mu    sync.Mutex
	posts []clusterPost
}

func newClusterBackend(t *testing.T) *clusterBackend {
	t.Helper()
	b := &clusterBackend{t: t}
	var err error
	b.rcv, err = receiver.New(receiver.Options{Token: token})
	require.NoError(t, err)
	h := b.rcv.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != wire.ClusterPath {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var cb wire.ClusterBatch
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			_ = json.NewDecoder(zr).Decode(&cb)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rw, r)
		p := clusterPost{at: time.Now(), session: r.Header.Get(wire.HeaderSession), status: rw.status, events: cb.Events}
		if cb.Leader != nil {
			p.leader = *cb.Leader
		}
		b.mu.Lock()
		b.posts = append(b.posts, p)
		b.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	b.url = srv.URL
	return b
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// all returns the requests so far.
func (b *clusterBackend) all() []clusterPost {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]clusterPost(nil), b.posts...)
}

// accepted returns the requests answered 2xx.
func (b *clusterBackend) accepted() []clusterPost {
	var out []clusterPost
	for _, p := range b.all() {
		if p.status/100 == 2 {
			out = append(out, p)
		}
	}
	return out
}

// events returns the events of the accepted requests, in order.
func (b *clusterBackend) events() []wire.ClusterEvent {
	var out []wire.ClusterEvent
	for _, p := range b.accepted() {
		out = append(out, p.events...)
	}
	return out
}

// reporterProc is one catops-k8s-cluster process.
type reporterProc struct {
	t        *testing.T
	id       string
	cmd      *exec.Cmd
	logs     *bytes.Buffer
	mu       *sync.Mutex
	health   string // 127.0.0.1:port of /metrics
	done     chan struct{}
	exitCode int
}

// leaseTimings are short, so that failover tests take seconds: the lease
// lasts 3 s, the leader renews within 2 s, candidates try every 0.5 s.
var leaseTimings = map[string]string{"CATOPS_LEASE_DURATION": "3s", "CATOPS_RENEW_DEADLINE": "2s", "CATOPS_RETRY_PERIOD": "500ms"}

// startReporter runs a reporter with identity id against c, sending to b.
func startReporter(t *testing.T, c *rig.Cluster, b *clusterBackend, id, lease string, extra map[string]string) *reporterProc {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	env := map[string]string{
		"KUBECONFIG": c.Kubeconfig, "CATOPS_BACKEND_URL": b.url, "CATOPS_AUTH_TOKEN": token,
		"NAMESPACE": "default", "POD_NAME": id, "CATOPS_LEASE_NAME": lease, "CATOPS_HEALTH_ADDR": addr,
		"COLLECTION_INTERVAL": "10s", "CATOPS_FLUSH_DELAY": "100ms", "CATOPS_SHUTDOWN_TIMEOUT": "5s",
		"CATOPS_CLUSTER_NAME": "integration", "CATOPS_LOG_LEVEL": "debug",
	}
	for k, v := range leaseTimings {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	p := &reporterProc{t: t, id: id, logs: &bytes.Buffer{}, mu: &sync.Mutex{}, health: addr, done: make(chan struct{})}
	p.cmd = exec.Command(reporterBinary(t))
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout = syncWriter{p.mu, p.logs}
	p.cmd.Stderr = syncWriter{p.mu, p.logs}
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		p.exitCode = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGCONT)
		p.stop()
		if t.Failed() {
			t.Logf("reporter %s log:\n%s", id, p.logText())
		}
	})
	return p
}

func (p *reporterProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *reporterProc) signal(s syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(s)
	}
}

// stop sends SIGTERM and waits for the exit (30 s at most, then SIGKILL).
func (p *reporterProc) stop() {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Errorf("reporter %s did not stop within 30s of SIGTERM", p.id)
		p.kill()
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *reporterProc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// metric reads one series of the reporter's /metrics ("" when absent).
func (p *reporterProc) metric(series string) string {
	resp, err := http.Get("http://" + p.health + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}
