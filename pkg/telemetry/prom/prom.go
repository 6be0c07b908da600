// Package prom serves the agents' metrics with Prometheus's client: the
// Kubernetes agents' /metrics, with the Go runtime's and the process's
// collectors, the build, and the usage sources' counters.
package prom

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/catops/cli/pkg/telemetry"
)

// New makes the families of groups as Prometheus collectors and
// registers them on reg (MustRegister: a name registered twice panics).
func New(reg prometheus.Registerer, groups telemetry.Group) *telemetry.Metrics {
	return telemetry.New(factory{reg}, groups)
}

// factory is telemetry.Factory for Prometheus's client.
type factory struct{ reg prometheus.Registerer }

func (f factory) register(c prometheus.Collector) { f.reg.MustRegister(c) }

// Counter makes a counter.
func (f factory) Counter(d telemetry.Desc) telemetry.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: d.Name, Help: d.Help})
	f.register(c)
	return c
}

// Gauge makes a gauge.
func (f factory) Gauge(d telemetry.Desc) telemetry.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: d.Name, Help: d.Help})
	f.register(g)
	return g
}

// Histogram makes a histogram with d.Buckets.
func (f factory) Histogram(d telemetry.Desc) telemetry.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: d.Name, Help: d.Help, Buckets: d.Buckets})
	f.register(h)
	return h
}

// CounterVec makes a counter family with d.Labels.
func (f factory) CounterVec(d telemetry.Desc) telemetry.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.Name, Help: d.Help}, d.Labels)
	f.register(v)
	return counterVec{v}
}

// HistogramVec makes a histogram family with d.Labels and d.Buckets.
func (f factory) HistogramVec(d telemetry.Desc) telemetry.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: d.Name, Help: d.Help, Buckets: d.Buckets}, d.Labels)
	f.register(v)
	return histogramVec{v}
}

type counterVec struct{ v *prometheus.CounterVec }

func (c counterVec) WithLabelValues(values ...string) telemetry.Counter {
	return c.v.WithLabelValues(values...)
}

type histogramVec struct{ v *prometheus.HistogramVec }

func (h histogramVec) WithLabelValues(values ...string) telemetry.Histogram {
	return h.v.WithLabelValues(values...)
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

// Handler serves what g gathers in Prometheus's text format (or what the
// scraper asks for).
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// RegisterBuildInfo exposes catops_build_info{version,go_version} 1.
func RegisterBuildInfo(reg prometheus.Registerer, version string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: telemetry.BuildInfo.Name, Help: telemetry.BuildInfo.Help,
		ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()}})
	g.Set(1)
	reg.MustRegister(g)
}

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
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "catops_" + t.name + "_requests_total", Help: t.requestsHelp},
			func() float64 { r, _ := stats(); return float64(r) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "catops_" + t.name + "_errors_total", Help: t.errorsHelp},
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
		desc: prometheus.NewDesc("catops_usage_readings_rejected_total",
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
