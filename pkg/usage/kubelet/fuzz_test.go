package kubelet

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/catops/cli/pkg/hostsample/kubeletsample"
	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/usagetest"
	"github.com/catops/cli/pkg/wire"
)

// fuzzNode is the node of the fuzz tests: 8 cores, 32 GiB.
var fuzzNode = usagetest.Capacity{Cores: 8, Memory: 32 << 30}

// FuzzKubeletScrape reads two kubelet answers in a row, as the kubelet
// source does (Prometheus text, then rates across the two) and through the
// Collector of an 8-core, 32 GiB node: no panic, and every reading sent is
// finite, not negative, not above the node, with a window above zero and a
// sane timestamp. The seeds are in testdata/fuzz/FuzzKubeletScrape too.
func FuzzKubeletScrape(f *testing.F) {
	f.Add(staleScrape(0, 10, true), staleScrape(10*time.Second, 12.5, false))
	f.Add(scrapeAt(0, 100, 10, 5, 20), scrapeAt(10*time.Second, 115, 12.5, 6.25, 22.5))
	f.Add(kubeletText(time.Time{}, 1, 1, []ctr{{"a", "b", "c", 1e300, 1e300, 1}}), kubeletText(t0, 1e308, 1e18, []ctr{{"a", "b", "c", 1e308, 1, 1e300}}))
	f.Add("node_cpu_usage_seconds_total NaN 1\n", "node_cpu_usage_seconds_total +Inf 2\nnode_memory_working_set_bytes -1 2\n")
	pods := []usage.PodKey{web0, podA, podB, {Namespace: "a", Name: "b"}}
	f.Fuzz(func(t *testing.T, first, second string) {
		k := &Source{rates: newRates()}
		bodies := []string{first, second}
		scraped := func(i int) time.Time { return t0.Add(time.Duration(i) * usagetest.Interval) }
		var i int
		src := &usagetest.StubSource{FetchFunc: func(context.Context) (usage.Reading, error) {
			r, err := k.read(strings.NewReader(bodies[i]), scraped(i), "https://kubelet.invalid"+DefaultPath, pods)
			if err == nil {
				// The kubelet source checks timestamps against its own clock.
				usagetest.RequireSourceReading(t, r, pods, scraped(i).Add(usage.MaxClockSkew))
			}
			return r, err
		}}
		c := usage.NewCollector(src, nil, usagetest.Options)
		c.UseNode(usagetest.CachedNode("8", "32Gi"))
		for i = range bodies {
			u, _ := c.Collect(context.Background(), pods, scraped(i))
			usagetest.RequireTrueEvent(t, u, pods, fuzzNode, scraped(i))
		}
	})
}

// FuzzKubeletSummary reads two summaries in a row and adds them to
// readings, as the kubelet source does: no panic; an answer that parses
// keeps only pods asked for, each once; figures go only on readings that
// exist, and a rate only with its counters, never negative; the node's own
// figures are each at most usage.MaxValue, its interfaces named once and
// with both byte counters; the host sample built from them
// (kubeletsample.Sampler, an 8-core 32 GiB Node) has a CPU percent in
// 0-100, memory used within the total, rates not negative, and encodes.
func FuzzKubeletSummary(f *testing.F) {
	f.Add(summaryJSON(summaryPodJSON("ns", "a", "u", t0, 10, 20)), summaryJSON(summaryPodJSON("ns", "a", "u", t0.Add(10*time.Second), 30, 40)))
	f.Add(summaryJSON(summaryPodJSON("ns", "a", "u", t0, 10, 20), summaryPodJSON("ns", "a", "u", t0, 1, 2)), `{"pods":[{"podRef":{"name":"a","namespace":"ns"},"network":{"rxBytes":1}}]}`)
	f.Add(`{"node":{"fs":{"usedBytes":-1}},"pods":[]}`, `{"pods":[{"podRef":{"name":"a","namespace":"ns","uid":"u"},"network":{"time":"2026-03-01T12:00:10Z","rxBytes":1e30,"txBytes":0}}]}`)
	f.Add(`{"node":`+nodeSectionJSON+`,"pods":[]}`, `{"node":{"network":{"interfaces":[{"name":"a","rxBytes":1,"txBytes":1},{"name":"a"}]},"memory":{"rssBytes":18446744073709551615}}}`)
	want := map[usage.PodKey]struct{}{podA: {}, podB: {}}
	node := &corev1.Node{}
	node.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")}
	f.Fuzz(func(t *testing.T, first, second string) {
		n := netRates{last: map[usage.PodKey]netCounter{}}
		host := kubeletsample.New(kubeletsample.Options{}, nil)
		for _, body := range []string{first, second} {
			s, err := parseSummary(strings.NewReader(body), want)
			if err != nil {
				continue
			}
			for k := range s.pods {
				if _, ok := want[k]; !ok {
					t.Fatalf("pod %v kept, not asked for", k)
				}
			}
			stats := s.nodeStats(t0)
			checkNodeStats(t, stats)
			if hs := host.Sample(stats, node, t0); hs != nil {
				checkHostSample(t, *hs)
			}
			node := &wire.ResourceUsage{}
			pods := map[usage.PodKey]wire.ResourceUsage{podA: {Containers: []wire.ContainerUsage{{Name: "app"}}}}
			n.addSummary(s, node, pods, t0.Add(time.Hour))
			if len(pods) != 1 {
				t.Fatalf("readings added: %v", pods)
			}
			if nw := pods[podA].Network; nw != nil {
				for _, r := range []*float64{nw.RxBytesPerSec, nw.TxBytesPerSec} {
					if r != nil && (*r < 0 || math.IsNaN(*r) || math.IsInf(*r, 0)) {
						t.Fatalf("rate %v", *r)
					}
				}
				if (nw.RxBytesPerSec == nil) != (nw.TxBytesPerSec == nil) {
					t.Fatalf("one rate without the other: %+v", nw)
				}
			}
		}
	})
}

