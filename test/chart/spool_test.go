package chart

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// The disk spool (spool.enabled): CATOPS_SPOOL_DIR on an emptyDir, so
// unacknowledged events survive a container restart (not the pod's
// replacement), capped by spool.maxSize (CATOPS_SPOOL_MAX_BYTES).

const (
	spoolMount = "/var/lib/catops"
	spoolDir   = spoolMount + "/spool"
)

var spoolEnv = []string{"CATOPS_SPOOL_DIR", "CATOPS_SPOOL_MAX_BYTES"}

// assertNoSpool: nothing of the spool in the pod spec.
func assertNoSpool(t *testing.T, r *rendered) {
	t.Helper()
	env := r.env(t)
	for _, name := range spoolEnv {
		assert.NotContains(t, env, name)
	}
	assert.NotContains(t, r.volumes(), "spool")
	assert.NotContains(t, r.mounts(t), "spool")
	for _, v := range r.pod().Volumes {
		assert.Nil(t, v.EmptyDir, "volume %s: no emptyDir without the spool", v.Name)
	}
}

// TestSpoolOffByDefault: off, the pod spec is what it was before the
// option existed, whatever spool.maxSize says; a release installed by an
// older chart (helm upgrade --reuse-values keeps its values, without
// spool) renders as off too.
func TestSpoolOffByDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"defaults", nil},
		{"off, with a size", []string{"--set", "spool.enabled=false", "--set", "spool.maxSize=1Gi"}},
		{"values of an older chart", []string{"--set", "spool=null"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertNoSpool(t, render(t, append([]string{"--set", "auth.token=x"}, tc.args...)...))
		})
	}
}

// TestSpoolEnabled: the two variables, the emptyDir (no sizeLimit, on
// disk) and its read-write mount; everything else stays as it was.
func TestSpoolEnabled(t *testing.T) {
	off := render(t, "--set", "auth.token=x")
	r := render(t, "--set", "auth.token=x", "--set", "spool.enabled=true")

	env := r.env(t)
	assert.Equal(t, spoolDir, env["CATOPS_SPOOL_DIR"])
	assert.Equal(t, "64Mi", env["CATOPS_SPOOL_MAX_BYTES"], "the default size, as a quantity")
	offEnv := off.env(t)
	for _, name := range spoolEnv {
		delete(env, name)
	}
	assert.Equal(t, offEnv, env, "only the spool's variables are added")

	vol, ok := r.volumes()["spool"]
	require.True(t, ok, "no spool volume")
	assert.Equal(t, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}, vol.VolumeSource,
		"an emptyDir on the node's disk (not Memory), no sizeLimit: over it the pod is evicted; the agent caps the file itself")
	assert.Len(t, r.pod().Volumes, len(off.pod().Volumes)+1)

	mounts := r.mounts(t)
	assert.Equal(t, corev1.VolumeMount{Name: "spool", MountPath: spoolMount}, mounts["spool"],
		"read-write, the whole volume (no subPath)")
	for name, m := range mounts {
		if name != "spool" {
			assert.True(t, m.ReadOnly, "%s: the spool is the only writable mount", name)
		}
	}
	assert.Len(t, mounts, len(off.mounts(t))+1)

	// The container keeps its read-only root filesystem and non-root user:
	// the emptyDir (mode 0777 without an fsGroup) is what it writes.
	c := r.container(t)
	assert.Equal(t, off.container(t).SecurityContext, c.SecurityContext)
	assert.Equal(t, ptr.To(true), c.SecurityContext.ReadOnlyRootFilesystem)
	assert.Equal(t, off.pod().SecurityContext, r.pod().SecurityContext, "no fsGroup needed")

	// The agent takes what the chart rendered.
	cfg, err := agentConfig(t, r)
	require.NoError(t, err)
	assert.Equal(t, spoolDir, cfg.SpoolDir)
	assert.Equal(t, 64<<20, cfg.SpoolMaxBytes)
}

