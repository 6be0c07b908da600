package agent

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/spool"
	"github.com/catops/cli/pkg/telemetry/prom/promtest"
	"github.com/catops/cli/pkg/wire"
)

// With CATOPS_SPOOL_DIR, what a shutdown cannot deliver stays in the spool,
// closed cleanly, for the next run; the log says so.
func TestShutdownLeavesUndeliveredEventsInTheSpool(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, func(c *config.Config, _ *Deps) { c.SpoolDir, c.SpoolMaxBytes = dir, 64<<20 })
	e.waitFor("the start snapshot", func(st receiver.NodeState) bool { return st.LastSeq > 0 })
	e.rcv.SetDown(true)
	_, err := e.client.CoreV1().Pods("shop").Create(context.Background(), newPod("shop", "born-in-outage"), metav1.CreateOptions{})
	require.NoError(t, err)
	// A tick that counts the pod has queued its change (changes go first).
	require.Eventually(t, func() bool { return promtest.Value(e.metrics.CachedPods) >= 1 }, 10*time.Second, 10*time.Millisecond)
	e.stop()

	kept := e.logs.FilterMessage("Events not delivered at shutdown stay in the spool; a restart with the same spool directory sends them").All()
	require.Len(t, kept, 1)
	assert.Empty(t, e.logs.FilterMessageSnippet("Events not delivered at shutdown: the backend").All(), "nothing is reported lost")

	sp, err := spool.Open(dir, spool.Options{})
	require.NoError(t, err, "the agent closed the spool: its lock is free")
	defer sp.Close()
	var found bool
	for _, r := range sp.Replay().Records {
		if r.Event.Type == wire.EventPodUpsert && bytes.Contains(r.Event.Data, []byte(`"name":"born-in-outage"`)) {
			found = true
		}
	}
	assert.True(t, found, "the change made during the outage is in the spool")
}
