// Package clientgo exposes client-go's REST client metrics on a Prometheus
// registry (pkg/telemetry has the agents' own). Only the commands that link
// client-go import it.
package clientgo

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientmetrics "k8s.io/client-go/tools/metrics"

	"github.com/catops/cli/pkg/telemetry"
)

// clientGoMetrics are client-go's REST client metrics, under the names the
// Kubernetes components give them.
type clientGoMetrics struct {
	requests *prometheus.CounterVec   // rest_client_requests_total{code,method,host}
	latency  *prometheus.HistogramVec // rest_client_request_duration_seconds{verb,host}
}

var (
	clientGoOnce sync.Once
	// clientGoTarget is where client-go's observations go: the metrics of
	// the last Register. client-go takes its adapters once per
	// process, so they forward to whichever registry is current.
	clientGoTarget atomic.Pointer[clientGoMetrics]
)

// Register exposes client-go's REST client metrics on reg:
// rest_client_requests_total{code,method,host} (code "<error>" when no
// answer came) and rest_client_request_duration_seconds{verb,host}, for
// every request the agent makes to the API server (its informers, the
// Metrics API). client-go keeps one set of adapters per process: the last
// registry given here receives the observations.
func Register(reg prometheus.Registerer) {
	m := &clientGoMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rest_client_requests_total",
			Help: "Requests to the Kubernetes API server, by status code, method and host (client-go)."}, []string{"code", "method", "host"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rest_client_request_duration_seconds",
			Help:    "Time of requests to the Kubernetes API server until the response headers, by verb and host (client-go); a watch counts until it opened.",
			Buckets: telemetry.DurationBuckets}, []string{"verb", "host"}),
	}
	reg.MustRegister(m.requests, m.latency)
	clientGoTarget.Store(m)
	clientGoOnce.Do(func() {
		clientmetrics.Register(clientmetrics.RegisterOpts{
			RequestResult:  clientGoResult{},
			RequestLatency: clientGoLatency{},
		})
	})
}

type clientGoResult struct{}

func (clientGoResult) Increment(_ context.Context, code, method, host string) {
	if m := clientGoTarget.Load(); m != nil {
		m.requests.WithLabelValues(code, method, host).Inc()
	}
}

type clientGoLatency struct{}

func (clientGoLatency) Observe(_ context.Context, verb string, u url.URL, latency time.Duration) {
	if m := clientGoTarget.Load(); m != nil {
		m.latency.WithLabelValues(verb, u.Host).Observe(latency.Seconds())
	}
}
