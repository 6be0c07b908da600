package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const hostSecret = "hostConfigSecretToken"

func loadHost(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	o := NewRoleOptions("catops", RoleHost)
	if err := o.Parse(args, func(k string) string { return env[k] }); err != nil {
		return nil, err
	}
	return o.Validate()
}

func writeEnvFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "catops.env")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// A flag wins over the environment, which wins over the config file, which
// wins over the default; the file's values are checked like the others.
func TestHostConfigFilePrecedence(t *testing.T) {
	file := writeEnvFile(t, "# settings\nCATOPS_AUTH_TOKEN="+hostSecret+"\nCOLLECTION_INTERVAL=30\nCATOPS_LOG_LEVEL=debug\nCATOPS_FLUSH_DELAY='2s'\n")
	cfg, err := loadHost(t, []string{"--log-level=warn"}, map[string]string{"CATOPS_CONFIG": file, "COLLECTION_INTERVAL": "20"})
	require.NoError(t, err)
	assert.Equal(t, "warn", cfg.LogLevel.String(), "the flag")
	assert.Equal(t, 20, int(cfg.CollectionInterval.Seconds()), "the environment")
	assert.Equal(t, 2, int(cfg.FlushDelay.Seconds()), "the file")
	assert.Equal(t, hostSecret, cfg.AuthToken, "the file")
	assert.Equal(t, 600, int(cfg.SnapshotInterval.Seconds()), "the default")
	assert.Empty(t, cfg.HealthAddr, "the host's default: off")
	assert.Equal(t, file, cfg.ConfigFile)

	bad := writeEnvFile(t, "COLLECTION_INTERVAL=2\nCATOPS_AUTH_TOKEN="+hostSecret+"\n")
	_, err = loadHost(t, nil, map[string]string{"CATOPS_CONFIG": bad})
	require.Error(t, err)
	assert.Equal(t, "COLLECTION_INTERVAL in "+bad+" must be at least 10s, got 2s", err.Error())
}

// What the file may not hold is refused in one line that names the file
// and never quotes its text, where the token may be.
func TestHostConfigFileMistakes(t *testing.T) {
	for name, tc := range map[string]struct{ content, want string }{
		"unknown variable":  {"CATOPS_BAKEND_URL=https://x\n", "sets CATOPS_BAKEND_URL (line 1), which catops does not read"},
		"node setting":      {"NODE_NAME=n1\n", "sets NODE_NAME (line 1), which catops does not read"},
		"proxy":             {"HTTPS_PROXY=http://proxy:3128\n", "sets HTTPS_PROXY (line 1): proxy variables are read from the environment only"},
		"another config":    {"CATOPS_CONFIG=/etc/other.env\n", "sets CATOPS_CONFIG (line 1): a config file cannot name another"},
		"not KEY=VALUE":     {"CATOPS_LOG_LEVEL=info\n[catops]\nCATOPS_AUTH_TOKEN=" + hostSecret + "\n", "line 2 is not KEY=VALUE"},
		"open quote":        {"CATOPS_AUTH_TOKEN=\"" + hostSecret + "\n", "line 1 is not KEY=VALUE"},
		"open quote, later": {"# a\n\nCATOPS_LOG_LEVEL=info\nCATOPS_AUTH_TOKEN='" + hostSecret + "\n", "line 4 is not KEY=VALUE"},
		// A quote left open swallows the next lines, the token's among
		// them, into a value that is then checked (and would be quoted).
		"quote over lines": {"COLLECTION_INTERVAL=\"10\nCATOPS_AUTH_TOKEN=" + hostSecret + "\"\n", "the value of COLLECTION_INTERVAL (line 1) runs over several lines"},
		"spool over lines": {"CATOPS_SPOOL_DIR=\"/tmp/x\nCATOPS_AUTH_TOKEN=" + hostSecret + "\"\n", "the value of CATOPS_SPOOL_DIR (line 1) runs over several lines"},
		// A token wrapped onto a line of its own reads as a variable: its
		// name is not quoted.
		"token line": {"CATOPS_AUTH_TOKEN=\n" + hostSecret + "==\n", "line 2 sets a variable catops does not read"},
		"no equals":  {"CATOPS_AUTH_TOKEN " + hostSecret + ":abc\n", "line 1 is not KEY=VALUE"},
		"no name":    {"= http://x\n", "is not KEY=VALUE"},
	} {
		file := writeEnvFile(t, tc.content)
		_, err := loadHost(t, nil, map[string]string{"CATOPS_CONFIG": file, "CATOPS_AUTH_TOKEN": "x"})
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
		assert.Contains(t, err.Error(), file, name)
		assert.NotContains(t, err.Error(), hostSecret, name)
		assert.NotContains(t, err.Error(), "\n", name)
	}
	_, err := loadHost(t, []string{"--config", filepath.Join(t.TempDir(), "none.env")}, map[string]string{"CATOPS_AUTH_TOKEN": "x"})
	assert.ErrorContains(t, err, "--config: cannot read")
}

