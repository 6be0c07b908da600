// Package telemetry defines the agents' own metrics, served on /metrics:
// each family's name, help, labels and buckets (Desc), and the
// instruments the packages that count use (Counter, Gauge, Histogram and
// their label vectors). It links no metrics library. An exposition makes
// the instruments through a Factory: pkg/telemetry/prom (Prometheus's
// client) for the Kubernetes agents, pkg/telemetry/victoria
// (VictoriaMetrics's metrics package, about 2.5 MiB less resident memory)
// for catops, the host agent.
package telemetry

// Counter is a count that only goes up: Add takes a value ≥ 0 (an
// exposition may panic on a negative one, or count it).
type Counter interface {
	Inc()
	Add(float64)
}

// Gauge is a value that is set.
type Gauge interface{ Set(float64) }

// Histogram counts observations into the buckets of its Desc. Observe
// takes a finite value ≥ 0, a duration in seconds (an exposition may drop
// another, or count it).
type Histogram interface{ Observe(float64) }

// CounterVec is a counter family with labels; WithLabelValues takes the
// values in the order of the Desc's Labels and panics on another count.
type CounterVec interface {
	WithLabelValues(values ...string) Counter
}

// HistogramVec is a histogram family with labels, as CounterVec.
type HistogramVec interface {
	WithLabelValues(values ...string) Histogram
}

// Desc describes one metric family.
type Desc struct {
	Name    string    // the full name: catops_…, with _total for counters
	Help    string    // one sentence (an exposition may leave it out)
	Labels  []string  // label names, in the order of WithLabelValues
	Buckets []float64 // histograms: the upper bounds, in seconds
}

// Factory makes the instruments of one exposition and registers them
// there; a name registered twice is a programming error it may panic on.
type Factory interface {
	Counter(Desc) Counter
	Gauge(Desc) Gauge
	Histogram(Desc) Histogram
	CounterVec(Desc) CounterVec
	HistogramVec(Desc) HistogramVec
}

// Group is a set of families New makes; the others count nowhere.
type Group uint

const (
	// Common: the send queue, delivery, snapshots, the collection tick
	// and the host sample: what every agent counts.
	Common Group = 1 << iota
	// Kubernetes: the caches, their watches and the pod usage reads.
	Kubernetes
	// Spool: the disk spool, only when it is on (CATOPS_SPOOL_DIR).
	Spool

	// All is every group (tests).
	All = Common | Kubernetes | Spool
)

// Metrics are the agents' metrics. Every field is set: a family of a group
// New was not asked for counts nowhere.
type Metrics struct {
	QueueEvents    Gauge
	QueueBytes     Gauge
	BatchesSent    Counter
	BatchesFailed  CounterVec // by reason: the outcome rows of pkg/sender (network, status_5xx, auth, rejected, …)
	BatchesRetried Counter
	BytesSent      Counter    // compressed bytes on the wire
	EventsDropped  CounterVec // by type and reason: overflow, rejected, shutdown, superseded
	LastSendTime   Gauge
	Snapshots      CounterVec // by reason
	WatchRestarts  CounterVec // by resource
	// InformerRequests counts the pod and node caches' LIST and WATCH
	// requests, by resource and verb (client-go's own reflector metrics
	// are not collected by client-go v0.37).
	InformerRequests CounterVec
	UsageAvailable   Gauge
	LastTick         Gauge
	CachedPods       Gauge
	// BackendRequestDuration is the time of each POST to the backend, in
	// seconds, by the class of its answer: 2xx, 3xx, 4xx, 5xx, or "error"
	// when none came (network error, timeout).
	BackendRequestDuration HistogramVec
	// UsageReadDuration is the time of each interval's pod usage read, in
	// seconds, by source (metrics-api, kubelet).
	UsageReadDuration HistogramVec
	// HostSampleDuration is the time of each interval's host sample, in
	// seconds.
	HostSampleDuration Histogram

	// The disk spool (CATOPS_SPOOL_DIR): the group Spool.
	SpoolDegraded       Gauge      // 1 while events are kept in memory only
	SpoolBytes          Gauge      // size of the spool file, in bytes
	SpoolReplayedEvents Counter    // events read back at start, left by the run before
	SpoolSkippedRecords Counter    // records that could not be read, left out
	SpoolWriteFailures  CounterVec // by reason: full (the cap), no_space (disk full), error
}

