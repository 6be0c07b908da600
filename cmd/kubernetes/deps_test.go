package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksOnlyTheAPIGroupsItReads guards the agent's resident memory: the
// packages below register every built-in API group at init or drag in
// client-go's fakes and OpenAPI machinery, ≈ 10 MiB of RSS together
// (docs/benchmarks.md, "Memory reductions"). The agent reads core/v1 and
// metrics.k8s.io/v1beta1 through REST clients with schemes of their own.
func TestLinksOnlyTheAPIGroupsItReads(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	for _, p := range []string{
		"k8s.io/client-go/kubernetes",
		"k8s.io/client-go/kubernetes/scheme",
		"k8s.io/client-go/informers",
		"k8s.io/client-go/discovery",
		"k8s.io/client-go/gentype",
		"k8s.io/client-go/testing",
		"k8s.io/metrics/pkg/client/clientset/versioned",
		"k8s.io/api/apps/v1",
		// The cluster reporter's: it is a binary of its own
		// (cmd/kubernetes-cluster) so that node agents do not carry them.
		"k8s.io/client-go/tools/leaderelection",
		"github.com/catops/cli/pkg/cluster",
		"github.com/catops/cli/pkg/leader",
	} {
		if deps[p] {
			t.Errorf("catops-k8s links %s", p)
		}
	}
	if !deps["k8s.io/api/core/v1"] {
		t.Error("go list found no k8s.io/api/core/v1: is the list right?")
	}
}
