package telemetry

import (
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a Factory that records what it was asked to make.
type recorder struct {
	descs  []kindDesc
	series map[string][][]string // family → the label values asked for
}

type kindDesc struct {
	Desc
	kind string // counter, gauge, histogram
	vec  bool
}

func (r *recorder) add(d Desc, kind string, vec bool) {
	r.descs = append(r.descs, kindDesc{d, kind, vec})
}

func (r *recorder) names() (names []string) {
	for _, d := range r.descs {
		names = append(names, d.Name)
	}
	return names
}

func (r *recorder) record(name string, values []string) {
	if r.series == nil {
		r.series = map[string][][]string{}
	}
	r.series[name] = append(r.series[name], values)
}

func (r *recorder) Counter(d Desc) Counter     { r.add(d, "counter", false); return nop{} }
func (r *recorder) Gauge(d Desc) Gauge         { r.add(d, "gauge", false); return nop{} }
func (r *recorder) Histogram(d Desc) Histogram { r.add(d, "histogram", false); return nop{} }
func (r *recorder) CounterVec(d Desc) CounterVec {
	r.add(d, "counter", true)
	return recordedCounters{r, d.Name}
}
func (r *recorder) HistogramVec(d Desc) HistogramVec {
	r.add(d, "histogram", true)
	return recordedHistograms{r, d.Name}
}

type recordedCounters struct {
	r    *recorder
	name string
}

func (v recordedCounters) WithLabelValues(values ...string) Counter {
	v.r.record(v.name, values)
	return nop{}
}

type recordedHistograms struct {
	r    *recorder
	name string
}

func (v recordedHistograms) WithLabelValues(values ...string) Histogram {
	v.r.record(v.name, values)
	return nop{}
}

var (
	delivery = []string{"catops_queue_events", "catops_queue_bytes", "catops_batches_sent_total", "catops_batches_failed_total",
		"catops_batches_retried_total", "catops_sent_bytes_total", "catops_events_dropped_total",
		"catops_last_successful_send_timestamp_seconds", "catops_snapshots_total", "catops_last_collection_timestamp_seconds",
		"catops_backend_request_duration_seconds", "catops_host_sample_duration_seconds"}
	kubernetes = []string{"catops_watch_restarts_total", "catops_informer_requests_total", "catops_usage_read_duration_seconds",
		"catops_usage_available", "catops_cached_pods"}
	spool = []string{"catops_spool_degraded", "catops_spool_bytes", "catops_spool_replayed_events_total",
		"catops_spool_skipped_records_total", "catops_spool_write_failures_total"}
)

// New asks the factory for the families of the groups asked for, and no
// other; every field is set whatever the groups.
func TestNewMakesTheGroupsAskedFor(t *testing.T) {
	for _, tc := range []struct {
		groups Group
		want   []string
	}{
		{0, nil},
		{Common, delivery},
		{Common | Spool, slices.Concat(delivery, spool)},
		{Common | Kubernetes, slices.Concat(delivery, kubernetes)},
		{All, slices.Concat(delivery, kubernetes, spool)},
	} {
		r := &recorder{}
		m := New(r, tc.groups)
		assert.Equal(t, tc.want, r.names(), "groups %b", tc.groups)
		allSet(t, m)
	}
	allSet(t, Discard())
}

// The series known in advance are made at 0: each answer class of the
// request histogram, each reason of the spool's write failures.
func TestNewMakesTheKnownSeries(t *testing.T) {
	r := &recorder{}
	New(r, All)
	assert.Equal(t, map[string][][]string{
		"catops_backend_request_duration_seconds": {{"2xx"}, {"3xx"}, {"4xx"}, {"5xx"}, {"error"}},
		"catops_spool_write_failures_total":       {{"full"}, {"no_space"}, {"error"}},
	}, r.series)
}

func allSet(t *testing.T, m *Metrics) {
	t.Helper()
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		require.False(t, v.Field(i).IsNil(), "%s is nil", v.Type().Field(i).Name)
	}
}

// Every family's name follows Prometheus's conventions: catops_, counters
// end in _total, durations in _seconds with buckets, label names given.
func TestFamiliesFollowTheConventions(t *testing.T) {
	r := &recorder{}
	New(r, All)
	require.Len(t, r.descs, len(delivery)+len(kubernetes)+len(spool))
	for _, d := range append(r.descs, kindDesc{BuildInfo, "gauge", false}) {
		assert.Regexp(t, `^catops_[a-z_]+$`, d.Name)
		assert.NotEmpty(t, d.Help, d.Name)
		switch d.kind {
		case "counter":
			assert.Regexp(t, `_total$`, d.Name)
		case "histogram":
			assert.Regexp(t, `_seconds$`, d.Name)
			assert.Equal(t, DurationBuckets, d.Buckets, d.Name)
		}
		if d.vec {
			assert.NotEmpty(t, d.Labels, d.Name)
		}
	}
}

func TestCodeClass(t *testing.T) {
	for status, want := range map[int]string{0: "error", 200: "2xx", 204: "2xx", 302: "3xx", 401: "4xx", 503: "5xx", 600: "error"} {
		assert.Equal(t, want, CodeClass(status), "%d", status)
	}
}
