package main

import (
	"bytes"
	"context"
	"io"
	stdlog "log"
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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/wire"
)

const secret = "host-test-secret-token"

// machineID is a valid machine ID for the tests.
const machineID = "0123456789abcdef0123456789abcdef"

func runWith(t *testing.T, args []string, env map[string]string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, nil, &out, &errb)
	return code, out.String(), errb.String()
}

// TestLinksNoKubernetesPackage: catops is the agent of servers without
// Kubernetes; it links no k8s.io package, checked on the package list and
// on the modules recorded in the binary `make build-host` builds, nor what
// it leaves out to stay small (Prometheus's client, HTTP/2).
func TestLinksNoKubernetesPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	require.NoError(t, err, "go list -deps")
	deps := strings.Fields(string(out))
	for _, p := range deps {
		assert.False(t, strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/"), "catops links %s", p)
		// Prometheus's client and protobuf cost an idle process 2.9 MiB
		// (docs/benchmarks.md, "The host agent"): catops's /metrics is
		// pkg/telemetry/victoria's.
		assert.False(t, strings.HasPrefix(p, "github.com/prometheus/") || strings.HasPrefix(p, "google.golang.org/protobuf/"),
			"catops links %s", p)
	}
	for _, want := range []string{"github.com/catops/cli/pkg/hostsample", "github.com/catops/cli/pkg/sender", "github.com/shirou/gopsutil/v4/cpu",
		"github.com/VictoriaMetrics/metrics"} {
		assert.Contains(t, deps, want, "go list found no %s: is the list right?", want)
	}
	bin := filepath.Join(t.TempDir(), "catops")
	build := exec.Command("make", "-s", "--no-print-directory", "-C", "../..", "build-host", "HOST_OUT="+bin) // as shipped
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	mods, err := exec.Command("go", "version", "-m", bin).Output()
	require.NoError(t, err)
	assert.Contains(t, string(mods), "\tbuild\t-tags=nethttpomithttp2\n", "built without net/http's bundled HTTP/2")
	assert.NotContains(t, string(mods), "k8s.io/", "modules in the binary:\n%s", mods)
	assert.NotContains(t, string(mods), "github.com/prometheus/", "modules in the binary:\n%s", mods)
	assert.Contains(t, string(mods), "github.com/shirou/gopsutil/v4")
}

func TestHelpListsTheHostAgentsVariablesOnly(t *testing.T) {
	code, out, _ := runWith(t, []string{"--help"}, nil)
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "Usage: catops [flags]\n"), out)
	for _, v := range config.RoleEnvNames(config.RoleHost) {
		assert.Contains(t, out, "env "+v)
	}
	for _, v := range []string{"NODE_NAME", "KUBECONFIG", "CATOPS_LEASE_NAME", "CATOPS_POD_METRICS_SOURCE"} {
		assert.NotContains(t, out, v)
	}
	assert.Contains(t, out, "env CATOPS_HEALTH_ADDR, default off\n", "a server's agent opens no port unless asked")
}

