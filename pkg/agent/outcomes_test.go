package agent

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/telemetry/prom/promtest"
	"github.com/catops/cli/pkg/wire"
)

// The rows of the sender's outcome table (pkg/sender/outcomes.go,
// docs/protocol.md §2.3), each against the reference receiver with the real
// agent. The row "batch could not be built" cannot be reached with a valid
// configuration; pkg/sender tests it.

func (e *env) failed(reason string) float64 {
	return promtest.Value(e.metrics.BatchesFailed.WithLabelValues(reason))
}

func (e *env) dropped(typ wire.EventType, reason string) float64 {
	return promtest.Value(e.metrics.EventsDropped.WithLabelValues(string(typ), reason))
}

func (e *env) eventually(cond func() bool, msg string) {
	e.t.Helper()
	require.Eventually(e.t, cond, 15*time.Second, 10*time.Millisecond, msg)
}

func (e *env) create(p *corev1.Pod) {
	e.t.Helper()
	_, err := e.client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	require.NoError(e.t, err)
}

func pods(n int) []runtime.Object {
	out := make([]runtime.Object, n)
	for i := range out {
		out[i] = newPod("default", fmt.Sprintf("p%02d", i))
	}
	return out
}

func TestOutcome2xx(t *testing.T) {
	e := newEnv(t, nil, pods(3)...)
	e.waitFor("the start snapshot", e.matchesTruth)
	e.eventually(func() bool { return promtest.Value(e.metrics.BatchesSent) > 0 }, "acknowledged batches counted")
	for _, r := range []string{"network", "status_5xx", "auth", "misrouted", "redirect", "conflict", "too_large", "rejected"} {
		assert.Zero(t, e.failed(r), r)
	}
}

func TestOutcomeShutdownDuringRequest(t *testing.T) {
	var stall atomic.Bool
	stalled := make(chan struct{}, 1)
	testDone := make(chan struct{})
	e := newEnvWith(t, backendOpts{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if stall.CompareAndSwap(true, false) {
				stalled <- struct{}{}
				select { // never answers; the agent gives up
				case <-r.Context().Done():
				case <-testDone:
				}
				return
			}
			h.ServeHTTP(w, r)
		})
	}}, func(c *config.Config, _ *Deps) { c.CollectionInterval = time.Hour })
	t.Cleanup(func() { close(testDone) })
	e.waitFor("the start snapshot", func(receiver.NodeState) bool { return true })
	stall.Store(true)
	e.create(newPod("default", "late"))
	select {
	case <-stalled:
	case <-time.After(15 * time.Second):
		t.Fatal("the change was never posted")
	}
	e.stop() // SIGTERM while the request hangs
	st, _ := e.rcv.Node(node)
	assert.Contains(t, st.Pods, "default/late", "the interrupted batch went out with the final flush")
	assert.Zero(t, e.failed("network"), "an interruption is not a network failure")
	assert.Zero(t, e.logs.FilterMessageSnippet("unreachable").Len(), "and is not logged as one")
}

func TestOutcomeNetworkError(t *testing.T) {
	var drops atomic.Int32
	e := newEnvWith(t, backendOpts{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if drops.Add(-1) >= 0 {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					_ = conn.Close() // connection reset, no answer
				}
				return
			}
			h.ServeHTTP(w, r)
		})
	}}, nil, pods(2)...)
	e.waitFor("the start snapshot", e.matchesTruth)
	drops.Store(3)
	e.create(newPod("default", "after"))
	e.waitFor("the change, after retries", e.matchesTruth)
	// Go's transport replays a POST marked Idempotency-Key once, at once,
	// when a reused connection closes without an answer; the sender sees
	// the rest.
	assert.GreaterOrEqual(t, e.failed("network"), 1.0)
	assert.Equal(t, 1, e.logs.FilterMessage("Backend unreachable; keeping events queued and retrying").Len(), "logged once per outage")
	assert.Zero(t, e.dropped(wire.EventPodUpsert, "rejected"))
}

func TestOutcomeRetryableStatus(t *testing.T) {
	for _, status := range []int{http.StatusRequestTimeout, http.StatusMisdirectedRequest, http.StatusTooEarly,
		http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newEnv(t, nil, pods(2)...)
			e.waitFor("the start snapshot", e.matchesTruth)
			e.rcv.SetFailNext(2, status)
			e.create(newPod("default", "after"))
			e.waitFor("the change, after retries", e.matchesTruth)
			reason := map[int]string{408: "status_408", 421: "status_421", 425: "status_425", 429: "status_429", 503: "status_5xx"}[status]
			assert.Equal(t, 2.0, e.failed(reason))
		})
	}
}

func TestOutcomeTokenUnreadable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(testToken), 0o600))
	e := newEnv(t, func(c *config.Config, _ *Deps) { c.AuthToken, c.AuthTokenFile = "", file }, pods(1)...)
	e.waitFor("the start snapshot", e.matchesTruth)
	require.NoError(t, os.Remove(file))
	e.create(newPod("default", "kept"))
	e.eventually(func() bool { return e.failed("auth") > 0 }, "the token read failed")
	assert.Equal(t, 1, e.logs.FilterMessageSnippet("check CATOPS_AUTH_TOKEN_FILE").Len())
	events := promtest.Value(e.metrics.QueueEvents)
	assert.Positive(t, events, "the events stay queued")
	assert.Zero(t, e.dropped(wire.EventPodUpsert, "rejected"))
}

