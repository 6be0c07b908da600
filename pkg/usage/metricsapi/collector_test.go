package metricsapi

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/usagetest"
	"github.com/catops/cli/pkg/wire"
)

// The Collector's log lines (pkg/usage) about the Metrics API, as operators
// grep for them (docs/troubleshooting.md).
const (
	msgNotAccessible = "metrics API is not accessible (is metrics-server installed?)"
	msgAccessible    = "Metrics API is accessible again"
	msgFailed        = "Reading usage failed; usage is unknown until a retry succeeds"
)

// collectorFixture is a Metrics API with a node and two pods of this node,
// which can be switched off.
type collectorFixture struct {
	s    *metricsServer
	c    *usage.Collector
	logs *observer.ObservedLogs
	pods []usage.PodKey
	down atomic.Pointer[error]
}

func newCollectorFixture(t *testing.T, opts usage.CollectorOptions) *collectorFixture {
	t.Helper()
	f := &collectorFixture{s: newMetricsServer(t)}
	f.s.setNode(testNode, t0, "2", "4Gi")
	f.s.setPod("ns", "a", t0, [2]string{"100m", "100Mi"})
	f.s.setPod("ns", "b", t0, [2]string{"200m", "200Mi"})
	f.s.setPod("solo", "c", t0, [2]string{"300m", "300Mi"})
	f.pods = []usage.PodKey{{Namespace: "solo", Name: "c"}, {Namespace: "ns", Name: "b"}, {Namespace: "ns", Name: "a"}}
	f.s.setFail(func(request) error {
		if err := f.down.Load(); err != nil {
			return *err
		}
		return nil
	})
	logger, logs := usagetest.ObservedLogger()
	f.logs = logs
	f.c = usage.NewCollector(New(f.s.client(), testNode), logger, opts)
	return f
}

func (f *collectorFixture) breakAPI(err error) { f.down.Store(&err) }
func (f *collectorFixture) healAPI()           { f.down.Store(nil) }

func (f *collectorFixture) collect(at time.Time) wire.Usage {
	u, _ := f.c.Collect(context.Background(), f.pods, at)
	return u
}

func (f *collectorFixture) count(msg string) int { return f.logs.FilterMessage(msg).Len() }

func TestCollectorUnavailable(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		reason string
	}{
		{"group not registered (404)", usagetest.NotServed("nodes", testNode), "metrics API not served"},
		{"backend down (503)", usagetest.BackendDown("nodes", testNode), "metrics API unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newCollectorFixture(t, usagetest.Options)
			f.breakAPI(tc.err)
			want := wire.Usage{Available: false, Source: usage.MetricsAPIName, Reason: tc.reason}

			// A tick every second for 200s: the API is asked only when
			// the backoff (10s, 20s, 40s, then capped at 40s) has passed.
			var askedAt []int
			for sec := 0; sec <= 200; sec++ {
				before := len(f.s.requests())
				u := f.collect(t0.Add(time.Duration(sec) * time.Second))
				require.Equal(t, want, u, "second %d", sec)
				if len(f.s.requests()) > before {
					askedAt = append(askedAt, sec)
				}
			}
			assert.Equal(t, []int{0, 10, 30, 70, 110, 150, 190}, askedAt)
			for _, q := range f.s.requests() {
				assert.Equal(t, request{Verb: "get", Resource: "nodes", Name: testNode}, q,
					"nothing but the node is asked while the API is missing")
			}

			warned := f.logs.FilterMessage(msgNotAccessible).All()
			require.Len(t, warned, 1, "the warning is logged once")
			assert.Equal(t, zapcore.WarnLevel, warned[0].Level)
			assert.Contains(t, warned[0].ContextMap()["err"], tc.err.Error())
			assert.Equal(t, tc.reason, warned[0].ContextMap()["reason"])
			assert.Zero(t, f.count(msgAccessible))

			st := f.c.Stats()
			assert.Equal(t, usage.Stats{Requests: 7, Errors: 7, Skipped: 201 - 7, Available: false, Rejected: usagetest.NoRejections()}, st)

			// Back again: the next try (at 230s) recovers, once.
			f.healAPI()
			u := f.collect(t0.Add(229 * time.Second))
			assert.False(t, u.Available, "still inside the backoff window")
			u = f.collect(t0.Add(230 * time.Second))
			assert.True(t, u.Available)
			assert.Empty(t, u.Reason)
			assert.NotNil(t, u.Node)
			assert.Equal(t, []string{"ns/a", "ns/b", "solo/c"}, usagetest.PodNames(u))
			u = f.collect(t0.Add(231 * time.Second))
			assert.True(t, u.Available, "no backoff once recovered")

			recovered := f.logs.FilterMessage(msgAccessible).All()
			require.Len(t, recovered, 1)
			assert.Equal(t, zapcore.InfoLevel, recovered[0].Level)
			assert.Equal(t, 1, f.count(msgNotAccessible))
			assert.True(t, f.c.Stats().Available)

			// Failing again starts over at the first backoff step and
			// warns again: it is a new outage.
			f.breakAPI(tc.err)
			before := len(f.s.requests())
			assert.Equal(t, want, f.collect(t0.Add(240*time.Second)))
			assert.Equal(t, want, f.collect(t0.Add(249*time.Second)))
			assert.Equal(t, want, f.collect(t0.Add(250*time.Second)))
			assert.Equal(t, 2, len(f.s.requests())-before)
			assert.Equal(t, 2, f.count(msgNotAccessible))
		})
	}
}

