//go:build integration

package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/pkg/podcache"
	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/test/rig"
)

// TestWatchListRefusedByServer: against an API server whose WatchList
// feature gate is off (the default of Kubernetes 1.33), the agent in its
// default mode (CATOPS_WATCH_LIST=auto) syncs at once through one LIST per
// resource, then only watches.
func TestWatchListRefusedByServer(t *testing.T) {
	args, audit, err := auditArgs(t.TempDir())
	require.NoError(t, err)
	c := rig.StartT(t, rig.Options{Kwok: true, Nodes: 1, APIServerArgs: append(args, "--feature-gates=WatchList=false")})
	require.Equal(t, listRefused, probeInitialList(t, c), "--feature-gates=WatchList=false must make the API server refuse sendInitialEvents")
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	ns := "watchlist-refused"
	createPods(t, cs, ns, "p", 3)

	start := time.Now()
	a := startAgent(t, c.RESTConfig(), node1, nil) // WatchList mode left at its default
	synced := time.Now()
	assert.Less(t, synced.Sub(start), podcache.DefaultFallbackAfter,
		"client-go lists as soon as the server refuses WatchList; the agent's own fallback is for servers that ignore it")
	a.waitFor("the start snapshot", 30*time.Second, equalsTruth(t, cs, node1))

	_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, "after-sync", node1), metav1.CreateOptions{})
	require.NoError(t, err)
	a.waitFor("a pod created after the sync, through the watch", 30*time.Second, func(st receiver.NodeState) bool {
		_, ok := st.Pods[ns+"/after-sync"]
		return ok
	})
	time.Sleep(3 * time.Second) // a few collection intervals of steady state
	end := time.Now()

	startup, steady := agentRequestsIn(t, audit, start, synced), agentRequestsIn(t, audit, synced, end)
	all := agentRequestsIn(t, audit, start, end)
	t.Logf("agent requests at start: %v; in %s after the sync: %v", startup, end.Sub(synced).Round(time.Second), steady)
	for _, res := range []string{"pods", "nodes"} {
		assert.Equal(t, 1, startup["watch "+res+" refused"], "one WatchList request for %s, refused", res)
		assert.Equal(t, 1, startup["list "+res], "one LIST of %s after the refusal", res)
		// The caches count as synced after the LIST, before the WATCH starts.
		assert.Equal(t, 1, all["watch "+res], "one WATCH of %s after the LIST, and no other", res)
	}
	for _, key := range []string{"list pods", "get pods", "list nodes", "get nodes"} {
		assert.Zero(t, steady[key], "no %s after the sync", key)
	}
	assert.NotContains(t, a.logText(), "did not complete the streamed initial list", "the agent's 30 s fallback must not be needed")
}
