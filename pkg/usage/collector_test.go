package usage_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/usagetest"
	"github.com/catops/cli/pkg/wire"
)

func TestCollectorTimesOutAFetch(t *testing.T) {
	src := &usagetest.StubSource{FetchFunc: func(ctx context.Context) (usage.Reading, error) {
		<-ctx.Done()
		return usage.Reading{Requests: 1}, ctx.Err()
	}}
	logger, logs := usagetest.ObservedLogger()
	c := usage.NewCollector(src, logger, usage.CollectorOptions{Interval: usagetest.Interval, Timeout: 50 * time.Millisecond})

	start := time.Now()
	u, _ := c.Collect(context.Background(), nil, t0)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, wire.Usage{Available: false, Source: "stub", Reason: "metrics API timed out"}, u)
	assert.Equal(t, 1, logs.FilterMessage(usage.MsgFailed).Len())
	assert.Equal(t, usage.Stats{Requests: 1, Errors: 1, Rejected: usagetest.NoRejections()}, c.Stats())
}

// Cancelling the caller's context (shutdown) is not a failure of the
// source: no warning, no backoff.
func TestCollectorCancelledIsNotAnOutage(t *testing.T) {
	src := &usagetest.StubSource{FetchFunc: func(ctx context.Context) (usage.Reading, error) {
		if err := ctx.Err(); err != nil {
			return usage.Reading{}, err
		}
		return usage.Reading{Node: &wire.ResourceUsage{Timestamp: t0}}, nil
	}}
	logger, logs := usagetest.ObservedLogger()
	c := usage.NewCollector(src, logger, usagetest.Options)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	u, _ := c.Collect(ctx, nil, t0)
	assert.False(t, u.Available)
	assert.Zero(t, logs.FilterLevelExact(zapcore.WarnLevel).Len())
	assert.Zero(t, c.Stats().Errors)

	u, _ = c.Collect(context.Background(), nil, t0.Add(time.Second))
	assert.True(t, u.Available, "no backoff after a cancelled collection")
	assert.Equal(t, int64(2), src.Calls.Load())
	assert.Zero(t, logs.FilterMessage(usage.MsgAccessible).Len(), "it was never down")
}

// The Collector ships readings rounded to the protocol's precision.
func TestCollectorRoundsReadings(t *testing.T) {
	key := usage.PodKey{Namespace: "ns", Name: "a"}
	src := &usagetest.StubSource{FetchFunc: func(context.Context) (usage.Reading, error) {
		return usage.Reading{
			Node: &wire.ResourceUsage{Timestamp: t0, WindowSeconds: 9.99951, CPUCores: 1.00000049, MemoryBytes: 1},
			Pods: map[usage.PodKey]wire.ResourceUsage{key: {Timestamp: t0, WindowSeconds: 10.0004, CPUCores: 0.1234567, MemoryBytes: 1}},
		}, nil
	}}
	c := usage.NewCollector(src, nil, usagetest.Options)
	u, _ := c.Collect(context.Background(), []usage.PodKey{key}, t0)
	require.Len(t, u.Pods, 1)
	assert.Equal(t, 0.123457, u.Pods[0].CPUCores)
	assert.Equal(t, 10.0, u.Pods[0].WindowSeconds)
	require.NotNil(t, u.Node)
	assert.Equal(t, 1.0, u.Node.CPUCores)
	assert.Equal(t, 10.0, u.Node.WindowSeconds)
}
