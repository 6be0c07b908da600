package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/config"
)

const (
	unitFile   = "../../deploy/systemd/catops.service"
	sampleFile = "../../deploy/systemd/catops.env"
)

// The unit runs the agent as a user of its own with the system read-only,
// no privileges, its token as a credential and its settings from the
// sample's path; systemd-analyze, where the machine has it, finds nothing
// wrong and rates its exposure "OK" (2.0 when written).
func TestSystemdUnitIsHardened(t *testing.T) {
	b, err := os.ReadFile(unitFile)
	require.NoError(t, err)
	unit := string(b)
	for _, line := range []string{
		"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
		"ProtectHome=read-only", "StateDirectory=catops", "Environment=CATOPS_SPOOL_DIR=/var/lib/catops/spool",
		"LoadCredential=token:/etc/catops/token", "Environment=CATOPS_CONFIG=/etc/catops/catops.env",
		"ExecStart=/usr/local/bin/catops", "RestartPreventExitStatus=2",
	} {
		assert.Regexp(t, "(?m)^"+regexp.QuoteMeta(line)+"$", unit)
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("no systemd-analyze on this machine: the unit's syntax and exposure are not checked")
		return
	}
	dir := t.TempDir()
	bin, err := filepath.Abs(os.Args[0]) // any executable: verify checks ExecStart exists
	require.NoError(t, err)
	local := filepath.Join(dir, "catops.service")
	require.NoError(t, os.WriteFile(local, []byte(strings.ReplaceAll(unit, "/usr/local/bin/catops", bin)), 0o600))
	out, err := exec.Command("systemd-analyze", "verify", local).CombinedOutput()
	assert.NoError(t, err, "systemd-analyze verify: %s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify has something to say")
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", local).CombinedOutput()
	require.NoError(t, err, "%s", out)
	m := regexp.MustCompile(`Overall exposure level for catops.service: ([0-9.]+)`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "%s", out)
	exposure, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	assert.LessOrEqual(t, exposure, 2.0, "exposure of the unit (0 safest, 10 unsafe)")
}

// The sample config is valid as shipped and with every commented setting
// turned on.
func TestSampleConfigIsValid(t *testing.T) {
	env := map[string]string{"CATOPS_CONFIG": sampleFile, "CATOPS_AUTH_TOKEN": secret, "CATOPS_MACHINE_ID": machineID}
	load := func() (*config.Config, string) {
		var errOut strings.Builder
		cfg, _, done := config.Load(prog, config.RoleHost, version, nil, func(k string) string { return env[k] }, io.Discard, &errOut)
		if done {
			return nil, errOut.String()
		}
		return cfg, ""
	}
	cfg, errOut := load()
	require.NotNil(t, cfg, errOut)
	assert.Equal(t, "https://api.catops.io", cfg.BackendURL)
	b, err := os.ReadFile(sampleFile)
	require.NoError(t, err)
	on := regexp.MustCompile(`(?m)^#([A-Z_]+=)`).ReplaceAllString(string(b), "$1")
	require.NotEqual(t, string(b), on, "the sample has commented settings")
	all := filepath.Join(t.TempDir(), "catops.env")
	require.NoError(t, os.WriteFile(all, []byte(on), 0o600))
	env["CATOPS_CONFIG"] = all
	cfg, errOut = load()
	require.NotNil(t, cfg, errOut)
	assert.Equal(t, "127.0.0.1:9810", cfg.HealthAddr)
}