// Without a token setting, the token is systemd's credential "token".
func TestHostTokenFromSystemdCredential(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"CREDENTIALS_DIRECTORY": dir}
	_, err := loadHost(t, nil, env)
	assert.ErrorContains(t, err, "no auth token: the service's credentials", "no credential file yet")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte(hostSecret+"\n"), 0o600))
	cfg, err := loadHost(t, nil, env)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "token"), cfg.AuthTokenFile)
	env["CATOPS_AUTH_TOKEN_FILE"] = filepath.Join(dir, "other")
	require.NoError(t, os.WriteFile(env["CATOPS_AUTH_TOKEN_FILE"], []byte("x\n"), 0o600))
	cfg, err = loadHost(t, nil, env)
	require.NoError(t, err)
	assert.Equal(t, env["CATOPS_AUTH_TOKEN_FILE"], cfg.AuthTokenFile, "a setting wins over the credential")
}

func TestHostMachineIDOverride(t *testing.T) {
	env := map[string]string{"CATOPS_AUTH_TOKEN": hostSecret, "CATOPS_MACHINE_ID": "0123456789abcdef0123456789abcdef"}
	cfg, err := loadHost(t, nil, env)
	require.NoError(t, err)
	assert.Equal(t, env["CATOPS_MACHINE_ID"], cfg.MachineID)
	env["CATOPS_MACHINE_ID"] = strings.ToUpper(env["CATOPS_MACHINE_ID"])
	_, err = loadHost(t, nil, env)
	assert.ErrorContains(t, err, "CATOPS_MACHINE_ID must be 32 lowercase hex digits")
}

// The node agent has no config file: CATOPS_CONFIG is not its setting.
func TestNodeRoleReadsNoConfigFile(t *testing.T) {
	file := writeEnvFile(t, "NODE_NAME=from-file\n")
	o := NewOptions("catops-k8s")
	require.NoError(t, o.Parse(nil, func(k string) string {
		return map[string]string{"CATOPS_CONFIG": file, "NODE_NAME": "n1", "CATOPS_AUTH_TOKEN": "x"}[k]
	}))
	cfg, err := o.Validate()
	require.NoError(t, err)
	assert.Equal(t, "n1", cfg.NodeName)
	assert.Empty(t, cfg.ConfigFile)
}

// FuzzHostConfigFileNeverQuotesTheToken: whatever else a config file holds,
// and wherever the token's line is in it, a mistake's message does not
// quote the token.
func FuzzHostConfigFileNeverQuotesTheToken(f *testing.F) {
	for _, seed := range []string{"COLLECTION_INTERVAL=\"10", "CATOPS_LOG_LEVEL='x", "[catops]", "CATOPS_AUTH_TOKEN=", "export X=\"", "A: 'b", "CATOPS_SPOOL_DIR=\"/tmp/x", "#\"", "X=${"} {
		f.Add(seed, uint8(1))
	}
	f.Fuzz(func(t *testing.T, content string, at uint8) {
		const token = "Zq9TOKENzq9"
		if strings.Contains(strings.ToLower(content), "zq9") {
			return
		}
		lines := strings.Split(content, "\n")
		i := int(at) % (len(lines) + 1)
		lines = append(lines[:i], append([]string{"CATOPS_AUTH_TOKEN=" + token}, lines[i:]...)...)
		p := filepath.Join(t.TempDir(), "catops.env")
		require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o600))
		_, err := loadHost(t, nil, map[string]string{"CATOPS_CONFIG": p, "CATOPS_MACHINE_ID": "0123456789abcdef0123456789abcdef"})
		if err != nil && strings.Contains(err.Error(), token) {
			t.Fatalf("the message quotes the token: %v", err)
		}
	})
}

// The credential's mistakes say where the token was looked for.
func TestHostCredentialMistakes(t *testing.T) {
	dir := t.TempDir()
	_, err := loadHost(t, nil, map[string]string{"CREDENTIALS_DIRECTORY": dir})
	assert.ErrorContains(t, err, "no auth token: the service's credentials ("+dir+") have no file token: does /etc/catops/token exist")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte("\n"), 0o600))
	_, err = loadHost(t, nil, map[string]string{"CREDENTIALS_DIRECTORY": dir})
	assert.ErrorContains(t, err, `the systemd credential "token" (LoadCredential=token:/etc/catops/token): auth token file`)
	assert.ErrorContains(t, err, "is empty")
}
