// Package telemetry defines the agent's own Prometheus metrics, served on
// /metrics. Every family is registered on a registry the caller owns, so
// tests get a fresh one and nothing touches the global registry.
package telemetry

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	// InformerRequests counts the pod and node caches' LIST and WATCH
	// requests, by resource and verb (client-go's own reflector metrics
	// are not collected by client-go v0.37).
	InformerRequests *prometheus.CounterVec
	UsageAvailable   prometheus.Gauge
	LastTick         prometheus.Gauge
	CachedPods       prometheus.Gauge
	// BackendRequestDuration is the time of each POST to the backend, in
	// seconds, by the class of its answer: 2xx, 3xx, 4xx, 5xx, or "error"
	// when none came (network error, timeout).
	BackendRequestDuration *prometheus.HistogramVec
	// UsageReadDuration is the time of each interval's pod usage read, in
	// seconds, by source (metrics-api, kubelet).
	UsageReadDuration *prometheus.HistogramVec
	// HostSampleDuration is the time of each interval's host sample, in
	// seconds.
	HostSampleDuration prometheus.Histogram

	// The disk spool (CATOPS_SPOOL_DIR); registered only when it is on.
	SpoolDegraded       prometheus.Gauge       // 1 while events are kept in memory only
	SpoolBytes          prometheus.Gauge       // size of the spool file, in bytes
	SpoolReplayedEvents prometheus.Counter     // events read back at start, left by the run before
	SpoolSkippedRecords prometheus.Counter     // records that could not be read, left out
	SpoolWriteFailures  *prometheus.CounterVec // by reason: full (the cap), no_space (disk full), error
}

// DurationBuckets span a loopback answer (5 ms) to a request timeout (30 s):
// the buckets of every request and read duration histogram.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// New creates the metrics and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	reg.MustRegister(m.QueueEvents, m.QueueBytes, m.BatchesSent, m.BatchesFailed, m.BatchesRetried,
		m.BytesSent, m.EventsDropped, m.LastSendTime, m.Snapshots, m.WatchRestarts, m.InformerRequests,
		m.UsageAvailable, m.LastTick, m.CachedPods, m.BackendRequestDuration, m.UsageReadDuration, m.HostSampleDuration)
	return m
}

// NewHost creates the metrics and registers on reg those of catops, the
// host agent: delivery, snapshots, ticks and host samples, none of the
// Kubernetes ones (pods, watches, usage reads).
func NewHost(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	reg.MustRegister(m.QueueEvents, m.QueueBytes, m.BatchesSent, m.BatchesFailed, m.BatchesRetried,
		m.BytesSent, m.EventsDropped, m.LastSendTime, m.Snapshots, m.LastTick, m.BackendRequestDuration, m.HostSampleDuration)
	return m
}

func newMetrics() *Metrics {
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
			Help: "LIST or WATCH requests of the pod and node caches that failed, and watches that ended with an error, by resource; each is retried after a backoff."}, []string{"resource"}),
		InformerRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "informer_requests_total",
			Help: "LIST and WATCH requests made by the pod and node caches, by resource and verb (list, watch)."}, []string{"resource", "verb"}),
		BackendRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "backend_request_duration_seconds",
			Help: "Time of each batch POST to the backend, by the class of its answer (2xx, 3xx, 4xx, 5xx, error: none came).", Buckets: DurationBuckets},
			[]string{"code"}),
		UsageReadDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "usage_read_duration_seconds",
			Help: "Time of each interval's pod usage read, by source (with the containers' CPU throttling read from their cgroups, CATOPS_THROTTLING_SOURCE=cgroup).", Buckets: DurationBuckets}, []string{"source"}),
		HostSampleDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "host_sample_duration_seconds",
			Help: "Time of each interval's host sample (gopsutil over HOST_PROC, HOST_SYS, HOST_ROOT).", Buckets: DurationBuckets}),
		UsageAvailable: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "usage_available",
			Help: "1 when pod usage readings are available, 0 when they are unknown."}),
		LastTick: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_collection_timestamp_seconds",
			Help: "Unix time of the last collection tick."}),
		CachedPods: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "cached_pods",
			Help: "Pods of this node in the informer cache."}),
		SpoolDegraded: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "spool_degraded",
			Help: "1 while the disk spool cannot be written and events are kept in memory only, until the queue drains."}),
		SpoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "spool_bytes",
			Help: "Size of the spool file on disk, in bytes."}),
		SpoolReplayedEvents: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "spool_replayed_events_total",
			Help: "Events read back from the spool at start: queued by the run before and not acknowledged by the backend."}),
		SpoolSkippedRecords: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "spool_skipped_records_total",
			Help: "Spool records that could not be read and were left out (a whole unreadable file counts one)."}),
		SpoolWriteFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "spool_write_failures_total",
			Help: "Spool writes that failed, by reason (full: CATOPS_SPOOL_MAX_BYTES reached, no_space: disk full, error); each degrades the spool to memory."}, []string{"reason"}),
	}
	for _, code := range []string{"2xx", "3xx", "4xx", "5xx", "error"} {
		m.BackendRequestDuration.WithLabelValues(code)
	}
	return m
}

// RegisterSpool registers the spool's metrics on reg (only when the spool
// is on, so an agent without one shows none).
func (m *Metrics) RegisterSpool(reg prometheus.Registerer) {
	reg.MustRegister(m.SpoolDegraded, m.SpoolBytes, m.SpoolReplayedEvents, m.SpoolSkippedRecords, m.SpoolWriteFailures)
	for _, reason := range []string{"full", "no_space", "error"} {
		m.SpoolWriteFailures.WithLabelValues(reason)
	}
}

// CodeClass is the code label of BackendRequestDuration for an HTTP status;
// 0 (no answer) is "error".
func CodeClass(status int) string {
	if status < 200 || status > 599 {
		return "error"
	}
	return string(rune('0'+status/100)) + "xx"
}

// NewRegistry returns a registry with the Go runtime's and the process's
// collectors (go_*, process_*) and catops_build_info: what a command's
// /metrics starts with.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	RegisterBuildInfo(reg, version)
	return reg
}

// RegisterBuildInfo exposes catops_build_info{version,go_version} 1.
func RegisterBuildInfo(reg prometheus.Registerer, version string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help:        "Always 1; its labels say which agent build is running.",
		ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()}})
	g.Set(1)
	reg.MustRegister(g)
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
	Kubelet = UsageTarget{"kubelet", "kubelet", "Requests made to this node's kubelet /metrics/resource and /stats/summary (none go through the API server).",
		"Failed kubelet usage reads, and failed summary reads (whose figures are then left out)."}
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