func TestVersion(t *testing.T) {
	code, out, _ := runWith(t, []string{"--version"}, nil)
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^catops dev \(go1\.[0-9.]+, [a-z0-9]+/[a-z0-9]+\)\n$`, out)
}

// A mistake is one plain line and exit 2, naming the setting and never the
// token.
func TestBadConfigExitsTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc")
	require.NoError(t, os.MkdirAll(etc, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(etc, "machine-id"), []byte("not-an-id\n"), 0o600))
	typo := filepath.Join(dir, "catops.env")
	require.NoError(t, os.WriteFile(typo, []byte("CATOPS_AUTH_TOKEN="+secret+"\nCATOPS_BAKEND_URL=https://x\n"), 0o600))
	base := map[string]string{"CATOPS_AUTH_TOKEN": secret, "CATOPS_MACHINE_ID": machineID}
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no token":          {map[string]string{"CATOPS_AUTH_TOKEN": ""}, "catops: no auth token: set CATOPS_AUTH_TOKEN_FILE"},
		"bad interval":      {map[string]string{"COLLECTION_INTERVAL": "soon"}, "catops: COLLECTION_INTERVAL must be"},
		"bad machine id":    {map[string]string{"CATOPS_MACHINE_ID": "ABC"}, "catops: CATOPS_MACHINE_ID must be 32 lowercase hex digits"},
		"unreadable id":     {map[string]string{"CATOPS_MACHINE_ID": "", "HOST_ETC": etc, "HOST_ROOT": dir}, "catops: cannot read this host's machine ID"},
		"config file typo":  {map[string]string{"CATOPS_CONFIG": typo}, "catops: CATOPS_CONFIG: \"" + typo + "\" sets CATOPS_BAKEND_URL (line 2), which catops does not read"},
		"missing config":    {map[string]string{"CATOPS_CONFIG": filepath.Join(dir, "none.env")}, "catops: CATOPS_CONFIG: cannot read"},
		"config file value": {map[string]string{"CATOPS_CONFIG": writeFile(t, dir, "q.env", "CATOPS_QUEUE_MAX_BYTES=lots\n")}, "catops: CATOPS_QUEUE_MAX_BYTES in "},
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range tc.env {
			env[k] = v
		}
		code, out, errOut := runWith(t, nil, env)
		assert.Equal(t, 2, code, name)
		assert.Empty(t, out, name)
		assert.Equal(t, 1, strings.Count(errOut, "\n"), "%s: one line: %q", name, errOut)
		assert.True(t, strings.HasPrefix(errOut, tc.want), "%s: %q", name, errOut)
		assert.NotContains(t, errOut, secret, name)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// bearerRecorder is a backend that takes every host batch and records the
// bearer tokens it was sent, in order.
type bearerRecorder struct {
	mu      sync.Mutex
	tokens  []string
	arrived chan struct{}
}

func (b *bearerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != wire.HostPath || r.Header.Get("Content-Type") != wire.ContentTypeHost {
		http.Error(w, "not the host stream", http.StatusNotFound)
		return
	}
	b.mu.Lock()
	b.tokens = append(b.tokens, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	b.mu.Unlock()
	select {
	case b.arrived <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusOK)
}

func (b *bearerRecorder) last() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.tokens) == 0 {
		return ""
	}
	return b.tokens[len(b.tokens)-1]
}

// SIGHUP reads the token file again even when its size and time did not
// change (which the file source alone would not notice), and the token is
// never logged. /metrics has the host agent's series, none of the
// Kubernetes ones.
func TestSIGHUPReadsTheTokenAgain(t *testing.T) {
	rec := &bearerRecorder{arrived: make(chan struct{}, 1)}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	tokFile := writeFile(t, dir, "token", "token-one\n")
	st, err := os.Stat(tokFile)
	require.NoError(t, err)
	env := map[string]string{
		"CATOPS_BACKEND_URL": srv.URL, "CATOPS_AUTH_TOKEN_FILE": tokFile, "CATOPS_MACHINE_ID": machineID,
		"COLLECTION_INTERVAL": "10s", "CATOPS_FLUSH_DELAY": "10ms", "CATOPS_HEALTH_ADDR": freeAddr(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	var logs bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, nil, func(k string) string { return env[k] }, hup, &bytes.Buffer{}, &syncWriter{w: &logs})
	}()
	t.Cleanup(func() { cancel(); <-done })

	waitFor(t, rec.arrived, "the first batch")
	assert.Equal(t, "token-one", rec.last())
	metrics := get(t, "http://"+env["CATOPS_HEALTH_ADDR"]+"/metrics")
	for _, series := range []string{"catops_batches_sent_total", "catops_host_sample_duration_seconds_count", "catops_last_collection_timestamp_seconds",
		"go_goroutines", "process_resident_memory_bytes"} {
		assert.Contains(t, metrics, "\n"+series+" ", "/metrics")
	}
	for _, series := range []string{"catops_cached_pods", "catops_usage_available", "rest_client_requests_total", "catops_watch_restarts_total",
		"catops_spool_"} { // no CATOPS_SPOOL_DIR, no spool families
		assert.NotContains(t, metrics, series, "/metrics of a host agent")
	}
	assert.Contains(t, metrics, "\n# HELP catops_batches_sent_total Batches the backend acknowledged.\n# TYPE catops_batches_sent_total counter\n")
	assert.Regexp(t, `\ncatops_build_info\{version="dev",go_version="go[0-9.]+"\} 1\n`, metrics)
	// Same size, same modification time: only a reload notices.
	require.NoError(t, os.WriteFile(tokFile, []byte("token-two\n"), 0o600))
	require.NoError(t, os.Chtimes(tokFile, st.ModTime(), st.ModTime()))
	hup <- syscall.SIGHUP
	deadline := time.Now().Add(30 * time.Second)
	for rec.last() != "token-two" && time.Now().Before(deadline) {
		waitFor(t, rec.arrived, "a batch after SIGHUP")
	}
	assert.Equal(t, "token-two", rec.last(), "the batches after SIGHUP carry the new token")
	stdlog.Print("a line of the standard logger")
	cancel()
	assert.Equal(t, 0, <-done)
	done = make(chan int, 1)
	done <- 0
	out := logs.String()
	assert.Contains(t, out, `"msg":"SIGHUP: auth token read again"`)
	assert.Regexp(t, `\{"level":"info",[^\n]*"component":"metrics",[^\n]*"msg":"a line of the standard logger"\}\n`, out,
		"the standard logger writes JSON lines too")
	assert.NotContains(t, out, "token-one")
	assert.NotContains(t, out, "token-two")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec,noctx // the test's own loopback server
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, b)
	return string(b)
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("waiting for %s", what)
	}
}

// syncWriter serialises writes: the logger and the test read one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// Under systemd the token is a credential copied at start: SIGHUP says a
// restart is needed instead of claiming a new token.
func TestSIGHUPWithASystemdCredentialAsksForARestart(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "token", "token-one\n")
	env := map[string]string{"CREDENTIALS_DIRECTORY": dir, "CATOPS_MACHINE_ID": machineID}
	getenv := func(k string) string { return env[k] }
	cfg, _, done := config.Load(prog, config.RoleHost, version, nil, getenv, io.Discard, io.Discard)
	require.False(t, done)
	r, err := newReloadable(cfg)
	require.NoError(t, err)
	core, logs := observer.New(zapcore.InfoLevel)
	r.reload(nil, getenv, zap.New(core))
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, zapcore.WarnLevel, logs.All()[0].Level)
	assert.Contains(t, logs.All()[0].Message, "restart the service")
	tok, err := r.token()
	require.NoError(t, err)
	assert.Equal(t, "token-one", tok)

	// A file of its own: read again.
	own := writeFile(t, t.TempDir(), "token", "token-two\n")
	env["CATOPS_AUTH_TOKEN_FILE"] = own
	r.reload(nil, getenv, zap.New(core))
	assert.Equal(t, "SIGHUP: auth token read again", logs.All()[1].Message)
	tok, _ = r.token()
	assert.Equal(t, "token-two", tok)
}
