package kubelet

import (
	"fmt"
	"slices"
	"time"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/wire"
)

// instanceGone is how long a newer container instance, not seen since,
// keeps an older one from being read: after it, the older one is the
// container now (its start time was older only because the clock moved).
const instanceGone = 2 * time.Minute

// seriesKey names one CPU counter: the node's (all empty), a pod's
// (Container empty, Pod true) or a container's.
type seriesKey struct {
	usage.PodKey
	Container string
	Pod       bool
}

// rate is a CPU reading: cores averaged over window, ending at ts.
type rate struct {
	cores  float64
	ts     time.Time
	window time.Duration
}

// counterState is the last sample of a counter, the instance it belongs
// to, and the rate it gave.
type counterState struct {
	// start identifies the instance: the container's start time; for a
	// pod's counter the latest start of its containers; zero: unknown.
	start   time.Time
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
// forgotten). A reading is left out when a CPU rate it needs is not known
// yet (a first sample, a restart), and rejected when a figure of it cannot
// be true. A scrape the kubelet marks as failed gives no reading and keeps
// the counters as they were.
func (r *rates) readings(s *scrape, want map[usage.PodKey]struct{}) (*wire.ResourceUsage, map[usage.PodKey]wire.ResourceUsage, []usage.Rejection) {
	if s.scrapeError {
		return nil, nil, []usage.Rejection{{Reason: usage.RejectScrapeError, Detail: "the kubelet could not read its stats (scrape_error 1)"}}
	}
	next := make(map[seriesKey]counterState, len(r.counters))
	var (
		node     *wire.ResourceUsage
		rejected []usage.Rejection
	)
	if s.node.seen {
		u, ok, reason, detail := r.point(next, seriesKey{}, &s.node, time.Time{}, false)
		switch {
		case ok:
			node = &u
		case reason != "":
			rejected = append(rejected, usage.Rejection{Reason: reason, Detail: detail})
		}
	}
	pods := make(map[usage.PodKey]wire.ResourceUsage, len(want))
	for k, p := range s.pods {
		var containerRejected []usage.Rejection
		u, ok, reason, detail := r.pod(next, k, p, &containerRejected)
		if _, wanted := want[k]; !wanted {
			continue
		}
		rejected = append(rejected, containerRejected...)
		switch {
		case ok:
			pods[k] = u
		case reason != "":
			rejected = append(rejected, usage.Rejection{Pod: k, Reason: reason, Detail: detail})
		}
	}
	r.counters = next
	return node, pods, rejected
}

// point is the reading of one owner with CPU and memory series of its own
// (the node, or a pod's pod_* series); start identifies the instance of
// its counter, and instances says whether an older instance is a stale
// leftover (containers) rather than just another one.
func (r *rates) point(next map[seriesKey]counterState, k seriesKey, p *usagePoint, start time.Time, instances bool) (wire.ResourceUsage, bool, string, string) {
	switch {
	case p.bad != "":
		return wire.ResourceUsage{}, false, p.bad, p.badDetail
	case p.cpu == nil || p.memory == nil:
		return wire.ResourceUsage{}, false, usage.RejectMissing, "a CPU or memory series is missing"
	}
	cpu, ok, reason, detail := r.observe(next, k, *p.cpu, start, instances)
	if !ok {
		return wire.ResourceUsage{}, false, reason, detail
	}
	return reading(cpu, p.memory.value), true, "", ""
}

// pod is the pod's reading from its pod_* series if the kubelet writes
// both, else the sum of its containers. A container is needed with both
// its CPU and its memory series (as metrics-server does): one with a
// series missing (starting, stopping, or stats not read) leaves the pod's
// total unknown, as does one whose rate is not known yet. Every container
// with both series good is observed, so that its rate is known next time,
// and the reading lists those whose rate is known (Containers). When the
// pod's figures come from its pod_* series, a container whose series cannot
// be true is left out of Containers and added to containerRejected.
func (r *rates) pod(next map[seriesKey]counterState, k usage.PodKey, p *podPoint, containerRejected *[]usage.Rejection) (wire.ResourceUsage, bool, string, string) {
	names := make([]string, 0, len(p.containers))
	for name := range p.containers {
		names = append(names, name)
	}
	slices.Sort(names)
	type containerRead struct {
		cpu       rate
		memory    float64
		why, what string // why it has no reading ("" with one, or if not known yet)
		ok        bool
	}
	reads := make([]containerRead, len(names))
	for i, name := range names {
		c := p.containers[name]
		cr := &reads[i]
		cr.why, cr.what = c.bad, c.badDetail
		if cr.why == "" && (c.cpu == nil || c.memory == nil) {
			cr.why, cr.what = usage.RejectMissing, "no CPU or memory series"
		}
		if cr.why == "" {
			cpu, ok, w, d := r.observe(next, seriesKey{PodKey: k, Container: name}, *c.cpu, c.start, true)
			cr.cpu, cr.memory, cr.ok, cr.why, cr.what = cpu, c.memory.value, ok, w, d
		}
	}
	containers := func() []wire.ContainerUsage {
		var out []wire.ContainerUsage
		for i, cr := range reads {
			if cr.ok {
				out = append(out, wire.ContainerUsage{Name: names[i], CPUCores: cr.cpu.cores, MemoryBytes: int64(cr.memory)})
			}
		}
		return out
	}

	if p.bad != "" || (p.cpu != nil && p.memory != nil) {
		// The pod's counter spans its containers: its instance changes
		// when the pod is recreated under the same name, which the latest
		// start of its containers tells (a container's restart changes it
		// too, and costs the pod one reading: the safe side).
		var latest time.Time
		for _, c := range p.containers {
			latest = later(latest, c.start)
		}
		u, ok, reason, detail := r.point(next, seriesKey{PodKey: k, Pod: true}, &p.usagePoint, latest, false)
		if ok {
			u.Containers = containers()
			for i, cr := range reads {
				// A missing series is a container starting or stopping,
				// not a figure that cannot be true.
				if !cr.ok && cr.why != "" && cr.why != usage.RejectMissing {
					*containerRejected = append(*containerRejected, usage.Rejection{Pod: k, Reason: cr.why, Detail: fmt.Sprintf("container %q: %s", names[i], cr.what)})
				}
			}
		}
		return u, ok, reason, detail
	}
	if len(p.containers) == 0 {
		// One pod_* series without the other, and no container series.
		return wire.ResourceUsage{}, false, usage.RejectMissing, "a CPU or memory series is missing"
	}
	var (
		sum            rate
		memory         float64
		complete       = true
		reason, detail string
	)
	for i, cr := range reads {
		if cr.ok {
			sum.cores += cr.cpu.cores
			sum.ts = later(sum.ts, cr.cpu.ts)
			sum.window = max(sum.window, cr.cpu.window)
			memory += cr.memory
			continue
		}
		complete = false
		if reason == "" && cr.why != "" {
			reason, detail = cr.why, fmt.Sprintf("container %q: %s", names[i], cr.what)
		}
	}
	switch {
	case reason != "":
		return wire.ResourceUsage{}, false, reason, detail
	case !complete:
		return wire.ResourceUsage{}, false, "", ""
	case memory > usage.MaxValue:
		return wire.ResourceUsage{}, false, usage.RejectOutOfRange, fmt.Sprintf("memory %g bytes", memory)
	}
	u := reading(sum, memory)
	u.Containers = containers()
	return u, true, "", ""
}

// observe records the CPU sample cur of the instance start of k in next and
// returns the rate since the previous sample of the same series: the same
// key and the same instance. ok is false on the first sample of a series
// (a new key, or a new instance: a restart), and when the rate cannot be
// true, which reason says: the counter went down, or its time went back.
// With instances (containers), a sample of an instance older than the one
// already seen is a stale leftover: rejected, and the newer instance's
// state kept, unless the newer one has not been seen for instanceGone. A
// sample no newer than the previous one with the same value (the kubelet
// has not refreshed its stats) gives the same rate as last time.
func (r *rates) observe(next map[seriesKey]counterState, k seriesKey, cur sample, start time.Time, instances bool) (rate, bool, string, string) {
	prev, seen := r.counters[k]
	fresh := counterState{start: start, last: cur}
	switch {
	case !seen:
		next[k] = fresh
		return rate{}, false, "", ""
	case !start.Equal(prev.start):
		if instances && !start.IsZero() && !prev.start.IsZero() && start.Before(prev.start) &&
			cur.ts.Sub(prev.last.ts) < instanceGone {
			next[k] = prev
			return rate{}, false, usage.RejectDuplicate, fmt.Sprintf("an instance started at %s, older than the one started at %s",
				start.Format(time.RFC3339), prev.start.Format(time.RFC3339))
		}
		next[k] = fresh
		return rate{}, false, "", ""
	case cur.ts.Equal(prev.last.ts) && cur.value == prev.last.value:
		next[k] = prev
		return prev.rate, prev.hasRate, "", ""
	case !cur.ts.After(prev.last.ts):
		next[k] = fresh
		return rate{}, false, usage.RejectBadWindow, fmt.Sprintf("CPU counter at %s after one at %s", cur.ts.Format(time.RFC3339Nano), prev.last.ts.Format(time.RFC3339Nano))
	case cur.value < prev.last.value:
		next[k] = fresh
		return rate{}, false, usage.RejectCounterBackwards, fmt.Sprintf("CPU counter %g after %g", cur.value, prev.last.value)
	}
	window := cur.ts.Sub(prev.last.ts)
	rt := rate{cores: (cur.value - prev.last.value) / window.Seconds(), ts: cur.ts, window: window}
	if !finite(rt.cores) {
		next[k] = fresh
		return rate{}, false, usage.RejectNonFinite, fmt.Sprintf("CPU rate %g", rt.cores)
	}
	next[k] = counterState{start: start, last: cur, rate: rt, hasRate: true}
	return rt, true, "", ""
}

// reading is a wire reading from a CPU rate and a working set in bytes (at
// most usage.MaxValue, so the conversion is exact enough and cannot
// overflow).
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
