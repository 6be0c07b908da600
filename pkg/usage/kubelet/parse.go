package kubelet

import (
	"fmt"
	"math"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/catops/cli/pkg/usage"
)

// The kubelet's resource metrics series (/metrics/resource) this source
// reads. CPU series are cumulative core-seconds, memory series the working
// set in bytes, each stamped (milliseconds) with when the kubelet's stats
// were taken; container_start_time_seconds is the start of the container
// instance, in seconds since the epoch; scrape_error (resource_scrape_error
// since Kubernetes 1.29) is 1 when the kubelet could not read its stats.
const (
	seriesNodeCPU        = "node_cpu_usage_seconds_total"
	seriesNodeMemory     = "node_memory_working_set_bytes"
	seriesPodCPU         = "pod_cpu_usage_seconds_total"
	seriesPodMemory      = "pod_memory_working_set_bytes"
	seriesContainerCPU   = "container_cpu_usage_seconds_total"
	seriesContainerMem   = "container_memory_working_set_bytes"
	seriesContainerStart = "container_start_time_seconds"
	seriesScrapeError    = "scrape_error"
	seriesResourceError  = "resource_scrape_error"
)

// minStartTime is the earliest container start time taken as one: a value
// before it is not a start time (kwok's emulated kubelet writes seconds
// since the start there) and the start is unknown instead.
const minStartTime = 1e9 // 2001-09-09

// unixEpoch: a timestamp not after it is no timestamp.
var unixEpoch = time.Unix(0, 0)

// sample is one value and when the kubelet took it.
type sample struct {
	value float64
	ts    time.Time
}

// usagePoint is what one scrape says about the node, a pod (its pod_*
// series) or a container.
type usagePoint struct {
	cpu    *sample
	memory *sample
	start  time.Time // container instance start; zero: unknown
	seen   bool      // any series of it was in the scrape
	// bad is why a series of it could not be taken ("" if none): a
	// reading made from it is rejected for that reason.
	bad, badDetail string
}

func (p *usagePoint) reject(reason, detail string) {
	p.seen = true
	if p.bad == "" {
		p.bad, p.badDetail = reason, detail
	}
}

type podPoint struct {
	usagePoint // pod_* series, when the kubelet writes them
	containers map[string]*usagePoint
}

// scrape is one kubelet answer, by series owner.
type scrape struct {
	node usagePoint
	pods map[usage.PodKey]*podPoint
	// scrapeError: the kubelet says the answer lacks its stats.
	scrapeError bool
}

// parseScrape picks the series it knows out of fams. Samples without a
// timestamp are taken as of scraped. A sample that cannot be true (not
// finite, negative, above usage.MaxValue, stamped at or before the epoch or
// more than usage.MaxClockSkew after scraped) and a series given twice (the
// exposition format leaves which one counts undefined) mark their owner
// bad instead of being used.
func parseScrape(fams map[string]*dto.MetricFamily, scraped time.Time) *scrape {
	s := &scrape{pods: map[usage.PodKey]*podPoint{}}
	pod := func(m *dto.Metric) *podPoint {
		k := usage.PodKey{Namespace: label(m, "namespace"), Name: label(m, "pod")}
		if k.Namespace == "" || k.Name == "" {
			return nil
		}
		p := s.pods[k]
		if p == nil {
			p = &podPoint{containers: map[string]*usagePoint{}}
			s.pods[k] = p
		}
		return p
	}
	container := func(m *dto.Metric) *usagePoint {
		name := label(m, "container")
		if name == "" {
			return nil
		}
		p := pod(m)
		if p == nil {
			return nil
		}
		c := p.containers[name]
		if c == nil {
			c = &usagePoint{}
			p.containers[name] = c
		}
		return c
	}
	// Sorted, so that the first reason an owner is bad for is the same
	// every time.
	names := make([]string, 0, len(fams))
	for name := range fams {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, m := range fams[name].GetMetric() {
			var p *usagePoint
			switch name {
			case seriesScrapeError, seriesResourceError:
				if v, ok := rawValue(m); !ok || v != 0 {
					s.scrapeError = true
				}
				continue
			case seriesNodeCPU, seriesNodeMemory:
				p = &s.node
			case seriesPodCPU, seriesPodMemory:
				if pp := pod(m); pp != nil {
					p = &pp.usagePoint
				}
			case seriesContainerCPU, seriesContainerMem, seriesContainerStart:
				p = container(m)
			}
			if p == nil {
				continue // not a series this source reads, or not labelled
			}
			p.take(name, m, scraped)
		}
	}
	return s
}

// take records the sample of series name in p.
func (p *usagePoint) take(name string, m *dto.Metric, scraped time.Time) {
	p.seen = true
	v, ok := rawValue(m)
	if !ok {
		p.reject(usage.RejectMissing, name+" has no counter, gauge or untyped value")
		return
	}
	if name == seriesContainerStart {
		p.takeStart(v, scraped)
		return
	}
	ts := scraped
	if m.TimestampMs != nil {
		ts = time.UnixMilli(m.GetTimestampMs())
	}
	if reason, detail := sampleProblem(v, ts, scraped); reason != "" {
		p.reject(reason, name+": "+detail)
		return
	}
	field := &p.memory
	if name == seriesNodeCPU || name == seriesPodCPU || name == seriesContainerCPU {
		field = &p.cpu
	}
	if *field != nil {
		p.reject(usage.RejectDuplicate, name+" is given twice")
		return
	}
	*field = &sample{value: v, ts: ts.UTC()}
}

// takeStart records a container_start_time_seconds value v. Given twice,
// the container is bad (which instance its other series belong to cannot
// be told) and start keeps the later one, for its pod's instance.
func (p *usagePoint) takeStart(v float64, scraped time.Time) {
	switch {
	case !finite(v):
		p.reject(usage.RejectNonFinite, fmt.Sprintf("%s %g", seriesContainerStart, v))
	case v < minStartTime:
		// Not a start time (kwok writes seconds since the start): unknown.
	case v > float64(scraped.Add(usage.MaxClockSkew).Unix()):
		p.reject(usage.RejectFutureTimestamp, fmt.Sprintf("%s %g", seriesContainerStart, v))
	default:
		sec := math.Floor(v)
		start := time.Unix(int64(sec), int64((v-sec)*1e9)).UTC()
		if !p.start.IsZero() {
			p.reject(usage.RejectDuplicate, seriesContainerStart+" is given twice")
			start = later(p.start, start)
		}
		p.start = start
	}
}

// sampleProblem says why value v at ts cannot be a usage sample of a
// scrape made at scraped ("" if it can be).
func sampleProblem(v float64, ts, scraped time.Time) (reason, detail string) {
	switch {
	case !finite(v):
		return usage.RejectNonFinite, fmt.Sprintf("value %g", v)
	case v < 0:
		return usage.RejectNegative, fmt.Sprintf("value %g", v)
	case v > usage.MaxValue:
		return usage.RejectOutOfRange, fmt.Sprintf("value %g", v)
	case !ts.After(unixEpoch):
		return usage.RejectNoTimestamp, fmt.Sprintf("timestamp %d ms", ts.UnixMilli())
	case ts.After(scraped.Add(usage.MaxClockSkew)):
		return usage.RejectFutureTimestamp, fmt.Sprintf("timestamp %s, scraped at %s", ts.UTC().Format(time.RFC3339), scraped.UTC().Format(time.RFC3339))
	}
	return "", ""
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func rawValue(m *dto.Metric) (float64, bool) {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