// DurationBuckets span a loopback answer (5 ms) to a request timeout (30 s):
// the buckets of every request and read duration histogram.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// BuildInfo is catops_build_info{version,go_version}, always 1: which
// build runs. Each exposition registers it beside its Go and process
// metrics.
var BuildInfo = Desc{Name: "catops_build_info", Help: "Always 1; its labels say which agent build is running.",
	Labels: []string{"version", "go_version"}}

// The families, by group.
var (
	descQueueEvents    = Desc{Name: "catops_queue_events", Help: "Events waiting in the send queue (in flight included)."}
	descQueueBytes     = Desc{Name: "catops_queue_bytes", Help: "Encoded bytes waiting in the send queue (in flight included)."}
	descBatchesSent    = Desc{Name: "catops_batches_sent_total", Help: "Batches the backend acknowledged."}
	descBatchesFailed  = Desc{Name: "catops_batches_failed_total", Help: "Failed send attempts, by reason.", Labels: []string{"reason"}}
	descBatchesRetried = Desc{Name: "catops_batches_retried_total", Help: "Send attempts that repeated an earlier failed attempt."}
	descBytesSent      = Desc{Name: "catops_sent_bytes_total", Help: "Request body bytes sent to the backend, after compression."}
	descEventsDropped  = Desc{Name: "catops_events_dropped_total", Help: "Events dropped before the backend acknowledged them, by event type and reason.",
		Labels: []string{"type", "reason"}}
	descLastSendTime = Desc{Name: "catops_last_successful_send_timestamp_seconds", Help: "Unix time of the last batch the backend acknowledged."}
	descSnapshots    = Desc{Name: "catops_snapshots_total", Help: "Full snapshots queued, by reason.", Labels: []string{"reason"}}
	descLastTick     = Desc{Name: "catops_last_collection_timestamp_seconds", Help: "Unix time of the last collection tick."}
	descBackendReq   = Desc{Name: "catops_backend_request_duration_seconds",
		Help:   "Time of each batch POST to the backend, by the class of its answer (2xx, 3xx, 4xx, 5xx, error: none came).",
		Labels: []string{"code"}, Buckets: DurationBuckets}
	descHostSample = Desc{Name: "catops_host_sample_duration_seconds",
		Help: "Time of each interval's host sample (gopsutil over HOST_PROC, HOST_SYS, HOST_ROOT).", Buckets: DurationBuckets}

	descWatchRestarts = Desc{Name: "catops_watch_restarts_total",
		Help:   "LIST or WATCH requests of the pod and node caches that failed, and watches that ended with an error, by resource; each is retried after a backoff.",
		Labels: []string{"resource"}}
	descInformerRequests = Desc{Name: "catops_informer_requests_total",
		Help: "LIST and WATCH requests made by the pod and node caches, by resource and verb (list, watch).", Labels: []string{"resource", "verb"}}
	descUsageRead = Desc{Name: "catops_usage_read_duration_seconds",
		Help:   "Time of each interval's pod usage read, by source (with the containers' CPU throttling read from their cgroups, CATOPS_THROTTLING_SOURCE=cgroup).",
		Labels: []string{"source"}, Buckets: DurationBuckets}
	descUsageAvailable = Desc{Name: "catops_usage_available", Help: "1 when pod usage readings are available, 0 when they are unknown."}
	descCachedPods     = Desc{Name: "catops_cached_pods", Help: "Pods of this node in the informer cache."}

	descSpoolDegraded = Desc{Name: "catops_spool_degraded",
		Help: "1 while the disk spool cannot be written and events are kept in memory only, until the queue drains."}
	descSpoolBytes          = Desc{Name: "catops_spool_bytes", Help: "Size of the spool file on disk, in bytes."}
	descSpoolReplayedEvents = Desc{Name: "catops_spool_replayed_events_total",
		Help: "Events read back from the spool at start: queued by the run before and not acknowledged by the backend."}
	descSpoolSkippedRecords = Desc{Name: "catops_spool_skipped_records_total",
		Help: "Spool records that could not be read and were left out (a whole unreadable file counts one)."}
	descSpoolWriteFailures = Desc{Name: "catops_spool_write_failures_total",
		Help:   "Spool writes that failed, by reason (full: CATOPS_SPOOL_MAX_BYTES reached, no_space: disk full, error); each degrades the spool to memory.",
		Labels: []string{"reason"}}
)