// TestSpoolMaxSizeReachesTheAgent: spool.maxSize reaches
// CATOPS_SPOOL_MAX_BYTES as given, a quantity or a number of bytes (a
// number printed in full, also a values file's, which Helm reads as a
// float), and the agent reads it as meant.
func TestSpoolMaxSizeReachesTheAgent(t *testing.T) {
	file := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, os.WriteFile(file, []byte("auth:\n  token: x\nspool:\n  enabled: true\n  maxSize: 134217728\n"), 0o600))
	for _, tc := range []struct {
		name  string
		args  []string
		want  string
		bytes int
	}{
		{"quantity", []string{"--set", "spool.maxSize=128Mi"}, "128Mi", 128 << 20},
		{"gibibytes", []string{"--set", "spool.maxSize=1Gi"}, "1Gi", 1 << 30},
		{"decimal quantity", []string{"--set", "spool.maxSize=100M"}, "100M", 100_000_000},
		{"bytes as a string", []string{"--set-string", "spool.maxSize=134217728"}, "134217728", 128 << 20},
		{"bytes as a number", []string{"--set", "spool.maxSize=134217728"}, "134217728", 128 << 20},
		{"bytes as JSON", []string{"--set-json", "spool.maxSize=33554432"}, "33554432", 32 << 20},
		{"bytes from a values file", []string{"-f", file}, "134217728", 128 << 20},
		{"the agent's largest", []string{"--set", "spool.maxSize=2147483648"}, "2147483648", 1 << 31},
		// helm upgrade --reuse-values --set spool.enabled=true on a release
		// of an older chart: no spool.maxSize in its values.
		{"size missing", []string{"--set", "spool.maxSize=null"}, "64Mi", 64 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--set", "auth.token=x", "--set", "spool.enabled=true"}, tc.args...)
			r := render(t, args...)
			assert.Equal(t, tc.want, r.env(t)["CATOPS_SPOOL_MAX_BYTES"])
			cfg, err := agentConfig(t, r)
			require.NoError(t, err)
			assert.Equal(t, tc.bytes, cfg.SpoolMaxBytes)
		})
	}
}

// TestSpoolExtraEnvWins: a spool variable set in extraEnv replaces the
// chart's (never two variables of one name: server-side apply refuses
// them; env() fails on a duplicate); the volume is still mounted.
func TestSpoolExtraEnvWins(t *testing.T) {
	r := render(t, "--set", "auth.token=x", "--set", "spool.enabled=true",
		"--set-json", `extraEnv=[{"name":"CATOPS_SPOOL_DIR","value":"/var/lib/catops/other"}]`)
	env := r.env(t)
	assert.Equal(t, "/var/lib/catops/other", env["CATOPS_SPOOL_DIR"])
	assert.Equal(t, "64Mi", env["CATOPS_SPOOL_MAX_BYTES"], "the other variable stays the chart's")
	assert.Contains(t, r.volumes(), "spool")
	assert.Contains(t, r.mounts(t), "spool")

	r = render(t, "--set", "auth.token=x", "--set", "spool.enabled=true", "--set", "spool.maxSize=128Mi",
		"--set-json", `extraEnv=[{"name":"CATOPS_SPOOL_MAX_BYTES","value":"256Mi"}]`)
	env = r.env(t)
	assert.Equal(t, "256Mi", env["CATOPS_SPOOL_MAX_BYTES"])
	assert.Equal(t, spoolDir, env["CATOPS_SPOOL_DIR"])

	r = render(t, "--set", "auth.token=x", "--set", "spool.enabled=true",
		"--set-json", `extraEnv=[{"name":"CATOPS_SPOOL_MAX_BYTES","value":"1Gi"},{"name":"CATOPS_SPOOL_DIR","value":"/var/lib/catops/x"}]`)
	env = r.env(t)
	assert.Equal(t, "1Gi", env["CATOPS_SPOOL_MAX_BYTES"])
	assert.Equal(t, "/var/lib/catops/x", env["CATOPS_SPOOL_DIR"])

	// Off, extraEnv's spool variables are passed through alone (the user
	// brings the volume).
	r = render(t, "--set", "auth.token=x", "--set-json", `extraEnv=[{"name":"CATOPS_SPOOL_DIR","value":"/data/spool"}]`)
	assert.Equal(t, "/data/spool", r.env(t)["CATOPS_SPOOL_DIR"])
	assert.NotContains(t, r.env(t), "CATOPS_SPOOL_MAX_BYTES")
	assert.NotContains(t, r.volumes(), "spool")
}

