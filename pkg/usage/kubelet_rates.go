package usage

import (
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/catops/cli/pkg/wire"
)

// The kubelet's resource metrics series (/metrics/resource) this source
// reads. CPU series are cumulative core-seconds; memory series are the
// working set in bytes.
const (
	seriesNodeCPU        = "node_cpu_usage_seconds_total"
	seriesNodeMemory     = "node_memory_working_set_bytes"
	seriesPodCPU         = "pod_cpu_usage_seconds_total"
	seriesPodMemory      = "pod_memory_working_set_bytes"
	seriesContainerCPU   = "container_cpu_usage_seconds_total"
	seriesContainerMem   = "container_memory_working_set_bytes"
	seriesContainerStart = "container_start_time_seconds"
)

// maxValue bounds the values taken (no real counter or working set comes
// near), so sums and int64 conversions cannot overflow.
const maxValue = 1 << 62

// sample is one value and when the kubelet took it.
type sample struct {
	value float64
	ts    time.Time
}

// usagePoint is what one scrape says about the node, a pod or a container.
type usagePoint struct {
	cpu    *sample
	memory *sample
	start  time.Time // container start; zero: unknown
}

type podPoint struct {
	usagePoint // pod_* series, when the kubelet writes them
	containers map[string]*usagePoint
}

// scrape is one kubelet answer, by series owner.
type scrape struct {
	node usagePoint
	pods map[PodKey]*podPoint
}

// parseScrape picks the series it knows out of fams. Samples without a
// timestamp are taken as of scraped. Non-finite or negative values are
// ignored.
func parseScrape(fams map[string]*dto.MetricFamily, scraped time.Time) *scrape {
	s := &scrape{pods: map[PodKey]*podPoint{}}
	pod := func(m *dto.Metric) *podPoint {
		k := PodKey{Namespace: label(m, "namespace"), Name: label(m, "pod")}
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
		p, name := pod(m), label(m, "container")
		if p == nil || name == "" {
			return nil
		}
		c := p.containers[name]
		if c == nil {
			c = &usagePoint{}
			p.containers[name] = c
		}
		return c
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			v, ok := value(m, scraped)
			if !ok {
				continue
			}
			switch name {
			case seriesNodeCPU:
				s.node.cpu = &v
			case seriesNodeMemory:
				s.node.memory = &v
			case seriesPodCPU, seriesPodMemory:
				if p := pod(m); p != nil {
					if name == seriesPodCPU {
						p.cpu = &v
					} else {
						p.memory = &v
					}
				}
			case seriesContainerCPU, seriesContainerMem, seriesContainerStart:
				c := container(m)
				switch {
				case c == nil:
				case name == seriesContainerCPU:
					c.cpu = &v
				case name == seriesContainerMem:
					c.memory = &v
				default:
					c.start = time.Unix(0, int64(v.value*1e9))
				}
			}
		}
	}
	return s
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric, scraped time.Time) (sample, bool) {
	var v float64
	switch {
	case m.Counter != nil:
		v = m.Counter.GetValue()
	case m.Gauge != nil:
		v = m.Gauge.GetValue()
	case m.Untyped != nil:
		v = m.Untyped.GetValue()
	default:
		return sample{}, false
	}
	if math.IsNaN(v) || v < 0 || v > maxValue {
		return sample{}, false
	}
	ts := scraped
	if m.TimestampMs != nil {
		ts = time.UnixMilli(m.GetTimestampMs())
	}
	return sample{value: v, ts: ts.UTC()}, true
}

// seriesKey names one CPU counter: the node's (all empty), a pod's
// (Container empty, pod true) or a container's.
type seriesKey struct {
	PodKey
	Container string
	Pod       bool
}

// rate is a CPU reading: cores averaged over window, ending at ts.
type rate struct {
	cores  float64
	ts     time.Time
	window time.Duration
}

// counterState is the last sample of a counter and the rate it gave.
type counterState struct {
	last    sample
	rate    rate
	hasRate bool
}

