// Package telemetry defines the agent's own Prometheus metrics, served on
// /metrics. Every family is registered on a registry the caller owns, so
// tests get a fresh one and nothing touches the global registry.
package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

const ns = "catops"

// Metrics are the agent's metrics. The zero value is not usable; use New.
type Metrics struct {
	QueueEvents    prometheus.Gauge
	QueueBytes     prometheus.Gauge
	BatchesSent    prometheus.Counter
	BatchesFailed  *prometheus.CounterVec // by reason: the outcome rows of pkg/sender (network, status_5xx, auth, rejected, …)
	BatchesRetried prometheus.Counter
	BytesSent      prometheus.Counter     // compressed bytes on the wire
	EventsDropped  *prometheus.CounterVec // by type and reason: overflow, rejected, shutdown, superseded
	LastSendTime   prometheus.Gauge
	Snapshots      *prometheus.CounterVec // by reason
	WatchRestarts  *prometheus.CounterVec // by resource
	UsageAvailable prometheus.Gauge
	LastTick       prometheus.Gauge
	CachedPods     prometheus.Gauge
}

// New creates the metrics and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		QueueEvents: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "queue_events",
			Help: "Events waiting in the send queue (in flight included)."}),
		QueueBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "queue_bytes",
			Help: "Encoded bytes waiting in the send queue (in flight included)."}),
		BatchesSent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "batches_sent_total",
			Help: "Batches the backend acknowledged."}),
		BatchesFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "batches_failed_total",
			Help: "Failed send attempts, by reason."}, []string{"reason"}),
		BatchesRetried: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "batches_retried_total",
			Help: "Send attempts that repeated an earlier failed attempt."}),
		BytesSent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "sent_bytes_total",
			Help: "Request body bytes sent to the backend, after compression."}),
		EventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_dropped_total",
			Help: "Events dropped before the backend acknowledged them, by event type and reason."}, []string{"type", "reason"}),
		LastSendTime: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_successful_send_timestamp_seconds",
			Help: "Unix time of the last batch the backend acknowledged."}),
		Snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "snapshots_total",
			Help: "Full snapshots queued, by reason."}, []string{"reason"}),
		WatchRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "watch_restarts_total",
			Help: "Watches that ended with an error and were restarted, by resource."}, []string{"resource"}),
		UsageAvailable: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "usage_available",
			Help: "1 when pod usage readings are available, 0 when they are unknown."}),
		LastTick: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_collection_timestamp_seconds",
			Help: "Unix time of the last collection tick."}),
		CachedPods: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "cached_pods",
			Help: "Pods of this node in the informer cache."}),
	}
	reg.MustRegister(m.QueueEvents, m.QueueBytes, m.BatchesSent, m.BatchesFailed, m.BatchesRetried,
		m.BytesSent, m.EventsDropped, m.LastSendTime, m.Snapshots, m.WatchRestarts,
		m.UsageAvailable, m.LastTick, m.CachedPods)
	return m
}

// Discard returns metrics registered nowhere, for tests and tools that do
// not serve /metrics.
func Discard() *Metrics { return New(prometheus.NewRegistry()) }

// UsageStats are the usage collector's running totals.
type UsageStats func() (requests, errors uint64)

// UsageTarget is where a usage source sends its requests; it names the
// source's request and error counters, and is the source label of
// catops_usage_readings_rejected_total.
type UsageTarget struct {
	name, source, requestsHelp, errorsHelp string
}

// The usage sources' targets.
var (
	// MetricsAPI: catops_metrics_api_{requests,errors}_total.
	MetricsAPI = UsageTarget{"metrics_api", "metrics-api", "Requests made to the Metrics API.",
		"Failed Metrics API reads: whole reads while it is unavailable, and single failed requests."}
	// Kubelet: catops_kubelet_{requests,errors}_total. That source makes no
	// API server request, so it has no metrics_api_* counters.
	Kubelet = UsageTarget{"kubelet", "kubelet", "Requests made to this node's kubelet /metrics/resource (none go through the API server).",
		"Failed kubelet usage reads."}
)

// RegisterUsage exposes the usage collector's totals as the counters of
// its target.
func RegisterUsage(reg prometheus.Registerer, t UsageTarget, stats UsageStats) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: t.name + "_requests_total", Help: t.requestsHelp},
			func() float64 { r, _ := stats(); return float64(r) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: t.name + "_errors_total", Help: t.errorsHelp},
			func() float64 { _, e := stats(); return float64(e) }),
	)
}

// UsageRejected are the usage collector's rejected readings so far, by
// reason (see the usage package's Rejection).
type UsageRejected func() map[string]uint64

// RegisterUsageRejected exposes catops_usage_readings_rejected_total
// {source,reason}: readings of t's source that could not be true (not
// finite, negative, duplicated, partial, above the node's capacity, …)
// and were made unknown instead of being sent. Every reason rejected
// returns is a series, zero ones included.
func RegisterUsageRejected(reg prometheus.Registerer, t UsageTarget, rejected UsageRejected) {
	reg.MustRegister(rejectedCollector{
		desc: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "usage_readings_rejected_total"),
			"Usage readings the source gave that could not be true, made unknown instead of sent, by source and reason.",
			[]string{"source", "reason"}, nil),
		source: t.source,
		counts: rejected,
	})
}

// rejectedCollector reads the counts at every scrape.
type rejectedCollector struct {
	desc   *prometheus.Desc
	source string
	counts UsageRejected
}

func (c rejectedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c rejectedCollector) Collect(ch chan<- prometheus.Metric) {
	for reason, n := range c.counts() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), c.source, reason)
	}
}