func TestOutcomeAuthRefused(t *testing.T) {
	e := newEnv(t, func(c *config.Config, _ *Deps) { c.AuthToken = "wrong-token" }, pods(1)...)
	e.eventually(func() bool { return e.failed("auth") > 0 }, "the backend refused the token")
	assert.Equal(t, 1, e.logs.FilterMessageSnippet("check CATOPS_AUTH_TOKEN").Len(), "one line, then a minute's wait")
	events := promtest.Value(e.metrics.QueueEvents)
	assert.Positive(t, events, "the events stay queued")
	for _, entry := range e.logs.All() {
		assert.NotContains(t, fmt.Sprint(entry.Message, entry.Context), "wrong-token", "the token never reaches a log line")
	}
}

func TestOutcomeMisrouted(t *testing.T) {
	e := newEnv(t, func(c *config.Config, _ *Deps) { c.BackendURL += "/wrong-prefix" }, pods(1)...)
	e.eventually(func() bool { return e.failed("misrouted") > 0 }, "the backend answered 404")
	assert.Equal(t, 1, e.logs.FilterMessageSnippet("check CATOPS_BACKEND_URL").Len())
	events := promtest.Value(e.metrics.QueueEvents)
	assert.Positive(t, events, "the events stay queued")
}

func TestOutcomeRedirect(t *testing.T) {
	e := newEnvWith(t, backendOpts{wrap: func(http.Handler) http.Handler {
		return http.RedirectHandler("https://backend.example/api/cli/kubernetes/metrics", http.StatusPermanentRedirect)
	}}, nil, pods(1)...)
	e.eventually(func() bool { return e.failed("redirect") > 0 }, "the backend redirected")
	entries := e.logs.FilterMessageSnippet("set CATOPS_BACKEND_URL to the final URL").All()
	require.Len(t, entries, 1)
	assert.Equal(t, "https://backend.example/api/cli/kubernetes/metrics", entries[0].ContextMap()["location"])
	events := promtest.Value(e.metrics.QueueEvents)
	assert.Positive(t, events, "the events stay queued, nothing is sent elsewhere")
}

// The row "409, legacy snapshot" of the sender's table (pkg/sender/outcomes.go), which only the legacy poster meets.
func TestOutcomeConflictOnLegacySnapshot(t *testing.T) {
	e := newEnv(t, func(c *config.Config, _ *Deps) { c.WireFormat = config.FormatSnapshot }, pods(1)...)
	e.waitFor("a legacy snapshot", func(st receiver.NodeState) bool { return st.Legacy != nil })
	applied := e.rcv.Stats().LegacySnapshots
	e.rcv.SetFailNext(1, http.StatusConflict)
	e.eventually(func() bool { return e.rcv.Stats().LegacySnapshots > applied+1 }, "later snapshots still go out")
	assert.Equal(t, 1.0, e.failed("conflict"))
}

// The failing input of the issue: a quiet node (no pod changes) whose
// backend loses its state. Every batch now holds samples only; before, the
// 409 dropped them and the backend stayed empty until the periodic
// snapshot, 10 minutes later.
func TestOutcomeConflictOnQuietNodeResyncs(t *testing.T) {
	e := newEnv(t, nil, pods(20)...)
	e.waitFor("the start snapshot", e.matchesTruth)
	e.rcv.Reset() // a backend restart or failover
	e.waitFor("the 20 pods back without any pod change", func(st receiver.NodeState) bool {
		return len(st.Pods) == 20 && e.matchesTruth(st)
	})
	assert.Positive(t, e.failed("conflict"))
	assert.Positive(t, promtest.Value(e.metrics.Snapshots.WithLabelValues(wire.ReasonRequested)))
}

func TestOutcomeTooLargeSplits(t *testing.T) {
	e := newEnvWith(t, backendOpts{receiver: func(o *receiver.Options) { o.MaxBodyBytes = 4 << 10 }}, nil, pods(30)...)
	e.waitFor("every pod, in small batches", e.matchesTruth)
	assert.Positive(t, e.failed("too_large"))
	assert.Zero(t, e.dropped(wire.EventPodUpsert, "too_large"))
}

