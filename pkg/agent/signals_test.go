package agent

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/podcache/podcachetest"
	"github.com/catops/cli/pkg/receiver"
)

// freeAddr is a loopback address nothing listens on yet.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec,noctx // a loopback test server
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// A token the backend refuses: one "First batch refused" line that says
// what to fix, and readiness fails on the backend-auth check, so that a
// rollout with a wrong token stops at its first pod.
func TestWrongTokenFailsReadinessAndSaysSo(t *testing.T) {
	for _, format := range []string{config.FormatDelta, config.FormatSnapshot} {
		t.Run(format, func(t *testing.T) {
			addr := freeAddr(t)
			e := newEnvWith(t, backendOpts{receiver: func(o *receiver.Options) { o.Token = "the-right-token" }},
				func(c *config.Config, _ *Deps) { c.HealthAddr, c.WireFormat = addr, format })
			require.Eventually(t, func() bool {
				code, _ := httpGet(t, "http://"+addr+"/readyz")
				return code == http.StatusServiceUnavailable
			}, 10*time.Second, 10*time.Millisecond, "readiness fails once the token is refused")
			_, body := httpGet(t, "http://"+addr+"/readyz")
			assert.Contains(t, body, "[+]informer-sync ok")
			assert.Contains(t, body, "[-]backend-auth failed: the backend refused the auth token (HTTP 401)")
			refused := e.logs.FilterMessage("First batch refused by the backend; nothing is delivered until this is fixed").All()
			require.Len(t, refused, 1)
			assert.Contains(t, refused[0].ContextMap()["fix"], "CATOPS_AUTH_TOKEN")
			assert.Zero(t, e.logs.FilterMessage("First batch accepted by the backend").Len())
			code, _ := httpGet(t, "http://"+addr+"/healthz")
			assert.Equal(t, http.StatusOK, code, "liveness does not depend on the backend")
		})
	}
}

// What /metrics shows from the start, before anything was counted: the
// series the docs tell users to watch at 0, the build, the duration
// histograms (client-go's request metrics: pkg/telemetry's tests).
func TestMetricsFromTheStart(t *testing.T) {
	addr := freeAddr(t)
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *config.Config, d *Deps) {
		c.HealthAddr = addr
		d.Metrics, d.Registry = nil, reg
	})
	e.waitFor("first batch", func(receiver.NodeState) bool { return true })
	require.Eventually(t, func() bool { return e.logs.FilterMessage("First batch accepted by the backend").Len() == 1 },
		10*time.Second, 10*time.Millisecond)
	_, body := httpGet(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`catops_events_dropped_total{reason="overflow",type="pod_upsert"} 0`,
		`catops_events_dropped_total{reason="shutdown",type="usage"} 0`,
		`catops_batches_failed_total{reason="network"} 0`,
		`catops_batches_failed_total{reason="auth"} 0`,
		`catops_watch_restarts_total{resource="pods"} 0`,
		`catops_watch_restarts_total{resource="nodes"} 0`,
		`catops_snapshots_total{reason="resync"} 0`,
		`catops_build_info{go_version="go`,
		`catops_backend_request_duration_seconds_bucket{code="2xx",le="`,
		`catops_host_sample_duration_seconds_count `,
		`catops_informer_requests_total{resource="pods",verb="list"} `,
	} {
		assert.Contains(t, body, want)
	}
	assert.False(t, strings.Contains(body, "catops_usage_read_duration_seconds"), "no usage source, no usage histogram series")
}

// The snapshot format's series: its own drop reasons for legacy_snapshot,
// none of the delta format's event types or snapshot reasons.
func TestMetricsFromTheStartInSnapshotFormat(t *testing.T) {
	addr := freeAddr(t)
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *config.Config, d *Deps) {
		c.HealthAddr, c.WireFormat = addr, config.FormatSnapshot
		d.Metrics, d.Registry = nil, reg
	})
	require.Eventually(t, func() bool { return e.logs.FilterMessage("First batch accepted by the backend").Len() == 1 },
		10*time.Second, 10*time.Millisecond)
	_, body := httpGet(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`catops_events_dropped_total{reason="shutdown",type="legacy_snapshot"} 0`,
		`catops_events_dropped_total{reason="rejected",type="legacy_snapshot"} 0`,
		`catops_batches_failed_total{reason="auth"} 0`,
		`catops_batches_failed_total{reason="conflict"} 0`,
		`catops_backend_request_duration_seconds_bucket{code="2xx",le="`,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, `type="pod_upsert"`)
	assert.NotContains(t, body, `catops_snapshots_total{`)
}

// An agent runs once: its sender was flushed and its health server served.
func TestRunTwiceIsRefused(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1")
	a, err := New(cfg, Deps{Kube: podcachetest.Clientset{Interface: fake.NewClientset()}, Host: &fakeHost{}, Logger: zap.NewNop(), Version: "test"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, a.Run(ctx), "stopped before the caches synced: a clean stop")
	assert.ErrorContains(t, a.Run(ctx), "Run called twice")
}
