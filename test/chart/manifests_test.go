package chart

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// manifests runs hack/manifests.sh with the pinned helm and returns its
// output.
func manifests(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(t), "hack", "manifests.sh"))
	cmd.Env = append(os.Environ(), "HELM="+helmBin(t))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "hack/manifests.sh: %s", stderr.String())
	return stdout.String()
}

// TestManifestsScript: the plain manifests hold no token, no Secret and no
// Helm-only labels, and otherwise are what the chart installs.
func TestManifestsScript(t *testing.T) {
	out := manifests(t)
	assert.True(t, strings.HasPrefix(out, "# CatOps Kubernetes connector: plain manifests"), "starts with the header")
	assert.Contains(t, out, "kubectl -n catops-system create secret generic catops --from-literal=token=YOUR_TOKEN",
		"the header says how to create the Secret first")
	assert.NotContains(t, out, "# Source:")
	assert.NotContains(t, out, "helm.sh/chart")
	assert.NotContains(t, out, "managed-by")

	r := decode(t, out)
	assert.Equal(t, []string{
		"ServiceAccount/catops-cluster", "ServiceAccount/catops",
		"ClusterRole/catops-catops-cluster", "ClusterRole/catops-catops",
		"ClusterRoleBinding/catops-catops-cluster", "ClusterRoleBinding/catops-catops",
		"Role/catops-cluster", "RoleBinding/catops-cluster",
		"DaemonSet/catops", "Deployment/catops-cluster",
	}, r.kinds, "no Secret: users create it with their token")
	assert.Equal(t, "catops", r.volumes()["token"].Secret.SecretName)
	assert.NotContains(t, r.daemonSet.Spec.Template.Annotations, "checksum/secret")
	assert.Equal(t, "catops", r.reporterPod(t).Volumes[0].Secret.SecretName, "the reporter mounts the same Secret")
	assert.NotContains(t, r.reporter.deployment.Spec.Template.Annotations, "checksum/secret")
	assert.Equal(t, namespace, r.daemonSet.Namespace)
	assert.Equal(t, "catops", r.daemonSet.Spec.Template.Labels["app.kubernetes.io/name"])

	again := manifests(t)
	assert.Equal(t, out, again, "the output is deterministic")
}

// TestDeployManifestsUpToDate fails when deploy/catops.yaml is not what
// hack/manifests.sh renders from the chart.
func TestDeployManifestsUpToDate(t *testing.T) {
	want := manifests(t)
	got, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "catops.yaml"))
	require.NoError(t, err)
	if string(got) == want {
		return
	}
	gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(want, "\n")
	line := 0
	for line < len(gotLines) && line < len(wantLines) && gotLines[line] == wantLines[line] {
		line++
	}
	at := func(lines []string) string {
		if line < len(lines) {
			return lines[line]
		}
		return "<end of file>"
	}
	t.Fatalf("deploy/catops.yaml is out of date with charts/catops: regenerate it with\n"+
		"  hack/manifests.sh > deploy/catops.yaml\n"+
		"first difference at line %d:\n  deploy/catops.yaml: %q\n  hack/manifests.sh:  %q",
		line+1, at(gotLines), at(wantLines))
}
