package hostsample

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestReadUptime(t *testing.T) {
	tests := []struct {
		content string
		want    uint64
		wantErr bool
	}{
		{"12345.67 40000.00\n", 12345, false},
		{"7 9\n", 7, false},
		{"0.99 1.00", 0, false},
		{"-3.00 1.00\n", 0, true},
		{"NaN 1\n", 0, true},
		{"\n", 0, true},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "uptime"), []byte(tt.content), 0o644))
		got, err := readUptime(context.Background(), dir)
		if tt.wantErr {
			assert.Error(t, err, "%q", tt.content)
			continue
		}
		require.NoError(t, err, "%q", tt.content)
		assert.Equal(t, tt.want, got, "%q", tt.content)
	}
}

func TestReadUptimeFallsBackToKernel(t *testing.T) {
	up, err := readUptime(context.Background(), t.TempDir())
	require.NoError(t, err)
	assert.Positive(t, up, "sysinfo(2) uptime when the file is missing")
}

func FuzzReadUptime(f *testing.F) {
	f.Add("12345.67 40000.00\n")
	f.Add("1e9 0")
	f.Add("")
	f.Add("000 0")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "uptime"), []byte(content), 0o644))
		got, err := readUptime(context.Background(), dir)
		if err != nil {
			return
		}
		// Whatever was accepted is the whole seconds of the first field.
		first, _, _ := strings.Cut(strings.TrimSpace(content), " ")
		whole, _, _ := strings.Cut(first, ".")
		want, perr := strconv.ParseUint(whole, 10, 64)
		require.NoError(t, perr, "accepted %q", content)
		assert.Equal(t, want, got)
	})
}

func TestHostProcProblem(t *testing.T) {
	// proc lays out a procfs as this process sees it: self links to its
	// PID there, whose status has the NSpid line and ns/pid the namespace.
	proc := func(t *testing.T, nspid, pidNS string) string {
		t.Helper()
		dir := t.TempDir()
		self := filepath.Join(dir, "77")
		require.NoError(t, os.MkdirAll(filepath.Join(self, "ns"), 0o755))
		status := "Name:\tcatops-k8s\n"
		if nspid != "" {
			status += "NSpid:\t" + nspid + "\n"
		}
		require.NoError(t, os.WriteFile(filepath.Join(self, "status"), []byte(status), 0o644))
		require.NoError(t, os.Symlink(pidNS, filepath.Join(self, "ns", "pid")))
		require.NoError(t, os.Symlink("77", filepath.Join(dir, "self")))
		return dir
	}
	tests := []struct {
		name     string
		hostProc func(t *testing.T) string
		want     string // a part of the problem; empty: none
	}{
		{
			name:     "the node's /proc mounted into the pod: an outer PID namespace",
			hostProc: func(t *testing.T) string { return proc(t, "4242\t1", "pid:[4026532871]") },
		},
		{
			name:     "the container's own /proc",
			hostProc: func(t *testing.T) string { return proc(t, "1", "pid:[4026532871]") },
			want:     "it is this container's own /proc: the network interfaces and filesystems reported are the container's",
		},
		{
			name:     "on the node itself, or with hostPID: the initial PID namespace",
			hostProc: func(t *testing.T) string { return proc(t, "1234", "pid:[4026531836]") },
		},
		{
			name:     "a kernel without NSpid: cannot tell, says nothing",
			hostProc: func(t *testing.T) string { return proc(t, "", "pid:[4026532871]") },
		},
		{
			name:     "HOST_PROC missing",
			hostProc: func(t *testing.T) string { return filepath.Join(t.TempDir(), "host", "proc") },
			want:     "no such file or directory: the figures read from it fail; mount the node's /proc there, or unset HOST_PROC",
		},
		{
			name:     "HOST_PROC not a procfs",
			hostProc: func(t *testing.T) string { return t.TempDir() },
			want:     "it is not a procfs of this process's PID namespace or an outer one",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hostProcProblem(tt.hostProc(t))
			if tt.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tt.want)
		})
	}
}

func TestNewWarnsOnceWhenHostProcIsNotTheNodes(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	missing := filepath.Join(t.TempDir(), "host", "proc")
	s := New(Options{HostProc: missing, HostSys: t.TempDir()}, zap.New(core))
	warned := logs.FilterMessage("Host figures may not be the node's: HOST_PROC is not the node's /proc").All()
	require.Len(t, warned, 1)
	assert.Equal(t, zapcore.WarnLevel, warned[0].Level)
	assert.Equal(t, missing, warned[0].ContextMap()["hostProc"])
	assert.Contains(t, warned[0].ContextMap()["reason"], "unset HOST_PROC")

	s.Sample(context.Background())
	assert.Len(t, logs.FilterMessageSnippet("HOST_PROC is not").All(), 1, "said once, at start")

	// The fake node's /proc is an outer namespace's: nothing to say.
	core, logs = observer.New(zapcore.InfoLevel)
	New(newHost(t).opts, zap.New(core))
	assert.Zero(t, logs.FilterMessageSnippet("HOST_PROC").Len())
}
