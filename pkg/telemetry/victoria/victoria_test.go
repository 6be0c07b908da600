package victoria

import (
	"bytes"
	"io"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/telemetry/prom"
)

// count does the same to any exposition's metrics.
func count(m *telemetry.Metrics) {
	m.QueueEvents.Set(12)
	m.QueueBytes.Set(3456.5)
	m.BatchesSent.Inc()
	m.BatchesSent.Add(2)
	m.BatchesFailed.WithLabelValues("status_5xx").Inc()
	m.BatchesFailed.WithLabelValues("network").Add(4)
	m.BytesSent.Add(1e6 + 0.25)
	m.EventsDropped.WithLabelValues("host", "overflow").Inc()
	m.LastSendTime.Set(1.7e9)
	m.Snapshots.WithLabelValues("start").Inc()
	m.LastTick.Set(1.7e9 + 1)
	m.BackendRequestDuration.WithLabelValues("2xx").Observe(0.004)
	m.BackendRequestDuration.WithLabelValues("2xx").Observe(0.3)
	m.BackendRequestDuration.WithLabelValues("error").Observe(31)
	m.HostSampleDuration.Observe(0.01) // on a bound: le is inclusive
	m.WatchRestarts.WithLabelValues("pods").Inc()
	m.InformerRequests.WithLabelValues("pods", "list").Inc()
	m.UsageReadDuration.WithLabelValues("kubelet").Observe(0.02)
	m.UsageAvailable.Set(1)
	m.CachedPods.Set(7)
	m.SpoolDegraded.Set(1)
	m.SpoolBytes.Set(4096)
	m.SpoolReplayedEvents.Add(5)
	m.SpoolSkippedRecords.Inc()
	m.SpoolWriteFailures.WithLabelValues("full").Inc()
}

func parse(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	require.NoError(t, err, "%s", text)
	return fams
}

// The same counts give the same families through either exposition: names,
// help, types, label sets and values, histogram buckets included.
func TestSameExpositionAsPrometheusClient(t *testing.T) {
	for _, groups := range []telemetry.Group{telemetry.Common, telemetry.Common | telemetry.Spool, telemetry.All} {
		reg := prometheus.NewRegistry()
		pm := prom.New(reg, groups)
		prom.RegisterBuildInfo(reg, "1.2.3")
		count(pm)
		gathered, err := reg.Gather()
		require.NoError(t, err)
		var want bytes.Buffer
		for _, f := range gathered {
			_, err := expfmt.MetricFamilyToText(&want, f)
			require.NoError(t, err)
		}

		r := NewRegistry("1.2.3")
		count(New(r, groups))
		got := r.Write()

		wantFams, gotFams := parse(t, want.Bytes()), parse(t, got)
		require.NotEmpty(t, wantFams)
		assert.Equal(t, keys(wantFams), keys(gotFams), "groups %b", groups)
		for name, w := range wantFams {
			g := gotFams[name]
			if !assert.NotNil(t, g, name) {
				continue
			}
			assert.Equal(t, w.GetHelp(), g.GetHelp(), name)
			assert.Equal(t, w.GetType(), g.GetType(), name)
			assert.Equal(t, samples(w), samples(g), name)
		}
	}
}

func keys(m map[string]*dto.MetricFamily) []string { return slices.Sorted(maps.Keys(m)) }

// samples are a family's series as comparable text: labels → value (for a
// histogram: count, sum and each bucket).
func samples(f *dto.MetricFamily) map[string]string {
	out := map[string]string{}
	for _, m := range f.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(labels)
		key := strings.Join(labels, ",")
		switch {
		case m.Counter != nil:
			out[key] = model.SampleValue(m.GetCounter().GetValue()).String()
		case m.Gauge != nil:
			out[key] = model.SampleValue(m.GetGauge().GetValue()).String()
		case m.Histogram != nil:
			h := m.GetHistogram()
			var b strings.Builder
			b.WriteString(model.SampleValue(h.GetSampleSum()).String())
			for _, bk := range h.GetBucket() {
				b.WriteString(" " + model.SampleValue(bk.GetUpperBound()).String() + ":" + model.SampleValue(bk.GetCumulativeCount()).String())
			}
			b.WriteString(" count:" + model.SampleValue(h.GetSampleCount()).String())
			out[key] = b.String()
		default:
			out[key] = "untyped"
		}
	}
	return out
}

// A label value with the characters the text format escapes reads back
// as it was.
func TestLabelValuesAreEscaped(t *testing.T) {
	r := NewRegistry("v")
	m := New(r, telemetry.Common)
	odd := "a \"quoted\" back\\slash\nand a line"
	m.BatchesFailed.WithLabelValues(odd).Inc()
	fams := parse(t, r.Write())
	f := fams["catops_batches_failed_total"]
	require.NotNil(t, f)
	require.Len(t, f.GetMetric(), 1)
	assert.Equal(t, odd, f.GetMetric()[0].GetLabel()[0].GetValue())
}

// A help text with the characters the text format escapes reads back as
// it was.
func TestHelpIsEscaped(t *testing.T) {
	r := NewRegistry("v")
	help := "a back\\slash\nand a line"
	r.Counter(telemetry.Desc{Name: "catops_odd_total", Help: help}).Inc()
	f := parse(t, r.Write())["catops_odd_total"]
	require.NotNil(t, f)
	assert.Equal(t, help, f.GetHelp())
}

func TestWrongLabelCountPanics(t *testing.T) {
	m := New(NewRegistry("v"), telemetry.Common)
	assert.PanicsWithValue(t, "victoria: catops_events_dropped_total has 2 labels, got 1 values", func() {
		m.EventsDropped.WithLabelValues("host")
	})
}

func TestRegisteringTwicePanics(t *testing.T) {
	r := NewRegistry("v")
	New(r, telemetry.Common)
	assert.Panics(t, func() { New(r, telemetry.Common) })
}

// /metrics serves the families, then the Go runtime's and the process's
// metrics, as text a Prometheus parser reads.
func TestHandlerServesProcessMetrics(t *testing.T) {
	r := NewRegistry("v")
	count(New(r, telemetry.Common))
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", rec.Header().Get("Content-Type"))
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	fams := parse(t, body)
	for _, name := range []string{"catops_build_info", "catops_batches_sent_total", "go_goroutines", "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"} {
		assert.Contains(t, fams, name)
	}
	assert.Equal(t, 3.0, fams["catops_batches_sent_total"].GetMetric()[0].GetCounter().GetValue())
	assert.Positive(t, fams["process_resident_memory_bytes"].GetMetric()[0].GetGauge().GetValue())
}
