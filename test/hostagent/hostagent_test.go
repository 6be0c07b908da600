//go:build integration

// Package hostagent runs catops, the host agent, as a process against the
// reference receiver on loopback: the host stream end to end, through a
// backend outage and a restart on the same spool. It needs no Kubernetes.
package hostagent

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
	"github.com/catops/cli/test/rig"
)

const token = "host-agent-integration-token"

// arrivals records every applied host batch: its session, replay flag and
// the times of its samples.
type arrivals struct {
	mu      sync.Mutex
	batches []wire.HostBatch
}

func (a *arrivals) add(b *wire.HostBatch) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.batches = append(a.batches, *b)
}

// samples returns the sample times of the applied batches, in order.
func (a *arrivals) samples() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []time.Time
	for _, b := range a.batches {
		for _, e := range b.Events {
			if e.Type == wire.EventHost {
				out = append(out, e.Host.Time)
			}
		}
	}
	return out
}

func (a *arrivals) replayed() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, b := range a.batches {
		if b.Replay {
			n++
		}
	}
	return n
}

type agent struct {
	cmd *exec.Cmd
	log *syncBuffer
}

func start(t *testing.T, bin string, env []string) *agent {
	t.Helper()
	a := &agent{cmd: exec.Command(bin), log: &syncBuffer{}}
	a.cmd.Env = env
	a.cmd.Stderr = a.log
	require.NoError(t, a.cmd.Start())
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			_ = a.cmd.Process.Kill()
			_ = a.cmd.Wait()
		}
	})
	return a
}

// stop sends SIGTERM and waits for the exit, which must be 0.
func (a *agent) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, a.cmd.Wait(), "catops exit; log:\n%s", a.log.String())
}