// New makes the families of groups with f (which registers them), and the
// series known in advance at 0 (each answer class of
// BackendRequestDuration, each reason of SpoolWriteFailures). The families
// of the other groups count nowhere.
func New(f Factory, groups Group) *Metrics {
	m := Discard()
	if groups&Common != 0 {
		m.QueueEvents, m.QueueBytes = f.Gauge(descQueueEvents), f.Gauge(descQueueBytes)
		m.BatchesSent, m.BatchesFailed, m.BatchesRetried = f.Counter(descBatchesSent), f.CounterVec(descBatchesFailed), f.Counter(descBatchesRetried)
		m.BytesSent, m.EventsDropped, m.LastSendTime = f.Counter(descBytesSent), f.CounterVec(descEventsDropped), f.Gauge(descLastSendTime)
		m.Snapshots, m.LastTick = f.CounterVec(descSnapshots), f.Gauge(descLastTick)
		m.BackendRequestDuration, m.HostSampleDuration = f.HistogramVec(descBackendReq), f.Histogram(descHostSample)
		for _, code := range []string{"2xx", "3xx", "4xx", "5xx", "error"} {
			m.BackendRequestDuration.WithLabelValues(code)
		}
	}
	if groups&Kubernetes != 0 {
		m.WatchRestarts, m.InformerRequests = f.CounterVec(descWatchRestarts), f.CounterVec(descInformerRequests)
		m.UsageReadDuration, m.UsageAvailable, m.CachedPods = f.HistogramVec(descUsageRead), f.Gauge(descUsageAvailable), f.Gauge(descCachedPods)
	}
	if groups&Spool != 0 {
		m.SpoolDegraded, m.SpoolBytes = f.Gauge(descSpoolDegraded), f.Gauge(descSpoolBytes)
		m.SpoolReplayedEvents, m.SpoolSkippedRecords = f.Counter(descSpoolReplayedEvents), f.Counter(descSpoolSkippedRecords)
		m.SpoolWriteFailures = f.CounterVec(descSpoolWriteFailures)
		for _, reason := range []string{"full", "no_space", "error"} {
			m.SpoolWriteFailures.WithLabelValues(reason)
		}
	}
	return m
}

// Discard returns metrics that count nowhere, for tests and tools that do
// not serve /metrics.
func Discard() *Metrics {
	var n nop
	return &Metrics{
		QueueEvents: n, QueueBytes: n, BatchesSent: n, BatchesFailed: nopCounters{}, BatchesRetried: n, BytesSent: n,
		EventsDropped: nopCounters{}, LastSendTime: n, Snapshots: nopCounters{}, WatchRestarts: nopCounters{},
		InformerRequests: nopCounters{}, UsageAvailable: n, LastTick: n, CachedPods: n,
		BackendRequestDuration: nopHistograms{}, UsageReadDuration: nopHistograms{}, HostSampleDuration: n,
		SpoolDegraded: n, SpoolBytes: n, SpoolReplayedEvents: n, SpoolSkippedRecords: n, SpoolWriteFailures: nopCounters{},
	}
}

// nop is a counter, gauge and histogram that counts nowhere.
type nop struct{}

func (nop) Inc()            {}
func (nop) Add(float64)     {}
func (nop) Set(float64)     {}
func (nop) Observe(float64) {}

type (
	nopCounters   struct{}
	nopHistograms struct{}
)

func (nopCounters) WithLabelValues(...string) Counter     { return nop{} }
func (nopHistograms) WithLabelValues(...string) Histogram { return nop{} }

// CodeClass is the code label of BackendRequestDuration for an HTTP status;
// 0 (no answer) is "error".
func CodeClass(status int) string {
	if status < 200 || status > 599 {
		return "error"
	}
	return string(rune('0'+status/100)) + "xx"
}
