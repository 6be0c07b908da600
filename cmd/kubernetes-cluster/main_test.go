package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/config"
)

const secret = "cluster-test-secret-token"

func runWith(t *testing.T, args []string, env map[string]string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpListsTheReportersVariablesOnly(t *testing.T) {
	code, out, _ := runWith(t, []string{"--help"}, nil)
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "Usage: catops-k8s cluster [flags]\n"), out)
	for _, v := range config.RoleEnvNames(config.RoleCluster) {
		assert.Contains(t, out, "env "+v)
	}
	assert.NotContains(t, out, "NODE_NAME")
	assert.NotContains(t, out, "HOST_PROC")
}

func TestVersion(t *testing.T) {
	code, out, _ := runWith(t, []string{"--version"}, nil)
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^catops-k8s cluster dev \(go1\.[0-9.]+, [a-z0-9]+/[a-z0-9]+\)\n$`, out)
}

// A mistake is one plain line and exit 2, naming the setting and never the
// token: a missing namespace, a bad duration, a kubeconfig that does not
// load.
func TestBadConfigExitsTwoWithOneLine(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte("not: [valid"), 0o600))
	base := map[string]string{"CATOPS_AUTH_TOKEN": secret, "NAMESPACE": "catops", "POD_NAME": "p", "CATOPS_HEALTH_ADDR": "off"}
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no namespace":   {map[string]string{"NAMESPACE": ""}, "catops-k8s cluster: NAMESPACE is not set"},
		"bad duration":   {map[string]string{"CATOPS_LEASE_DURATION": "soon"}, "catops-k8s cluster: CATOPS_LEASE_DURATION"},
		"bad kubeconfig": {map[string]string{"KUBECONFIG": kc}, "catops-k8s cluster: load kubeconfig "},
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