func TestCollectorDefaultBackoffIsJittered(t *testing.T) {
	f := newCollectorFixture(t, usage.CollectorOptions{Interval: usagetest.Interval})
	f.breakAPI(usagetest.BackendDown("nodes", testNode))

	f.collect(t0)
	require.Len(t, f.s.requests(), 1)
	// First delay: one interval plus up to 10% jitter.
	f.collect(t0.Add(usagetest.Interval - time.Nanosecond))
	assert.Len(t, f.s.requests(), 1)
	f.collect(t0.Add(usagetest.Interval * 11 / 10))
	assert.Len(t, f.s.requests(), 2)
	// Second delay: doubled, 20s to 22s.
	second := t0.Add(usagetest.Interval * 11 / 10)
	f.collect(second.Add(2*usagetest.Interval - time.Nanosecond))
	assert.Len(t, f.s.requests(), 2)
	f.collect(second.Add(2 * usagetest.Interval * 11 / 10))
	assert.Len(t, f.s.requests(), 3)
}

// Errors that do not say "the API is not there" are handled the same way
// (usage unknown, backoff) but logged as a failed read.
func TestCollectorOtherFailure(t *testing.T) {
	f := newCollectorFixture(t, usagetest.Options)
	f.breakAPI(apierrors.NewInternalError(fmt.Errorf("boom")))

	u := f.collect(t0)
	assert.Equal(t, wire.Usage{Available: false, Source: usage.MetricsAPIName, Reason: "metrics API request failed"}, u)
	f.collect(t0.Add(usagetest.Interval))
	assert.Equal(t, 1, f.count(msgFailed))
	assert.Zero(t, f.count(msgNotAccessible))
}

func TestCollectorSendsOnlyFreshReadings(t *testing.T) {
	f := newCollectorFixture(t, usagetest.Options)
	at := t0.Add(time.Second)

	u := f.collect(at)
	require.True(t, u.Available)
	assert.Equal(t, usage.MetricsAPIName, u.Source)
	require.NotNil(t, u.Node)
	assert.Equal(t, wire.ResourceUsage{Timestamp: t0, WindowSeconds: 10, CPUCores: 2, MemoryBytes: 4 << 30}, *u.Node)
	require.Equal(t, []string{"ns/a", "ns/b", "solo/c"}, usagetest.PodNames(u), "sorted by namespace and name")
	assert.InDelta(t, 0.1, u.Pods[0].CPUCores, 1e-12)
	assert.Equal(t, int64(100<<20), u.Pods[0].MemoryBytes)

	// The same scrape served again: nothing to send.
	u = f.collect(at.Add(usagetest.Interval))
	assert.True(t, u.Available)
	assert.Nil(t, u.Node)
	assert.Empty(t, u.Pods)

	// A new scrape of the node and of one pod: only those.
	f.s.setNode(testNode, t0.Add(15*time.Second), "3", "4Gi")
	f.s.setPod("ns", "b", t0.Add(15*time.Second), [2]string{"250m", "210Mi"})
	u = f.collect(at.Add(2 * usagetest.Interval))
	require.NotNil(t, u.Node)
	assert.InDelta(t, 3.0, u.Node.CPUCores, 1e-12)
	require.Equal(t, []string{"ns/b"}, usagetest.PodNames(u))
	assert.InDelta(t, 0.25, u.Pods[0].CPUCores, 1e-12)
	assert.True(t, t0.Add(15*time.Second).Equal(u.Pods[0].Timestamp))

	// An older node reading (another metrics-server replica lagging) is
	// not sent.
	f.s.setNode(testNode, t0.Add(5*time.Second), "1", "4Gi")
	u = f.collect(at.Add(3 * usagetest.Interval))
	assert.Nil(t, u.Node)

	// A pod that left the node is forgotten: if it is back, its reading
	// is sent again even though the scrape is the same.
	f.pods = []usage.PodKey{{Namespace: "ns", Name: "a"}, {Namespace: "ns", Name: "b"}}
	u = f.collect(at.Add(4 * usagetest.Interval))
	assert.Empty(t, u.Pods)
	f.pods = []usage.PodKey{{Namespace: "ns", Name: "a"}, {Namespace: "ns", Name: "b"}, {Namespace: "solo", Name: "c"}}
	u = f.collect(at.Add(5 * usagetest.Interval))
	assert.Equal(t, []string{"solo/c"}, usagetest.PodNames(u))

	// A pod without metrics has no reading, not a zero one.
	f.s.deletePod("solo", "c")
	f.s.setPod("ns", "a", t0.Add(30*time.Second), [2]string{"1", "1Gi"})
	u = f.collect(at.Add(6 * usagetest.Interval))
	assert.True(t, u.Available)
	assert.Equal(t, []string{"ns/a"}, usagetest.PodNames(u))
}

// After an outage the receiver has forgotten all usage, so the first event
// carries every current reading, even unchanged ones.
func TestCollectorResendsEverythingAfterRecovery(t *testing.T) {
	f := newCollectorFixture(t, usagetest.Options)

	require.Len(t, f.collect(t0).Pods, 3)
	require.Empty(t, f.collect(t0.Add(usagetest.Interval)).Pods)

	f.breakAPI(usagetest.NotServed("nodes", testNode))
	assert.False(t, f.collect(t0.Add(2*usagetest.Interval)).Available)
	f.healAPI()
	u := f.collect(t0.Add(3 * usagetest.Interval))
	require.True(t, u.Available)
	assert.NotNil(t, u.Node)
	assert.Equal(t, []string{"ns/a", "ns/b", "solo/c"}, usagetest.PodNames(u))
}