// rates turns successive CPU counter samples into rates.
type rates struct {
	counters map[seriesKey]counterState
}

func newRates() rates { return rates{counters: map[seriesKey]counterState{}} }

// readings computes the node's and the wanted pods' readings from s and
// remembers s's counters for the next scrape (series that are gone are
// forgotten). A reading is left out when a CPU rate it needs is unknown.
func (r *rates) readings(s *scrape, want map[PodKey]struct{}) (*wire.ResourceUsage, map[PodKey]wire.ResourceUsage) {
	next := make(map[seriesKey]counterState, len(r.counters))
	var node *wire.ResourceUsage
	if cpu, ok := r.observe(next, seriesKey{}, s.node); ok && s.node.memory != nil {
		u := reading(cpu, s.node.memory.value)
		node = &u
	}
	pods := make(map[PodKey]wire.ResourceUsage, len(want))
	for k, p := range s.pods {
		u, ok := r.pod(next, k, p)
		if _, wanted := want[k]; ok && wanted {
			pods[k] = u
		}
	}
	r.counters = next
	return node, pods
}

// pod is the pod's reading from its pod_* series if the kubelet writes
// them, else the sum of its containers. Containers without both a CPU and
// a memory series are left out (as metrics-server does: one being created
// or stopping); the sum needs the rate of every other container.
func (r *rates) pod(next map[seriesKey]counterState, k PodKey, p *podPoint) (wire.ResourceUsage, bool) {
	if p.cpu != nil && p.memory != nil {
		cpu, ok := r.observe(next, seriesKey{PodKey: k, Pod: true}, p.usagePoint)
		return reading(cpu, p.memory.value), ok
	}
	var (
		sum      rate
		memory   float64
		counted  int
		complete = true
	)
	for name, c := range p.containers {
		if c.cpu == nil || c.memory == nil {
			continue
		}
		counted++
		cpu, ok := r.observe(next, seriesKey{PodKey: k, Container: name}, *c)
		if !ok {
			complete = false
			continue
		}
		sum.cores += cpu.cores
		sum.ts = later(sum.ts, cpu.ts)
		sum.window = max(sum.window, cpu.window)
		memory += c.memory.value
	}
	return reading(sum, memory), complete && counted > 0
}

// observe records the CPU sample of p under k in next and returns the rate
// since the previous sample. ok is false on the first sample, after a
// reset (the counter went down, or the container started after the
// previous sample: it restarted), and when p has no CPU sample. A sample no
// newer than the previous one (the kubelet has not refreshed its stats)
// gives the same rate as last time.
func (r *rates) observe(next map[seriesKey]counterState, k seriesKey, p usagePoint) (rate, bool) {
	if p.cpu == nil {
		return rate{}, false
	}
	cur := *p.cpu
	prev, seen := r.counters[k]
	switch {
	case !seen:
		next[k] = counterState{last: cur}
		return rate{}, false
	case !cur.ts.After(prev.last.ts):
		next[k] = prev
		return prev.rate, prev.hasRate
	case cur.value < prev.last.value, !p.start.IsZero() && p.start.After(prev.last.ts):
		next[k] = counterState{last: cur}
		return rate{}, false
	}
	window := cur.ts.Sub(prev.last.ts)
	rt := rate{cores: (cur.value - prev.last.value) / window.Seconds(), ts: cur.ts, window: window}
	if math.IsInf(rt.cores, 0) || math.IsNaN(rt.cores) {
		next[k] = counterState{last: cur}
		return rate{}, false
	}
	next[k] = counterState{last: cur, rate: rt, hasRate: true}
	return rt, true
}

func reading(cpu rate, memory float64) wire.ResourceUsage {
	return wire.ResourceUsage{
		Timestamp:     cpu.ts,
		WindowSeconds: cpu.window.Seconds(),
		CPUCores:      cpu.cores,
		MemoryBytes:   int64(memory),
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
