package kubelet

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/usagetest"
	"github.com/catops/cli/pkg/wire"
)

// kline is one sample line of a kubelet /metrics/resource answer.
type kline struct {
	name, labels, value string
	ts                  time.Time // zero: no timestamp
}

// kubeletHelp is the kubelet's HELP text of each family it writes.
var kubeletHelp = map[string]string{
	seriesNodeCPU:        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
	seriesNodeMemory:     "[STABLE] Current working set of the node in bytes",
	seriesContainerCPU:   "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
	seriesContainerMem:   "[STABLE] Current working set of the container in bytes",
	seriesContainerStart: "[STABLE] Start time of the container since unix epoch in seconds",
	seriesPodCPU:         "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
	seriesPodMemory:      "[STABLE] Current working set of the pod in bytes",
	seriesScrapeError:    "[ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting container metrics, 0 otherwise",
	seriesResourceError:  "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
}

// exposition writes lines as the kubelet does: each family once, with its
// HELP and TYPE, its lines in the order given, families in the order of
// their first line.
func exposition(lines ...kline) string {
	var order []string
	byFamily := map[string][]kline{}
	for _, l := range lines {
		if _, ok := byFamily[l.name]; !ok {
			order = append(order, l.name)
		}
		byFamily[l.name] = append(byFamily[l.name], l)
	}
	var b strings.Builder
	for _, name := range order {
		typ := "gauge"
		if strings.HasSuffix(name, "_total") {
			typ = "counter"
		}
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, kubeletHelp[name], name, typ)
		for _, l := range byFamily[name] {
			b.WriteString(name)
			if l.labels != "" {
				b.WriteString("{" + l.labels + "}")
			}
			b.WriteString(" " + l.value)
			if !l.ts.IsZero() {
				fmt.Fprintf(&b, " %d", l.ts.UnixMilli())
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func ctrLabels(ns, pod, container string) string {
	return fmt.Sprintf("container=%q,namespace=%q,pod=%q", container, ns, pod)
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// instance is one container instance as the kubelet reports it.
type instance struct {
	start    time.Time
	cpu, mem float64
}

// containerLines are the kubelet's lines for instance i of container
// ns/pod/name at ts: start time, CPU counter, working set.
func containerLines(ns, pod, name string, ts time.Time, i instance) []kline {
	l := ctrLabels(ns, pod, name)
	return []kline{
		{seriesContainerStart, l, num(float64(i.start.UnixNano()) / 1e9), i.start},
		{seriesContainerCPU, l, num(i.cpu), ts},
		{seriesContainerMem, l, num(i.mem), ts},
	}
}

// nodeLines: node counter and working set at ts, the scrape error 0.
func nodeLines(ts time.Time, cpu, mem float64) []kline {
	return []kline{
		{seriesNodeCPU, "", num(cpu), ts},
		{seriesNodeMemory, "", num(mem), ts},
		{seriesResourceError, "", "0", time.Time{}},
	}
}

var (
	web0 = usage.PodKey{Namespace: "shop", Name: "web-0"}
	// live is the container app of shop/web-0, started an hour before t0;
	// stale, a leftover cgroup of an instance started 30 days before.
	liveStart  = t0.Add(-time.Hour)
	staleStart = t0.Add(-30 * 24 * time.Hour)
)

// staleScrape is the kubelet at t0+offset with web-0's container app
// reported twice: the live instance (liveCPU core-seconds, 200 MiB) and the
// stale leftover (708,000 core-seconds, idle, 900 MiB), stale first or
// not. The node: 8 cores, busy 2.5 cores.
func staleScrape(offset time.Duration, liveCPU float64, staleFirst bool) string {
	ts := t0.Add(offset)
	live := containerLines("shop", "web-0", "app", ts, instance{liveStart, liveCPU, 200 << 20})
	stale := containerLines("shop", "web-0", "app", ts, instance{staleStart, 708000, 900 << 20})
	lines := nodeLines(ts, 1000+2.5*offset.Seconds(), 6<<30)
	if staleFirst {
		lines = append(lines, append(stale, live...)...)
	} else {
		lines = append(lines, append(live, stale...)...)
	}
	return exposition(lines...)
}

// kubeletCollector is a Collector of the kubelet source on an 8-core,
// 32 GiB node.
func kubeletCollector(t *testing.T, f *fakeKubelet) (*usage.Collector, *Source) {
	t.Helper()
	k := newTestKubelet(t, f, Options{})
	c := usage.NewCollector(k, nil, usagetest.Options)
	c.UseNode(usagetest.CachedNode("8", "32Gi"))
	return c, k
}

// The failing input: one container of web-0 is reported twice, a live
// instance and a stale leftover cgroup with another start time, in swapped
// order between two scrapes. The old reader kept the last line of each
// series: a rate across the two instances, (708,000 − 10) / 10 s = 70,799
// cores on an 8-core node, with the stale instance's 900 MiB. Two series
// with one name and labels in one answer are undefined in the exposition
// format: which one is the container cannot be told, so web-0 has no
// reading (unknown), counted as a duplicate; the node's reading is fine.
func TestKubeletDuplicateContainerInstancesGiveNoReading(t *testing.T) {
	f := newFakeKubelet(t)
	c, _ := kubeletCollector(t, f)
	ctx := context.Background()

	f.serve(staleScrape(0, 10, true))
	u, _ := c.Collect(ctx, []usage.PodKey{web0}, t0)
	assert.Empty(t, u.Pods)

	f.serve(staleScrape(10*time.Second, 12.5, false))
	u, _ = c.Collect(ctx, []usage.PodKey{web0}, t0.Add(10*time.Second))
	assert.Empty(t, u.Pods, "no reading for web-0, not 70,799 cores nor the stale 900 MiB")
	require.NotNil(t, u.Node)
	assert.Equal(t, wire.ResourceUsage{Timestamp: t0.Add(10 * time.Second), WindowSeconds: 10, CPUCores: 2.5, MemoryBytes: 6 << 30}, *u.Node)
	assert.Equal(t, map[string]uint64{usage.RejectDuplicate: 2}, usagetest.RejectedOnly(c.Stats()), "each scrape's duplicate counted")
}

// The same answer with the pod's own pod_* series: they are one series
// each, so the pod's reading comes from them, whatever its containers do.
func TestKubeletDuplicateContainerWithPodSeriesReadsThePod(t *testing.T) {
	f := newFakeKubelet(t)
	c, _ := kubeletCollector(t, f)
	ctx := context.Background()
	pod := `namespace="shop",pod="web-0"`
	scrape := func(offset time.Duration, liveCPU float64, staleFirst bool, podCPU float64) string {
		ts := t0.Add(offset)
		return staleScrape(offset, liveCPU, staleFirst) + exposition(
			kline{seriesPodCPU, pod, num(podCPU), ts}, kline{seriesPodMemory, pod, num(1100 << 20), ts})
	}
	f.serve(scrape(0, 10, true, 708010))
	c.Collect(ctx, []usage.PodKey{web0}, t0)
	f.serve(scrape(10*time.Second, 12.5, false, 708012.5))
	u, _ := c.Collect(ctx, []usage.PodKey{web0}, t0.Add(10*time.Second))
	require.Equal(t, []string{"shop/web-0"}, usagetest.PodNames(u))
	assert.Equal(t, wire.ResourceUsage{Timestamp: t0.Add(10 * time.Second), WindowSeconds: 10, CPUCores: 0.25, MemoryBytes: 1100 << 20}, u.Pods[0].ResourceUsage,
		"the pod cgroup's counter: 2.5 core-seconds over 10 s")
}

// More of the kind: two instances of one container, or one that is not the
// newest, never give a rate across them.
func TestKubeletRatesOnlyWithinOneInstance(t *testing.T) {
	restart := t0.Add(5 * time.Second)
	type scrape struct {
		offset  time.Duration
		lines   []kline
		want    *wire.ResourceUsage // web-0's reading; nil: none
		reason  string              // web-0's rejection; "": none
		comment string
	}
	at := func(offset time.Duration, i instance) []kline {
		return containerLines("shop", "web-0", "app", t0.Add(offset), i)
	}
	read := func(offset, window time.Duration, cores float64, mem int64) *wire.ResourceUsage {
		return &wire.ResourceUsage{Timestamp: t0.Add(offset), WindowSeconds: window.Seconds(), CPUCores: cores, MemoryBytes: mem,
			Containers: []wire.ContainerUsage{{Name: "app", CPUCores: cores, MemoryBytes: mem}}}
	}
	tests := []struct {
		name    string
		scrapes []scrape
	}{
		{"the kubelet keeps one of the two per scrape, a different one each time (newest instance wins)", []scrape{
			{0, at(0, instance{liveStart, 10, 200 << 20}), nil, "", "first sample"},
			{10 * time.Second, at(10*time.Second, instance{staleStart, 708000, 900 << 20}), nil, usage.RejectDuplicate, "older than the instance seen"},
			{20 * time.Second, at(20*time.Second, instance{liveStart, 15, 200 << 20}), read(20*time.Second, 20*time.Second, 0.25, 200<<20), "", "live to live, over 20 s"},
			{30 * time.Second, at(30*time.Second, instance{staleStart, 708000, 900 << 20}), nil, usage.RejectDuplicate, ""},
		}},
		{"both instances in every scrape, in the same order", []scrape{
			{0, append(at(0, instance{liveStart, 10, 200 << 20}), at(0, instance{staleStart, 708000, 900 << 20})...), nil, usage.RejectDuplicate, ""},
			{10 * time.Second, append(at(10*time.Second, instance{liveStart, 12.5, 200 << 20}), at(10*time.Second, instance{staleStart, 708000, 900 << 20})...), nil, usage.RejectDuplicate, ""},
		}},
		{"a restart with a higher counter is a new series, not a rate", []scrape{
			{0, at(0, instance{liveStart, 10, 200 << 20}), nil, "", ""},
			{10 * time.Second, at(10*time.Second, instance{restart, 50, 100 << 20}), nil, "", "new instance: its first sample, not rejected"},
			{20 * time.Second, at(20*time.Second, instance{restart, 51, 100 << 20}), read(20*time.Second, 10*time.Second, 0.1, 100<<20), "", ""},
		}},
		{"the same instance's counter going down", []scrape{
			{0, at(0, instance{liveStart, 10, 200 << 20}), nil, "", ""},
			{10 * time.Second, at(10*time.Second, instance{liveStart, 4, 200 << 20}), nil, usage.RejectCounterBackwards, ""},
			{20 * time.Second, at(20*time.Second, instance{liveStart, 6, 200 << 20}), read(20*time.Second, 10*time.Second, 0.2, 200<<20), "", "rates again from the sample after"},
		}},
		{"the same instance's timestamp going back", []scrape{
			{0, at(0, instance{liveStart, 10, 200 << 20}), nil, "", ""},
			{10 * time.Second, at(-5*time.Second, instance{liveStart, 11, 200 << 20}), nil, usage.RejectBadWindow, ""},
		}},
		{"a new value at the same instant", []scrape{
			{0, at(0, instance{liveStart, 10, 200 << 20}), nil, "", ""},
			{10 * time.Second, at(0, instance{liveStart, 500, 200 << 20}), nil, usage.RejectBadWindow, "a window of zero"},
		}},
		{"the start time given twice", []scrape{
			{0, append(at(0, instance{liveStart, 10, 200 << 20}), kline{seriesContainerStart, ctrLabels("shop", "web-0", "app"), num(float64(staleStart.Unix())), time.Time{}}), nil, usage.RejectDuplicate, ""},
		}},
		{"an older instance alone, once the newer one has been gone for minutes", []scrape{
			{0, at(0, instance{liveStart, 10, 200 << 20}), nil, "", ""},
			{5 * time.Minute, at(5*time.Minute, instance{staleStart, 708000, 900 << 20}), nil, "", "a new series (the clock moved back), not a duplicate"},
			{5*time.Minute + 10*time.Second, at(5*time.Minute+10*time.Second, instance{staleStart, 708001, 900 << 20}), read(5*time.Minute+10*time.Second, 10*time.Second, 0.1, 900<<20), "", ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeKubelet(t)
			k := newTestKubelet(t, f, Options{})
			for _, s := range tc.scrapes {
				ts := t0.Add(s.offset)
				f.serve(exposition(append(nodeLines(ts, 1000+s.offset.Seconds(), 6<<30), s.lines...)...))
				r := fetch(t, k, web0)
				if s.want != nil {
					assert.Equal(t, *s.want, r.Pods[web0], "at %v: %s", s.offset, s.comment)
				} else {
					assert.NotContains(t, r.Pods, web0, "at %v: %s", s.offset, s.comment)
				}
				assert.Equal(t, s.reason, usagetest.RejectedAs(r.Rejected)[web0], "at %v: %s", s.offset, s.comment)
			}
		})
	}
}

// Pod-level and node series given twice are as undefined as a container's.
func TestKubeletDuplicatePodAndNodeSeries(t *testing.T) {
	f := newFakeKubelet(t)
	k := newTestKubelet(t, f, Options{})
	scrape := func(offset time.Duration, podCPU float64) string {
		ts := t0.Add(offset)
		pod := `namespace="shop",pod="web-0"`
		return exposition(
			kline{seriesNodeCPU, "", num(100 + offset.Seconds()), ts},
			kline{seriesNodeCPU, "", num(5), ts}, // a second node counter
			kline{seriesNodeMemory, "", num(1 << 30), ts},
			kline{seriesPodCPU, pod, num(podCPU), ts},
			kline{seriesPodCPU, pod, num(1e6), ts}, // the pod twice (recreated under its name)
			kline{seriesPodMemory, pod, num(64 << 20), ts},
		)
	}
	f.serve(scrape(0, 1))
	fetch(t, k, web0)
	f.serve(scrape(10*time.Second, 2))
	r := fetch(t, k, web0)
	assert.Nil(t, r.Node)
	assert.Empty(t, r.Pods)
	assert.Equal(t, map[usage.PodKey]string{{}: usage.RejectDuplicate, web0: usage.RejectDuplicate}, usagetest.RejectedAs(r.Rejected))
}

// Values and timestamps that cannot be true: the owner's reading is
// rejected, never taken as zero or skipped so that a pod's sum looks
// complete without the container.
func TestKubeletRejectsSamplesThatCannotBeTrue(t *testing.T) {
	podA2 := usage.PodKey{Namespace: "ns", Name: "a"}
	good := func(ts time.Time, c1 float64) []kline {
		return append(nodeLines(ts, 100+ts.Sub(t0).Seconds(), 1<<30),
			append(containerLines("ns", "a", "c1", ts, instance{liveStart, c1, 100 << 20}),
				containerLines("ns", "a", "c2", ts, instance{liveStart, 5, 50 << 20})...)...)
	}
	// replace swaps the line of series name (c1's, or the node's) for one
	// with value v at ts.
	replace := func(lines []kline, name, v string, ts time.Time) []kline {
		out := make([]kline, 0, len(lines))
		for _, l := range lines {
			if l.name == name && (l.labels == "" || strings.Contains(l.labels, `container="c1"`)) {
				l.value, l.ts = v, ts
			}
			out = append(out, l)
		}
		return out
	}
	drop := func(lines []kline, name string) []kline {
		out := make([]kline, 0, len(lines))
		for _, l := range lines {
			if l.name != name || !strings.Contains(l.labels, `container="c1"`) {
				out = append(out, l)
			}
		}
		return out
	}
	t1 := t0.Add(10 * time.Second)
	tests := []struct {
		name   string
		second []kline
		owner  usage.PodKey // the zero PodKey: the node
		reason string
	}{
		{"NaN counter", replace(good(t1, 12), seriesContainerCPU, "NaN", t1), podA2, usage.RejectNonFinite},
		{"+Inf working set", replace(good(t1, 12), seriesContainerMem, "+Inf", t1), podA2, usage.RejectNonFinite},
		{"-Inf node counter", replace(good(t1, 12), seriesNodeCPU, "-Inf", t1), usage.PodKey{}, usage.RejectNonFinite},
		{"negative working set", replace(good(t1, 12), seriesContainerMem, "-1", t1), podA2, usage.RejectNegative},
		{"negative node memory", replace(good(t1, 12), seriesNodeMemory, "-1e9", t1), usage.PodKey{}, usage.RejectNegative},
		{"counter beyond any node", replace(good(t1, 12), seriesContainerCPU, "1e300", t1), podA2, usage.RejectOutOfRange},
		{"timestamp 0", replace(good(t1, 12), seriesContainerCPU, "12", time.UnixMilli(0)), podA2, usage.RejectNoTimestamp},
		{"timestamp before the epoch", replace(good(t1, 12), seriesNodeCPU, "110", time.UnixMilli(-5000)), usage.PodKey{}, usage.RejectNoTimestamp},
		{"timestamp in the year 2286", replace(good(t1, 12), seriesContainerCPU, "12", time.UnixMilli(9999999999999)), podA2, usage.RejectFutureTimestamp},
		{"start time in the future", replace(good(t1, 12), seriesContainerStart, num(float64(time.Now().Add(24*time.Hour).Unix())), time.Time{}), podA2, usage.RejectFutureTimestamp},
		{"a container without its working set", drop(good(t1, 12), seriesContainerMem), podA2, usage.RejectMissing},
		{"a container without its counter", drop(good(t1, 12), seriesContainerCPU), podA2, usage.RejectMissing},
		{"a container with only a start time", drop(drop(good(t1, 12), seriesContainerCPU), seriesContainerMem), podA2, usage.RejectMissing},
		{"a node without its working set", func() []kline {
			var out []kline
			for _, l := range good(t1, 12) {
				if l.name != seriesNodeMemory {
					out = append(out, l)
				}
			}
			return out
		}(), usage.PodKey{}, usage.RejectMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeKubelet(t)
			k := newTestKubelet(t, f, Options{})
			f.serve(exposition(good(t0, 10)...))
			fetch(t, k, podA2)
			f.serve(exposition(tc.second...))
			r := fetch(t, k, podA2)
			assert.Equal(t, map[usage.PodKey]string{tc.owner: tc.reason}, usagetest.RejectedAs(r.Rejected))
			if tc.owner == (usage.PodKey{}) {
				assert.Nil(t, r.Node)
				assert.Equal(t, 0.2, r.Pods[podA2].CPUCores, "the pod is fine: 2 core-seconds over 10 s")
			} else {
				assert.NotContains(t, r.Pods, podA2)
				require.NotNil(t, r.Node, "the node is fine")
				assert.Equal(t, 1.0, r.Node.CPUCores)
			}
		})
	}
}

// A pod's working set summed over containers can exceed what an int64
// holds; the old reader turned that into a negative number of bytes.
func TestKubeletPodMemorySumOutOfRange(t *testing.T) {
	f := newFakeKubelet(t)
	k := newTestKubelet(t, f, Options{})
	scrape := func(ts time.Time, cpu float64) string {
		var lines []kline
		for _, name := range []string{"a", "b", "c"} {
			lines = append(lines, containerLines("ns", "big", name, ts, instance{liveStart, cpu, 4e18})...)
		}
		return exposition(append(nodeLines(ts, 1, 1<<30), lines...)...)
	}
	big := usage.PodKey{Namespace: "ns", Name: "big"}
	f.serve(scrape(t0, 1))
	fetch(t, k, big)
	f.serve(scrape(t0.Add(10*time.Second), 2))
	r := fetch(t, k, big)
	assert.NotContains(t, r.Pods, big)
	assert.Equal(t, map[usage.PodKey]string{big: usage.RejectOutOfRange}, usagetest.RejectedAs(r.Rejected))
}

// scrape_error 1: the kubelet could not read its stats. Nothing of the
// answer is vouched for; the counters seen before are kept, so the next
// good scrape has rates over the longer window.
func TestKubeletScrapeErrorGivesNoReadingAndKeepsCounters(t *testing.T) {
	f := newFakeKubelet(t)
	c, _ := kubeletCollector(t, f)
	ctx := context.Background()
	f.serve(scrapeAt(0, 100, 10, 5, 20))
	c.Collect(ctx, wantPods, t0)
	for _, family := range []string{seriesScrapeError, seriesResourceError} {
		f.serve(exposition(kline{family, "", "1", time.Time{}}))
		u, _ := c.Collect(ctx, wantPods, t0.Add(10*time.Second))
		assert.True(t, u.Available)
		assert.Nil(t, u.Node)
		assert.Empty(t, u.Pods)
	}
	assert.Equal(t, map[string]uint64{usage.RejectScrapeError: 2}, usagetest.RejectedOnly(c.Stats()))

	f.serve(scrapeAt(30*time.Second, 130, 17.5, 8.75, 27.5))
	u, _ := c.Collect(ctx, wantPods, t0.Add(30*time.Second))
	require.NotNil(t, u.Node)
	assert.Equal(t, 1.0, u.Node.CPUCores, "30 core-seconds over 30 s")
	assert.Equal(t, 30.0, u.Node.WindowSeconds)
	assert.Equal(t, []string{"ns/a", "ns/b"}, usagetest.PodNames(u))
}

// The Collector's bound applies to the kubelet's rates: a pod cannot use
// more cores than the node has, nor more memory.
func TestKubeletRatesAboveTheNodesCapacity(t *testing.T) {
	f := newFakeKubelet(t)
	c, _ := kubeletCollector(t, f)
	ctx := context.Background()
	scrape := func(offset time.Duration, cpu float64, mem float64) string {
		ts := t0.Add(offset)
		return exposition(append(nodeLines(ts, 1000+offset.Seconds(), 6<<30),
			containerLines("shop", "web-0", "app", ts, instance{liveStart, cpu, mem})...)...)
	}
	f.serve(scrape(0, 10, 1<<30))
	c.Collect(ctx, []usage.PodKey{web0}, t0)
	f.serve(scrape(10*time.Second, 100, 1<<30)) // 9 cores
	u, _ := c.Collect(ctx, []usage.PodKey{web0}, t0.Add(10*time.Second))
	assert.Empty(t, u.Pods)
	require.NotNil(t, u.Node)
	f.serve(scrape(20*time.Second, 101, 40<<30)) // 0.1 cores, 40 GiB
	u, _ = c.Collect(ctx, []usage.PodKey{web0}, t0.Add(20*time.Second))
	assert.Empty(t, u.Pods)
	f.serve(scrape(30*time.Second, 102, 1<<30))
	u, _ = c.Collect(ctx, []usage.PodKey{web0}, t0.Add(30*time.Second))
	assert.Equal(t, []string{"shop/web-0"}, usagetest.PodNames(u))
	assert.InDelta(t, 0.1, u.Pods[0].CPUCores, 1e-9)
	assert.Equal(t, map[string]uint64{usage.RejectCPUAboveCapacity: 1, usage.RejectMemoryAboveCapacity: 1}, usagetest.RejectedOnly(c.Stats()))
}
