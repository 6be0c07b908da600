// Package victoria serves the agents' metrics with VictoriaMetrics's
// metrics package (github.com/VictoriaMetrics/metrics): catops's /metrics.
// Linking it costs an idle process about 0.4 MiB of resident memory where
// Prometheus's client, with protobuf, costs about 2.9 MiB
// (docs/benchmarks.md, "The host agent"); the text it writes is
// Prometheus's text format.
package victoria

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metrics"

	"github.com/catops/cli/pkg/telemetry"
)

// Registry holds one exposition's families: telemetry's instruments and
// catops_build_info, written with the Go runtime's and the process's
// metrics (go_*, process_*) by Handler. It is telemetry.Factory: each
// method makes a family and registers it, and panics on a name already
// registered. It is safe for concurrent use.
type Registry struct {
	set  *metrics.Set
	mu   sync.Mutex
	help map[string]string // family → help
	// helpLines fills in the text of the HELP lines the metrics package
	// writes empty (it has no place for help); rebuilt on each new family.
	helpLines *strings.Replacer
}

// NewRegistry returns a registry holding catops_build_info{version,
// go_version} 1. It turns on the metrics package's TYPE and HELP lines,
// a setting of the whole process.
func NewRegistry(version string) *Registry {
	metrics.ExposeMetadata(true)
	r := &Registry{set: metrics.NewSet(), help: map[string]string{}}
	r.describe(telemetry.BuildInfo)
	r.set.NewGauge(series(telemetry.BuildInfo, version, runtime.Version()), func() float64 { return 1 })
	return r
}

// New makes the families of groups on r.
func New(r *Registry, groups telemetry.Group) *telemetry.Metrics { return telemetry.New(r, groups) }

func (r *Registry) describe(d telemetry.Desc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.help[d.Name]; dup {
		panic("victoria: " + d.Name + " registered twice")
	}
	r.help[d.Name] = d.Help
	pairs := make([]string, 0, 2*len(r.help))
	for name, help := range r.help {
		pairs = append(pairs, "# HELP "+name+"\n", "# HELP "+name+" "+helpEscaper.Replace(help)+"\n")
	}
	r.helpLines = strings.NewReplacer(pairs...)
}

// Counter makes and registers a counter.
func (r *Registry) Counter(d telemetry.Desc) telemetry.Counter {
	r.describe(d)
	return counter{r.set.NewFloatCounter(d.Name)}
}

// Gauge makes and registers a gauge.
func (r *Registry) Gauge(d telemetry.Desc) telemetry.Gauge {
	r.describe(d)
	return r.set.NewGauge(d.Name, nil)
}

// Histogram makes and registers a histogram with d.Buckets.
func (r *Registry) Histogram(d telemetry.Desc) telemetry.Histogram {
	r.describe(d)
	return histogram{r.set.NewPrometheusHistogramExt(d.Name, d.Buckets)}
}

// CounterVec makes and registers a counter family with d.Labels; a series
// appears at its first WithLabelValues.
func (r *Registry) CounterVec(d telemetry.Desc) telemetry.CounterVec {
	r.describe(d)
	return counterVec{r.set, d}
}

// HistogramVec makes and registers a histogram family with d.Labels and
// d.Buckets, as CounterVec.
func (r *Registry) HistogramVec(d telemetry.Desc) telemetry.HistogramVec {
	r.describe(d)
	return histogramVec{r.set, d}
}

// Handler serves the registry, then the Go runtime's and the process's
// metrics (the metrics package's names: go_memstats_*, go_goroutines,
// process_resident_memory_bytes, process_open_fds, …), in Prometheus's
// text format.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(r.Write())
		metrics.WriteProcessMetrics(w)
		metrics.WriteFDMetrics(w)
	})
}

// Write returns the registry's families in Prometheus's text format, each
// with its HELP and TYPE lines.
func (r *Registry) Write() []byte {
	var b bytes.Buffer
	r.set.WritePrometheus(&b)
	r.mu.Lock()
	helpLines := r.helpLines
	r.mu.Unlock()
	return []byte(helpLines.Replace(b.String()))
}

type counter struct{ c *metrics.FloatCounter }

func (c counter) Inc()          { c.c.Add(1) }
func (c counter) Add(v float64) { c.c.Add(v) }

type histogram struct{ h *metrics.PrometheusHistogram }

func (h histogram) Observe(v float64) { h.h.Update(v) }

type counterVec struct {
	set *metrics.Set
	d   telemetry.Desc
}

func (v counterVec) WithLabelValues(values ...string) telemetry.Counter {
	return counter{v.set.GetOrCreateFloatCounter(series(v.d, values...))}
}

type histogramVec struct {
	set *metrics.Set
	d   telemetry.Desc
}

func (v histogramVec) WithLabelValues(values ...string) telemetry.Histogram {
	return histogram{v.set.GetOrCreatePrometheusHistogramExt(series(v.d, values...), v.d.Buckets)}
}

// series is the name of d's series with these label values:
// name{label="value",…}, each value escaped as the text format wants.
func series(d telemetry.Desc, values ...string) string {
	if len(values) != len(d.Labels) {
		panic(fmt.Sprintf("victoria: %s has %d labels, got %d values", d.Name, len(d.Labels), len(values)))
	}
	if len(values) == 0 {
		return d.Name
	}
	var b strings.Builder
	b.WriteString(d.Name)
	for i, v := range values {
		if i == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(d.Labels[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(v))
		b.WriteString(`"`)
	}
	b.WriteString("}")
	return b.String()
}

// The text format escapes a label value's backslash, double quote and line
// feed, and a HELP text's backslash and line feed.
var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)