func TestOutcomeTooLargeSingleEvent(t *testing.T) {
	huge := newPod("default", "huge")
	huge.Labels["blob"] = strings.Repeat("x", 63) // labels are small; many of them make a large record
	for i := range 120 {
		huge.Labels[fmt.Sprintf("k%03d", i)] = strings.Repeat("v", 60)
	}
	objs := append(pods(3), huge)
	e := newEnvWith(t, backendOpts{receiver: func(o *receiver.Options) { o.MaxBodyBytes = 4 << 10 }}, nil, objs...)
	e.waitFor("the other pods", func(st receiver.NodeState) bool {
		return len(st.Pods) == 3 && st.Pods["default/huge"].Name == ""
	})
	e.eventually(func() bool { return e.dropped(wire.EventPodUpsert, "too_large") > 0 }, "the huge record was dropped alone")
	e.eventually(func() bool { return promtest.Value(e.metrics.Snapshots.WithLabelValues(wire.ReasonResync)) > 0 },
		"a dropped pod change asks for a resync")
	e.create(newPod("default", "after"))
	e.waitFor("later changes, without a pause", func(st receiver.NodeState) bool { _, ok := st.Pods["default/after"]; return ok })
}

// A backend one version behind that does not know `host` events: only
// those are lost, everything else arrives at once.
func TestOutcomeRejectedSampleEvents(t *testing.T) {
	known := []wire.EventType{wire.EventSnapshotBegin, wire.EventSnapshotEnd, wire.EventPodUpsert, wire.EventPodDelete, wire.EventNode, wire.EventUsage}
	// Each refused sample costs a few requests (the split), and the agent
	// sends at most 10 a second: an interval as short as the other tests'
	// (50 ms) would outrun it, a real one (≥ 10 s) never does.
	interval := func(c *config.Config, _ *Deps) { c.CollectionInterval = 300 * time.Millisecond }
	e := newEnvWith(t, backendOpts{receiver: func(o *receiver.Options) { o.EventTypes = known }}, interval, pods(5)...)
	e.waitFor("the start snapshot", e.matchesTruth)
	e.eventually(func() bool { return e.dropped(wire.EventHost, "rejected") >= 2 }, "host samples are dropped one by one")
	e.create(newPod("default", "after"))
	e.waitFor("a later change, with no pause", e.matchesTruth)
	assert.Zero(t, e.dropped(wire.EventPodUpsert, "rejected"), "no pod change is lost with the samples")
	assert.Zero(t, promtest.Value(e.metrics.Snapshots.WithLabelValues(wire.ReasonResync)), "a lost sample needs no resync")
	assert.Positive(t, e.failed("rejected"))
}

// The same for a lifecycle event (`node`): the pods still arrive, and the
// drop asks for a resync.
func TestOutcomeRejectedLifecycleEvent(t *testing.T) {
	known := []wire.EventType{wire.EventSnapshotBegin, wire.EventSnapshotEnd, wire.EventPodUpsert, wire.EventPodDelete, wire.EventHost, wire.EventUsage}
	objs := append(pods(5), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}})
	e := newEnvWith(t, backendOpts{receiver: func(o *receiver.Options) { o.EventTypes = known }}, nil, objs...)
	e.waitFor("the pods, without the node", func(st receiver.NodeState) bool { return e.matchesTruth(st) && st.Node == nil })
	e.eventually(func() bool { return e.dropped(wire.EventNode, "rejected") > 0 }, "the node event was dropped alone")
	e.eventually(func() bool { return promtest.Value(e.metrics.Snapshots.WithLabelValues(wire.ReasonResync)) > 0 },
		"a dropped lifecycle event asks for a resync")
}

func TestOutcomeBackendRejectsEverything(t *testing.T) {
	e := newEnvWith(t, backendOpts{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"not a CatOps backend"}`, http.StatusBadRequest)
		})
	}}, func(c *config.Config, _ *Deps) { c.CollectionInterval = time.Hour }, pods(20)...)
	e.eventually(func() bool { return e.logs.FilterMessageSnippet("Backend rejects even a bare snapshot mark").Len() > 0 },
		"the agent recognises a backend that takes nothing")
	for _, typ := range []wire.EventType{wire.EventSnapshotBegin, wire.EventSnapshotEnd, wire.EventPodUpsert, wire.EventHost} {
		assert.Zero(t, e.dropped(typ, "rejected"), "nothing is dropped: %s", typ)
	}
	events := promtest.Value(e.metrics.QueueEvents)
	assert.Equal(t, float64(20+3), events, "the start snapshot and the host sample stay queued")
}

// A proxy that wants credentials, and a status outside HTTP's 2xx–5xx:
// both keep every event and wait, saying what to check.
func TestOutcomeProxyAuthAndUnexpectedStatus(t *testing.T) {
	for _, tc := range []struct {
		status         int
		reason, advice string
	}{
		{http.StatusProxyAuthRequired, "proxy_auth", "check HTTPS_PROXY"},
		{600, "unexpected_status", "check CATOPS_BACKEND_URL"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			e := newEnvWith(t, backendOpts{wrap: func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tc.status) })
			}}, func(c *config.Config, _ *Deps) { c.CollectionInterval = time.Hour }, pods(3)...)
			e.eventually(func() bool { return e.failed(tc.reason) > 0 }, "the answer was classified")
			assert.Equal(t, 1, e.logs.FilterMessageSnippet(tc.advice).Len())
			assert.Equal(t, float64(3+3), promtest.Value(e.metrics.QueueEvents), "the start snapshot and the host sample stay queued")
		})
	}
}