// TestSpoolSchemaRefuses: a mistyped switch, a malformed size or a
// misspelt key fails the install with one short line naming it.
func TestSpoolSchemaRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		path string
	}{
		{"switch a word", []string{"--set", "spool.enabled=yes-please"}, "/spool/enabled"},
		{"switch a string", []string{"--set-string", "spool.enabled=true"}, "/spool/enabled"},
		{"switch a number", []string{"--set", "spool.enabled=1"}, "/spool/enabled"},
		{"spool a switch", []string{"--set", "spool=true"}, "/spool"},
		{"size in MB", []string{"--set", "spool.maxSize=64MB"}, "/spool/maxSize"},
		{"size with a space", []string{"--set", "spool.maxSize=64 Mi"}, "/spool/maxSize"},
		{"size a word", []string{"--set", "spool.maxSize=lots"}, "/spool/maxSize"},
		{"size lowercase mi", []string{"--set", "spool.maxSize=64mi"}, "/spool/maxSize"},
		{"size KiB", []string{"--set", "spool.maxSize=65536KiB"}, "/spool/maxSize"},
		{"size empty", []string{"--set", "spool.maxSize="}, "/spool/maxSize"},
		{"size negative", []string{"--set-string", "spool.maxSize=-64Mi"}, "/spool/maxSize"},
		{"size a negative number", []string{"--set", "spool.maxSize=-1"}, "/spool/maxSize"},
		{"size beyond the agent's 2Gi", []string{"--set", "spool.maxSize=3000000000"}, "/spool/maxSize"},
		{"size a fraction of a byte", []string{"--set-json", "spool.maxSize=1048576.5"}, "/spool/maxSize"},
		{"size a boolean", []string{"--set", "spool.maxSize=true"}, "/spool/maxSize"},
		{"misspelt key", []string{"--set", "spool.maxsize=64Mi"}, "/spool"},
		{"size through extraEnv", []string{"--set-json", `extraEnv=[{"name":"CATOPS_SPOOL_MAX_BYTES","value":"64MB"}]`}, "/extraEnv/0/value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--set", "auth.token=x", "--set", "spool.enabled=true"}, tc.args...)
			assertOneShortLine(t, schemaRefusal(t, args...), tc.path)
		})
	}
}

// TestSpoolNeedsDeltaFormat: the snapshot wire format has no send queue to
// spool; the agent would refuse the pair at start, the chart refuses it
// at install.
func TestSpoolNeedsDeltaFormat(t *testing.T) {
	_, err := template(t, "--set", "auth.token=x", "--set", "spool.enabled=true", "--set", "wireFormat=snapshot")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spool.enabled needs wireFormat delta: the snapshot format has no send queue to spool; set wireFormat=delta, or spool.enabled=false")

	assertNoSpool(t, render(t, "--set", "auth.token=x", "--set", "wireFormat=snapshot"))
}

// TestSpoolSizeBelowTheQueueIsTheAgents: the schema cannot compare
// quantities, and the queue's bound may come from extraEnv, so a size
// under CATOPS_QUEUE_MAX_BYTES renders; the agent refuses it at start in
// one line naming both (the chart README says so).
func TestSpoolSizeBelowTheQueueIsTheAgents(t *testing.T) {
	r := render(t, "--set", "auth.token=x", "--set", "spool.enabled=true", "--set", "spool.maxSize=16Mi")
	assert.Equal(t, "16Mi", r.env(t)["CATOPS_SPOOL_MAX_BYTES"])
	_, err := agentConfig(t, r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CATOPS_SPOOL_MAX_BYTES (16777216) must be at least 4 times CATOPS_QUEUE_MAX_BYTES (8388608)")
	assert.NotContains(t, err.Error(), "\n")

	// Under the agent's floor of 1Mi, also as a number: passed through as
	// given (not replaced by the default), refused by the agent.
	r = render(t, "--set", "auth.token=x", "--set", "spool.enabled=true", "--set", "spool.maxSize=0")
	assert.Equal(t, "0", r.env(t)["CATOPS_SPOOL_MAX_BYTES"])
	_, err = agentConfig(t, r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CATOPS_SPOOL_MAX_BYTES must be at least 1048576 bytes, got 0")

	// With a smaller queue, the same size is fine.
	r = render(t, "--set", "auth.token=x", "--set", "spool.enabled=true", "--set", "spool.maxSize=16Mi",
		"--set-json", `extraEnv=[{"name":"CATOPS_QUEUE_MAX_BYTES","value":"4Mi"}]`)
	cfg, err := agentConfig(t, r)
	require.NoError(t, err)
	assert.Equal(t, 16<<20, cfg.SpoolMaxBytes)
}

func TestSpoolHelmLint(t *testing.T) {
	out, err := runHelm(t, "lint", "--strict", chartDir(t), "--set", "auth.token=lint-token",
		"--set", "spool.enabled=true", "--set", "spool.maxSize=128Mi")
	require.NoError(t, err, out)
	assert.Contains(t, out, "1 chart(s) linted, 0 chart(s) failed")
}
