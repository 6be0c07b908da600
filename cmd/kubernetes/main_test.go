package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secret = "main-test-secret-token"

func runWith(t *testing.T, ctx context.Context, args []string, env map[string]string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpExitsZeroAndListsEveryVariable(t *testing.T) {
	code, out, _ := runWith(t, context.Background(), []string{"--help"}, nil)
	assert.Equal(t, 0, code)
	for _, v := range []string{"CATOPS_BACKEND_URL", "CATOPS_AUTH_TOKEN", "NODE_NAME", "NAMESPACE", "COLLECTION_INTERVAL", "KUBECONFIG"} {
		assert.Contains(t, out, v)
	}
}

func TestBadConfigExitsTwoWithOneLine(t *testing.T) {
	code, out, errOut := runWith(t, context.Background(), nil, map[string]string{
		"NODE_NAME": "n", "CATOPS_AUTH_TOKEN": secret, "COLLECTION_INTERVAL": "abc"})
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
	assert.Contains(t, errOut, "COLLECTION_INTERVAL")
	assert.NotContains(t, errOut, secret)

	code, _, errOut = runWith(t, context.Background(), []string{"--no-such-flag"}, nil)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "no-such-flag")
}

// A kubeconfig the agent cannot load is a configuration mistake like any
// setting: exit 2 and one plain line naming it, before any JSON, and never
// the token.
func TestBadKubeconfigExitsTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"not yaml": "not: [valid", "no server": "apiVersion: v1\nkind: Config\n"} {
		kc := filepath.Join(dir, "kubeconfig")
		require.NoError(t, os.WriteFile(kc, []byte(content), 0o600))
		code, out, errOut := runWith(t, context.Background(), nil, map[string]string{
			"NODE_NAME": "n", "CATOPS_AUTH_TOKEN": secret, "KUBECONFIG": kc, "CATOPS_HEALTH_ADDR": "off"})
		assert.Equal(t, 2, code, name)
		assert.Empty(t, out, name)
		assert.Equal(t, 1, strings.Count(errOut, "\n"), "%s: one line: %q", name, errOut)
		assert.True(t, strings.HasPrefix(errOut, "catops-k8s: load kubeconfig "), "%s: %q", name, errOut)
		assert.Contains(t, errOut, "KUBECONFIG", name)
		assert.NotContains(t, errOut, secret, name)
	}
}

func TestVersion(t *testing.T) {
	code, out, errOut := runWith(t, context.Background(), []string{"--version"}, nil)
	assert.Equal(t, 0, code)
	assert.Empty(t, errOut)
	assert.Regexp(t, `^catops-k8s dev \(go1\.[0-9.]+, [a-z0-9]+/[a-z0-9]+\)\n$`, out)
}

// TestClientGoLinesAreJSON points the agent at an API server whose watches
// carry a warning, which client-go logs through klog; those lines must come
// out as JSON too.
func TestClientGoLinesAreJSON(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "true" {
			// A watch that opens with a warning, which client-go logs
			// through klog, and ends at once.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Warning", `299 - "this API is going away"`)
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Error(w, `{"kind":"Status","status":"Failure","message":"boom","code":500}`, http.StatusInternalServerError)
	}), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://`+addr+`"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	code, _, errOut := runWith(t, ctx, nil, map[string]string{
		"NODE_NAME": "n", "CATOPS_AUTH_TOKEN": secret, "KUBECONFIG": kc, "CATOPS_HEALTH_ADDR": "off",
		"CATOPS_BACKEND_URL": "http://127.0.0.1:1"})
	assert.Equal(t, 0, code, "stopping before the caches sync is a clean stop")
	var clientGo int
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "every line is JSON: %q", l)
		assert.Equal(t, len(m), strings.Count(l, `":`)-strings.Count(l, `\":`), "no key appears twice: %q", l)
		if m["component"] == "client-go" {
			clientGo++
		}
	}
	assert.Positive(t, clientGo, "client-go's own lines were routed into the JSON logger:\n%s", errOut)
	assert.NotContains(t, errOut, secret)
}

// "catops-k8s cluster" runs catops-k8s-cluster from beside the executable;
// without it, one line says what is missing.
func TestClusterSubcommandExecsTheReporter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	dir := t.TempDir()
	for pkg, name := range map[string]string{".": "catops-k8s", "../kubernetes-cluster": "catops-k8s-cluster"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		require.NoError(t, err, "go build %s: %s", pkg, out)
	}
	out, err := exec.Command(filepath.Join(dir, "catops-k8s"), "cluster", "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Regexp(t, `^catops-k8s cluster dev `, string(out))

	require.NoError(t, os.Remove(filepath.Join(dir, "catops-k8s-cluster")))
	cmd := exec.Command(filepath.Join(dir, "catops-k8s"), "cluster", "--version")
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Equal(t, 2, cmd.ProcessState.ExitCode())
	assert.Equal(t, 1, strings.Count(string(out), "\n"), "one line: %q", out)
	assert.Contains(t, string(out), "catops-k8s: run "+filepath.Join(dir, "catops-k8s-cluster")+": ")
	assert.Contains(t, string(out), "make build builds both")
}