func TestHostAgentEndToEnd(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "catops")
	build := exec.Command("make", "-s", "--no-print-directory", "-C", "../..", "build-host", "HOST_OUT="+bin) // the binary as shipped
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	got := &arrivals{}
	rcv, err := receiver.New(receiver.Options{Token: token, OnHostBatch: got.add})
	require.NoError(t, err)
	srv := httptest.NewServer(rcv.Handler())
	t.Cleanup(srv.Close)
	tokFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokFile, []byte(token+"\n"), 0o600))
	env := []string{
		"CATOPS_BACKEND_URL=" + srv.URL, "CATOPS_AUTH_TOKEN_FILE=" + tokFile, "COLLECTION_INTERVAL=10s",
		"CATOPS_FLUSH_DELAY=100ms", "CATOPS_SPOOL_DIR=" + filepath.Join(dir, "spool"), "CATOPS_SHUTDOWN_TIMEOUT=2s",
		"CATOPS_HEALTH_ADDR=" + freeAddr(t),
	}
	machineID := readTrimmed(t, "/etc/machine-id")
	if machineID == "" {
		machineID = "0123456789abcdef0123456789abcdef"
		env = append(env, "CATOPS_MACHINE_ID="+machineID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	wait := func(what string, cond func(receiver.HostState) bool) receiver.HostState {
		t.Helper()
		var st receiver.HostState
		err := rcv.Wait(ctx, func() bool {
			var ok bool
			st, ok = rcv.Host(machineID)
			return ok && cond(st)
		})
		require.NoError(t, err, "waiting for %s", what)
		return st
	}

	a := start(t, bin, env)
	st := wait("the start snapshot and a sample", func(st receiver.HostState) bool { return st.Info != nil && st.Sample != nil })

	// The record is this machine's.
	host, _ := os.Hostname()
	assert.Equal(t, host, st.Hostname)
	assert.Equal(t, host, st.Info.Hostname)
	assert.Equal(t, machineID, st.Info.MachineID)
	assert.Equal(t, readTrimmed(t, "/proc/sys/kernel/osrelease"), st.Info.Kernel.Version)
	if id := osReleaseID(t); id != "" {
		assert.Equal(t, id, st.Info.OS.Name)
	}
	require.NotNil(t, st.Info.CPU.LogicalCores)
	assert.Equal(t, cpuinfoProcessors(t), *st.Info.CPU.LogicalCores)
	require.NotNil(t, st.Info.MemoryTotalBytes)
	assert.Equal(t, memTotal(t), *st.Info.MemoryTotalBytes)
	require.NotNil(t, st.Info.BootTime)
	assert.WithinDuration(t, time.Now().Add(-time.Duration(*st.Sample.UptimeSeconds)*time.Second), *st.Info.BootTime, 3*time.Second,
		"boot time and the sample's uptime agree")
	// The records are those of the sample's filesystems and interfaces.
	var mounts, nics []string
	for _, f := range st.Sample.Filesystems {
		mounts = append(mounts, f.Mountpoint)
	}
	for _, n := range st.Sample.Network {
		nics = append(nics, n.Name)
	}
	assert.ElementsMatch(t, mounts, keys(st.Filesystems))
	assert.ElementsMatch(t, nics, keys(st.Interfaces))
	t.Logf("host %s: %s %s, kernel %s, %d cores, %d filesystems, interfaces %v", st.Hostname, st.Info.OS.Name, st.Info.OS.Version,
		st.Info.Kernel.Version, *st.Info.CPU.LogicalCores, len(st.Filesystems), nics)

	// An outage of 25 s (the backend answers 503): the samples taken
	// meanwhile arrive afterwards, in order, in the same session, with no
	// resync.
	rcv.SetDown(true)
	downAt := time.Now()
	time.Sleep(25 * time.Second)
	rcv.SetDown(false)
	upAt := time.Now()
	wait("the samples of the outage", func(receiver.HostState) bool {
		n := 0
		for _, at := range got.samples() {
			if at.After(downAt) && at.Before(upAt) {
				n++
			}
		}
		return n >= 2
	})
	st, _ = rcv.Host(machineID)
	assert.Zero(t, st.Counters.Conflicts, "no resync after the outage")
	assertInOrder(t, got.samples())
	// /metrics counted the outage, and has the spool's families.
	metrics := getMetrics(t, env)
	assert.Regexp(t, `\ncatops_batches_failed_total\{reason="status_5xx"\} [1-9][0-9]*\n`, metrics)
	assert.Regexp(t, `\ncatops_spool_bytes [1-9][0-9]*\n`, metrics)
	assert.Contains(t, metrics, "\n# TYPE catops_spool_write_failures_total counter\n")

	// A restart on the same spool while the backend is down: what the first
	// run could not deliver is sent by the second, as a replay, then the
	// second run's own session begins with a snapshot.
	before := len(got.samples())
	rcv.SetDown(true)
	time.Sleep(12 * time.Second) // at least one sample queued
	a.stop(t)
	assert.Contains(t, a.log.String(), "stay in the spool")
	b := start(t, bin, env)
	time.Sleep(2 * time.Second)
	rcv.SetDown(false)
	st = wait("the second run's session", func(st receiver.HostState) bool { return st.Counters.SnapshotsCompleted >= 2 && st.Sample != nil })
	require.Eventually(t, func() bool { return got.replayed() > 0 }, time.Minute, 100*time.Millisecond, "a replayed batch")
	assert.Greater(t, len(got.samples()), before+1, "the spooled sample and the new run's")
	assert.Zero(t, st.Counters.Conflicts)
	assertInOrder(t, got.samples())
	b.stop(t)
	for _, l := range strings.Split(a.log.String()+b.log.String(), "\n") {
		assert.NotContains(t, l, token, "the token is never logged")
	}
}

func assertInOrder(t *testing.T, at []time.Time) {
	t.Helper()
	for i := 1; i < len(at); i++ {
		assert.False(t, at[i].Before(at[i-1]), "sample %d at %s after one at %s", i, at[i], at[i-1])
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func osReleaseID(t *testing.T) string {
	t.Helper()
	for _, l := range strings.Split(readTrimmed(t, "/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(l, "ID="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func cpuinfoProcessors(t *testing.T) int {
	t.Helper()
	n := 0
	sc := bufio.NewScanner(strings.NewReader(readTrimmed(t, "/proc/cpuinfo")))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "processor") {
			n++
		}
	}
	if n == 0 {
		return runtime.NumCPU()
	}
	return n
}

func memTotal(t *testing.T) uint64 {
	t.Helper()
	for _, l := range strings.Split(readTrimmed(t, "/proc/meminfo"), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			require.NoError(t, err)
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// syncBuffer is a process's stderr, read by the test while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr is a free loopback address below the ephemeral port range
// (rig.FreePort), so that no outgoing connection takes it while catops
// restarts on it.
func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := rig.FreePort()
	require.NoError(t, err)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// getMetrics reads catops's /metrics at the CATOPS_HEALTH_ADDR of env.
func getMetrics(t *testing.T, env []string) string {
	t.Helper()
	var addr string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "CATOPS_HEALTH_ADDR="); ok {
			addr = v
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return string(body)
}