// FuzzKubeletCadvisor reads two /metrics/cadvisor answers in a row through
// the CFS filter and parser: no panic; a figure is finite, its throttled
// periods never above its periods, its window above zero.
func FuzzKubeletCadvisor(f *testing.F) {
	f.Add(cadvisorText(t0, map[string][3]float64{"app": {100, 40, 2}}), cadvisorText(t0.Add(10*time.Second), map[string][3]float64{"app": {200, 90, 4}}))
	f.Add("container_cpu_cfs_periods_total{container=\"app\",namespace=\"ns\",pod=\"a\"} 1e308\n", "container_cpu_cfs_throttled_periods_total{container=\"app\",namespace=\"ns\",pod=\"a\"} NaN 5\n")
	f.Fuzz(func(t *testing.T, first, second string) {
		var c cfsState
		for i, body := range []string{first, second} {
			text, err := filterCFS(strings.NewReader(body))
			if err != nil {
				continue
			}
			cur, err := parseCFS(text, t0.Add(time.Duration(i)*10*time.Second))
			if err != nil {
				continue
			}
			for k, th := range c.throttling(cur, t0.Add(time.Hour)) {
				if th.ThrottledPeriods > th.Periods || !(th.WindowSeconds > 0) || math.IsNaN(th.ThrottledSeconds) || math.IsInf(th.ThrottledSeconds, 0) || th.ThrottledSeconds < 0 {
					t.Fatalf("%v: %+v", k, th)
				}
			}
		}
	})
}

// checkNodeStats checks what nodeStats promises: every figure at most
// usage.MaxValue, a filesystem's used not above its capacity, interfaces
// named, once each, with both byte counters.
func checkNodeStats(t *testing.T, n *usage.NodeStats) {
	t.Helper()
	var figures []*uint64
	if c := n.CPU; c != nil {
		figures = append(figures, c.UsageNanoCores, c.UsageCoreNanoSeconds)
	}
	if m := n.Memory; m != nil {
		figures = append(figures, m.AvailableBytes, m.UsageBytes, m.WorkingSetBytes, m.RSSBytes)
	}
	if s := n.Swap; s != nil {
		figures = append(figures, s.SwapUsageBytes, s.SwapAvailableBytes)
	}
	for _, fs := range []*wire.FilesystemUsage{n.Filesystem, n.ImageFilesystem} {
		if fs == nil {
			continue
		}
		figures = append(figures, fs.UsedBytes, fs.CapacityBytes, fs.AvailableBytes, fs.InodesUsed, fs.Inodes)
		if fs.UsedBytes != nil && fs.CapacityBytes != nil && *fs.UsedBytes > *fs.CapacityBytes {
			t.Fatalf("filesystem used above capacity: %+v", fs)
		}
	}
	if nw := n.Network; nw != nil {
		seen := map[string]bool{}
		for _, i := range nw.Interfaces {
			if i.Name == "" || seen[i.Name] || i.RxBytes == nil || i.TxBytes == nil {
				t.Fatalf("interface %+v kept", i)
			}
			seen[i.Name] = true
			figures = append(figures, i.RxBytes, i.TxBytes, i.RxErrors, i.TxErrors)
		}
	}
	for _, v := range figures {
		if v != nil && *v > usage.MaxValue {
			t.Fatalf("figure %d above usage.MaxValue", *v)
		}
	}
}

// checkHostSample checks the host sample of the kubelet source built from
// fuzzed figures.
func checkHostSample(t *testing.T, hs wire.HostSample) {
	t.Helper()
	if p := hs.CPU.UsagePercent; p != nil && (*p < 0 || *p > 100 || math.IsNaN(*p)) {
		t.Fatalf("CPU %v%%", *p)
	}
	if m := hs.Memory; m != nil && (m.UsedBytes > m.TotalBytes || m.AvailableBytes > m.TotalBytes || m.UsedPercent < 0 || m.UsedPercent > 100) {
		t.Fatalf("memory %+v", m)
	}
	for _, i := range hs.Network {
		for _, r := range []*float64{i.RxBytesPerSec, i.TxBytesPerSec} {
			if r != nil && (*r < 0 || math.IsNaN(*r) || math.IsInf(*r, 0)) {
				t.Fatalf("rate %v", *r)
			}
		}
	}
	if _, err := json.Marshal(hs); err != nil {
		t.Fatalf("encode: %v", err)
	}
}
