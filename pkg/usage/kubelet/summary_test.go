package kubelet

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/wire"
)

// summaryPodJSON is one pod of a summary as kubelet v1.37 writes it (with
// the fields the agent skips: cpu, memory, rootfs, logs, process_stats,
// interfaces), its network at ts.
func summaryPodJSON(ns, name, uid string, ts time.Time, rx, tx uint64) string {
	return fmt.Sprintf(`{"podRef":{"name":%q,"namespace":%q,"uid":%q},"startTime":"2026-03-01T11:00:00Z",
 "containers":[{"name":"app","startTime":"2026-03-01T11:00:01Z","cpu":{"time":"2026-03-01T12:00:00Z","usageNanoCores":1000,"usageCoreNanoSeconds":5},
   "memory":{"time":"2026-03-01T12:00:00Z","usageBytes":9,"workingSetBytes":8,"rssBytes":7340032,"pageFaults":1,"majorPageFaults":0},
   "rootfs":{"usedBytes":1},"logs":{"usedBytes":2}},
  {"name":"side","memory":{"workingSetBytes":1}}],
 "cpu":{"usageNanoCores":1},"memory":{"workingSetBytes":1},
 "network":{"time":%q,"name":"eth0","rxBytes":%d,"rxErrors":0,"txBytes":%d,"txErrors":0,"interfaces":[{"name":"eth0","rxBytes":%d,"txBytes":%d}]},
 "volume":[{"time":"2026-03-01T12:00:00Z","availableBytes":100,"capacityBytes":1073741824,"usedBytes":52428800,"inodesFree":1,"inodes":10,"inodesUsed":3,"name":"scratch"},
  {"usedBytes":4096,"capacityBytes":1073741824,"name":"data","pvcRef":{"name":"data-web-0","namespace":%q}}],
 "ephemeral-storage":{"time":"2026-03-01T12:00:00Z","availableBytes":1000,"capacityBytes":107374182400,"usedBytes":52432896,"inodesFree":5,"inodes":9,"inodesUsed":4},
 "process_stats":{"process_count":1}}`, name, ns, uid, ts.Format(time.RFC3339), rx, tx, rx, tx, ns)
}

func summaryJSON(pods ...string) string {
	return `{"node":{"nodeName":"node-a","cpu":{"usageNanoCores":1},"memory":{"workingSetBytes":1},
 "fs":{"availableBytes":60,"capacityBytes":100,"usedBytes":40,"inodesFree":6,"inodes":10,"inodesUsed":4},
 "runtime":{"imageFs":{"availableBytes":70,"capacityBytes":100,"usedBytes":30},"containerFs":{"usedBytes":1}},
 "rlimit":{"maxpid":1}},
 "pods":[` + strings.Join(pods, ",") + `]}`
}

func ptrU(v uint64) *uint64 { return &v }

func TestParseSummaryKeepsOnlyThePodsAskedFor(t *testing.T) {
	want := map[usage.PodKey]struct{}{podA: {}, podB: {}, {Namespace: "ns", Name: "absent"}: {}}
	body := summaryJSON(
		summaryPodJSON("ns", "a", "uid-a", t0, 1000, 2000),
		summaryPodJSON("other", "x", "uid-x", t0, 1, 1), // not asked for
		summaryPodJSON("ns", "b", "uid-b", t0, 5, 6),
		summaryPodJSON("ns", "b", "uid-b2", t0, 7, 8), // listed twice: neither kept
		`{"podRef":{"name":"c","namespace":"ns"}}`,
	)
	s, err := parseSummary(strings.NewReader(body), want)
	require.NoError(t, err)
	assert.Equal(t, []usage.PodKey{podA}, keys(s.pods), "ns/b twice, other/x not asked for, ns/absent not listed")
	assert.Equal(t, map[usage.PodKey]string{podB: "listed twice"}, s.dropped)
	require.NotNil(t, s.node.FS)
	assert.Equal(t, ptrU(40), s.node.FS.UsedBytes)
	assert.Equal(t, ptrU(30), s.node.Runtime.ImageFS.UsedBytes)

	// Sections missing: no figures, no error.
	s, err = parseSummary(strings.NewReader(`{"pods":[{"podRef":{"name":"a","namespace":"ns","uid":"u"}}]}`), want)
	require.NoError(t, err)
	assert.Nil(t, s.node.FS)
	require.Contains(t, s.pods, podA)
	assert.Nil(t, s.pods[podA].Network)
	assert.Nil(t, s.pods[podA].Ephemeral.wire(), "unknown, not zero")

	for _, bad := range []string{``, `[]`, `{"pods":{}}`, `{"pods":[`, `null`, `{"pods":[]} trailing`, `{"pods":[]}]]]`, `{"pods":[]} {"x":1}`, `{"x":[1,{"y":]}`} {
		_, err := parseSummary(strings.NewReader(bad), want)
		assert.Error(t, err, "%q", bad)
	}

	// What the agent does not know is skipped, whatever its shape; a pod
	// entry it cannot read costs that pod only; a node section it cannot
	// read costs the node's figures only.
	s, err = parseSummary(strings.NewReader(`{"future":[1,{"a":[2,{}]},"x"],"node":[1],"n":null,
 "pods":[{"podRef":"x"},{"podRef":{"name":"b","namespace":"ns"},"network":{"rxBytes":"lots"}},`+summaryPodJSON("ns", "a", "u", t0, 1, 2)+`],"later":{"z":true}}`+"\n"), want)
	require.NoError(t, err)
	assert.Equal(t, []usage.PodKey{podA}, keys(s.pods))
	assert.Contains(t, s.dropped[podB], "cannot unmarshal")
	assert.Nil(t, s.node.FS)
}

func keys(m map[usage.PodKey]*summaryPod) []usage.PodKey {
	var out []usage.PodKey
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A large summary (110 pods asked for among 5,000) is read whole, and only
// the pods asked for are kept.
func TestParseSummaryLarge(t *testing.T) {
	want := map[usage.PodKey]struct{}{}
	var pods []string
	for i := range 5000 {
		ns, name := fmt.Sprintf("ns-%d", i%50), fmt.Sprintf("pod-%d", i)
		if i%45 == 0 && len(want) < 110 {
			want[usage.PodKey{Namespace: ns, Name: name}] = struct{}{}
		}
		pods = append(pods, summaryPodJSON(ns, name, fmt.Sprint(i), t0, uint64(i), uint64(i)))
	}
	s, err := parseSummary(strings.NewReader(summaryJSON(pods...)), want)
	require.NoError(t, err)
	assert.Len(t, s.pods, len(want))
}

func TestKubeletSummaryAddsPodAndNodeFigures(t *testing.T) {
	f := newFakeKubelet(t)
	k := newTestKubelet(t, f, Options{Summary: true})
	one := []ctr{{"ns", "a", "app", 10, 100e6, ctrStart}, {"ns", "a", "side", 1, 1e6, ctrStart}}
	f.serve(kubeletText(t0, 100, 1e9, one))
	f.serveSummary(summaryJSON(summaryPodJSON("ns", "a", "uid-a", t0, 1000, 2000)), http.StatusOK)
	r := fetch(t, k, podA)
	assert.Equal(t, 2, r.KubeletRequests, "the resource metrics and the summary")
	assert.Empty(t, r.Pods, "no CPU rate yet: the summary's figures wait for a reading")

	two := []ctr{{"ns", "a", "app", 12, 100e6, ctrStart}, {"ns", "a", "side", 1, 1e6, ctrStart}}
	f.serve(kubeletText(t0.Add(10*time.Second), 101, 1e9, two))
	f.serveSummary(summaryJSON(summaryPodJSON("ns", "a", "uid-a", t0.Add(10*time.Second), 6000, 2500)), http.StatusOK)
	r = fetch(t, k, podA)
	require.Contains(t, r.Pods, podA)
	u := r.Pods[podA]
	rx, tx := 500.0, 50.0
	assert.Equal(t, &wire.NetworkUsage{RxBytes: 6000, TxBytes: 2500, RxBytesPerSec: &rx, TxBytesPerSec: &tx}, u.Network)
	assert.Equal(t, &wire.FilesystemUsage{UsedBytes: ptrU(52432896), CapacityBytes: ptrU(100 << 30), AvailableBytes: ptrU(1000), InodesUsed: ptrU(4), Inodes: ptrU(9)}, u.EphemeralStorage)
	assert.Equal(t, []wire.VolumeUsage{
		{Name: "data", PVC: "data-web-0", FilesystemUsage: wire.FilesystemUsage{UsedBytes: ptrU(4096), CapacityBytes: ptrU(1 << 30)}},
		{Name: "scratch", FilesystemUsage: wire.FilesystemUsage{UsedBytes: ptrU(50 << 20), CapacityBytes: ptrU(1 << 30), AvailableBytes: ptrU(100), InodesUsed: ptrU(3), Inodes: ptrU(10)}},
	}, u.Volumes, "sorted by name, the PVC named")
	require.Len(t, u.Containers, 2)
	assert.Equal(t, ptrU(7<<20), u.Containers[0].MemoryRSSBytes, "app's RSS")
	assert.Nil(t, u.Containers[1].MemoryRSSBytes, "side has no RSS in the summary: unknown")
	require.NotNil(t, r.Node)
	assert.Equal(t, &wire.FilesystemUsage{UsedBytes: ptrU(40), CapacityBytes: ptrU(100), AvailableBytes: ptrU(60), InodesUsed: ptrU(4), Inodes: ptrU(10)}, r.Node.Filesystem)
	assert.Equal(t, &wire.FilesystemUsage{UsedBytes: ptrU(30), CapacityBytes: ptrU(100), AvailableBytes: ptrU(70)}, r.Node.ImageFilesystem)
	_, paths := f.seen()
	assert.Equal(t, []string{DefaultPath, SummaryPath, DefaultPath, SummaryPath}, paths)

	// The pod recreated under the same name (a new UID): counters, no rate.
	three := []ctr{{"ns", "a", "app", 13, 100e6, ctrStart}, {"ns", "a", "side", 1, 1e6, ctrStart}}
	f.serve(kubeletText(t0.Add(20*time.Second), 102, 1e9, three))
	f.serveSummary(summaryJSON(summaryPodJSON("ns", "a", "uid-new", t0.Add(20*time.Second), 7000, 3000)), http.StatusOK)
	r = fetch(t, k, podA)
	require.Contains(t, r.Pods, podA)
	assert.Equal(t, &wire.NetworkUsage{RxBytes: 7000, TxBytes: 3000}, r.Pods[podA].Network)
}

// Without nodes/stats the summary read fails: the usage readings go out
// without its figures, one warning says what to grant, and the figures
// come back once the read works.
func TestKubeletSummaryDeniedKeepsTheReadings(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	f := newFakeKubelet(t)
	now := t0
	k := newTestKubelet(t, f, Options{Summary: true, Logger: zap.New(core), Now: func() time.Time { return now }})
	f.serveSummary("", http.StatusForbidden)
	scrape := func(i int) usage.Reading {
		now = t0.Add(time.Duration(i) * 10 * time.Second)
		f.serve(kubeletText(now, 100+float64(i), 1e9, []ctr{{"ns", "a", "app", 10 + float64(i), 100e6, ctrStart}}))
		return fetch(t, k, podA)
	}
	r := scrape(0)
	assert.Equal(t, 1, r.Errors, "the summary read failed, not the fetch")
	assert.Equal(t, 2, r.KubeletRequests)
	warns := logs.FilterMessageSnippet("Cannot read the kubelet summary").All()
	require.Len(t, warns, 1)
	assert.Contains(t, fmt.Sprint(warns[0].ContextMap()["error"]), "grant the agent's ServiceAccount get on nodes/stats")
	assert.Contains(t, warns[0].ContextMap()["fix"], "nodes/stats")
	assert.Equal(t, "kubelet access denied", warns[0].ContextMap()["reason"])

	// Refused: not asked again for 5 minutes (each refusal costs the
	// kubelet an access review); the readings go out without its figures.
	for i := 1; i < 30; i++ {
		r = scrape(i)
		require.Contains(t, r.Pods, podA, "scrape %d", i)
		assert.Nil(t, r.Pods[podA].Network)
		assert.Equal(t, 1, r.KubeletRequests, "scrape %d: the resource metrics only", i)
		assert.Zero(t, r.Errors)
	}
	r = scrape(30) // 5 minutes later: asked again, refused again, not warned again
	assert.Equal(t, 2, r.KubeletRequests)
	assert.Equal(t, 1, r.Errors)
	assert.Len(t, logs.FilterMessageSnippet("Cannot read the kubelet summary").All(), 1, "warned once per reason")

	f.serveSummary(summaryJSON(summaryPodJSON("ns", "a", "uid-a", t0.Add(600*time.Second), 1, 2)), http.StatusOK)
	r = scrape(60)
	assert.Zero(t, r.Errors)
	require.Contains(t, r.Pods, podA)
	assert.Equal(t, &wire.NetworkUsage{RxBytes: 1, TxBytes: 2}, r.Pods[podA].Network)
	assert.Len(t, logs.FilterMessage("Reading the kubelet summary again").All(), 1)
}

// The summary's figures that cannot be true are unknown: a network time
// missing, at the epoch or ahead of the clock gives counters but no rate
// (not a rate over decades); a figure beyond usage.MaxValue, or used above
// capacity, is left out.
func TestKubeletSummaryFiguresThatCannotBeTrue(t *testing.T) {
	want := map[usage.PodKey]struct{}{podA: {}}
	read := func(n *netRates, body string) wire.ResourceUsage {
		t.Helper()
		s, err := parseSummary(strings.NewReader(body), want)
		require.NoError(t, err)
		pods := map[usage.PodKey]wire.ResourceUsage{podA: {}}
		n.addSummary(s, nil, pods, t0.Add(time.Minute))
		return pods[podA]
	}
	for name, times := range map[string][2]string{
		"no time then a time":     {`"0001-01-01T00:00:00Z"`, `"2026-03-01T12:00:10Z"`},
		"the epoch then a time":   {`"1970-01-01T00:00:00Z"`, `"2026-03-01T12:00:10Z"`},
		"a time then the future":  {`"2026-03-01T12:00:00Z"`, `"2026-03-11T12:00:00Z"`},
		"the future then a time":  {`"2026-03-11T12:00:00Z"`, `"2026-03-01T12:00:10Z"`},
		"a time, the same again":  {`"2026-03-01T12:00:00Z"`, `"2026-03-01T12:00:00Z"`},
		"a time, then an earlier": {`"2026-03-01T12:00:10Z"`, `"2026-03-01T12:00:00Z"`},
	} {
		t.Run(name, func(t *testing.T) {
			n := &netRates{last: map[usage.PodKey]netCounter{}}
			pod := func(ts string, rx uint64) string {
				return summaryJSON(fmt.Sprintf(`{"podRef":{"name":"a","namespace":"ns","uid":"u"},"network":{"time":%s,"rxBytes":%d,"txBytes":%d}}`, ts, rx, rx))
			}
			read(n, pod(times[0], 1000))
			u := read(n, pod(times[1], 2000))
			assert.Equal(t, &wire.NetworkUsage{RxBytes: 2000, TxBytes: 2000}, u.Network, "counters, no rate")
		})
	}
	n := &netRates{last: map[usage.PodKey]netCounter{}}
	u := read(n, summaryJSON(`{"podRef":{"name":"a","namespace":"ns","uid":"u"},
 "network":{"time":"2026-03-01T12:00:00Z","rxBytes":18446744073709551615,"txBytes":1},
 "ephemeral-storage":{"usedBytes":300,"capacityBytes":200,"availableBytes":0,"inodesUsed":1,"inodes":10},
 "volume":[{"name":"v","usedBytes":18446744073709551615,"capacityBytes":100}],
 "containers":[{"name":"app","memory":{"rssBytes":18446744073709551615}}]}`))
	assert.Nil(t, u.Network, "rx beyond any counter: the pod's network is unknown")
	assert.Equal(t, &wire.FilesystemUsage{InodesUsed: ptrU(1), Inodes: ptrU(10)}, u.EphemeralStorage, "used above capacity: the byte figures are unknown")
	assert.Equal(t, []wire.VolumeUsage{{Name: "v", FilesystemUsage: wire.FilesystemUsage{CapacityBytes: ptrU(100)}}}, u.Volumes)
}

func TestSummaryURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://10.0.0.5:10250/metrics/resource":                            "https://10.0.0.5:10250/stats/summary",
		"https://api.example:6443/api/v1/nodes/n1/proxy/metrics/resource":    "https://api.example:6443/api/v1/nodes/n1/proxy/stats/summary",
		"https://127.0.0.1:10250/metrics/nodes/kwok-node-1/metrics/resource": "https://127.0.0.1:10250/metrics/nodes/kwok-node-1/stats/summary",
		"https://10.0.0.5:10250/custom":                                      "https://10.0.0.5:10250/stats/summary",
	} {
		got, err := summaryURL(in)
		require.NoError(t, err)
		assert.Equal(t, want, got, in)
	}
}

// A 404 (a kubelet without the Summary API) says to turn the summary off.
func TestKubeletSummaryNotServed(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	f := newFakeKubelet(t)
	k := newTestKubelet(t, f, Options{Summary: true, Logger: zap.New(core)})
	f.serve(kubeletText(t0, 100, 1e9, nil))
	fetch(t, k, podA)
	warns := logs.FilterMessageSnippet("Cannot read the kubelet summary").All()
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0].ContextMap()["fix"], "CATOPS_KUBELET_SUMMARY=false")
	assert.Contains(t, fmt.Sprint(warns[0].ContextMap()["error"]), "has no summary there (HTTP 404)")
}

// nodeSectionJSON is a summary's node section as kubelet v1.37 writes it,
// the parts the host sample does not use included (systemContainers,
// rlimit, the default interface's copy, pageFaults).
const nodeSectionJSON = `{"nodeName":"node-a","startTime":"2026-02-28T12:00:00Z",
 "systemContainers":[{"name":"kubelet","startTime":"2026-02-28T12:00:05Z","cpu":{"usageNanoCores":5}}],
 "cpu":{"time":"2026-03-01T11:59:58Z","usageNanoCores":1300000000,"usageCoreNanoSeconds":90000000000000},
 "memory":{"time":"2026-03-01T11:59:58Z","availableBytes":10737418240,"usageBytes":8589934592,"workingSetBytes":6442450944,"rssBytes":3221225472,"pageFaults":100,"majorPageFaults":1},
 "swap":{"time":"2026-03-01T11:59:58Z","swapAvailableBytes":2146435072,"swapUsageBytes":1048576},
 "network":{"time":"2026-03-01T11:59:58Z","name":"eth0","rxBytes":5,"rxErrors":0,"txBytes":6,"txErrors":0,
  "interfaces":[{"name":"eth0","rxBytes":5,"rxErrors":0,"txBytes":6,"txErrors":0},{"name":"cni0","rxBytes":7,"rxErrors":1,"txBytes":8,"txErrors":2}]},
 "fs":{"time":"2026-03-01T11:59:58Z","availableBytes":60,"capacityBytes":100,"usedBytes":40,"inodesFree":6,"inodes":10,"inodesUsed":4},
 "runtime":{"imageFs":{"availableBytes":60,"capacityBytes":100,"usedBytes":12,"inodesUsed":3},"containerFs":{"usedBytes":1}},
 "rlimit":{"time":"2026-03-01T11:59:58Z","maxpid":4194304,"curproc":300}}`

func TestParseSummaryNodeStats(t *testing.T) {
	at := func(s string) time.Time { v, err := time.Parse(time.RFC3339, s); require.NoError(t, err); return v }
	read := t0.Add(time.Second)
	stats := func(t *testing.T, node string) *usage.NodeStats {
		t.Helper()
		s, err := parseSummary(strings.NewReader(`{"node":`+node+`,"pods":[`+summaryPodJSON("ns", "a", "u", t0, 1, 2)+`]}`), map[usage.PodKey]struct{}{podA: {}})
		require.NoError(t, err)
		require.Contains(t, s.pods, podA, "the pods count whatever the node section holds")
		return s.nodeStats(read)
	}

	got := stats(t, nodeSectionJSON)
	sampled := at("2026-03-01T11:59:58Z")
	assert.Equal(t, &usage.NodeStats{
		Read:     read,
		BootTime: at("2026-02-28T12:00:00Z"),
		CPU:      &usage.NodeCPU{Time: sampled, UsageNanoCores: ptrU(1.3e9), UsageCoreNanoSeconds: ptrU(9e13)},
		Memory: &usage.NodeMemory{Time: sampled, AvailableBytes: ptrU(10 << 30), UsageBytes: ptrU(8 << 30),
			WorkingSetBytes: ptrU(6 << 30), RSSBytes: ptrU(3 << 30)},
		Swap: &usage.NodeSwap{Time: sampled, SwapUsageBytes: ptrU(1 << 20), SwapAvailableBytes: ptrU(2<<30 - 1<<20)},
		Network: &usage.NodeNetwork{Time: sampled, Interfaces: []usage.NodeInterface{
			{Name: "eth0", RxBytes: ptrU(5), TxBytes: ptrU(6), RxErrors: ptrU(0), TxErrors: ptrU(0)},
			{Name: "cni0", RxBytes: ptrU(7), TxBytes: ptrU(8), RxErrors: ptrU(1), TxErrors: ptrU(2)},
		}},
		Filesystem:      &wire.FilesystemUsage{UsedBytes: ptrU(40), CapacityBytes: ptrU(100), AvailableBytes: ptrU(60), InodesUsed: ptrU(4), Inodes: ptrU(10)},
		ImageFilesystem: &wire.FilesystemUsage{UsedBytes: ptrU(12), CapacityBytes: ptrU(100), AvailableBytes: ptrU(60), InodesUsed: ptrU(3)},
	}, got)

	// Each part may be missing (an older kubelet has no swap, a kubelet
	// without its stats yet has only the node's name): nil, unknown.
	got = stats(t, `{"nodeName":"node-a"}`)
	assert.Equal(t, &usage.NodeStats{Read: read}, got)
	got = stats(t, `{"cpu":{"time":"2026-03-01T11:59:58Z"},"memory":{},"network":{"interfaces":[]},"swap":{"swapUsageBytes":0},"runtime":{}}`)
	assert.Equal(t, &usage.NodeStats{Read: read, CPU: &usage.NodeCPU{Time: sampled}, Memory: &usage.NodeMemory{},
		Network: &usage.NodeNetwork{}, Swap: &usage.NodeSwap{SwapUsageBytes: ptrU(0)}}, got)

	// A figure of the wrong type: the host part of the node section is
	// unknown, all of it; the filesystems decode apart and stay.
	for _, bad := range []string{
		`{"cpu":{"usageNanoCores":-1},"fs":{"usedBytes":1}}`,
		`{"memory":{"availableBytes":"lots"},"fs":{"usedBytes":1}}`,
		`{"startTime":"yesterday","fs":{"usedBytes":1}}`,
		`{"network":{"interfaces":{"name":"eth0"}},"fs":{"usedBytes":1}}`,
		`{"swap":[1],"fs":{"usedBytes":1}}`,
	} {
		assert.Equal(t, &usage.NodeStats{Read: read, Filesystem: &wire.FilesystemUsage{UsedBytes: ptrU(1)}}, stats(t, bad), "%s", bad)
	}
	assert.Equal(t, &usage.NodeStats{Read: read}, stats(t, `{"cpu":{"usageNanoCores":1.5e9}}`))

	// Figures that cannot be true (above 2^62; used above capacity) are
	// unknown; an interface without a name, listed twice or with a byte
	// counter that cannot be true is left out, one with such an error
	// counter keeps its bytes.
	got = stats(t, `{"cpu":{"usageNanoCores":4611686018427387905,"usageCoreNanoSeconds":18446744073709551615},
 "memory":{"availableBytes":18446744073709551615,"workingSetBytes":4611686018427387904},
 "swap":{"swapUsageBytes":9223372036854775808,"swapAvailableBytes":1},
 "network":{"time":"2026-03-01T11:59:58Z","interfaces":[{"rxBytes":1,"txBytes":1},{"name":"eth1","rxBytes":1,"txBytes":1},{"name":"eth1","rxBytes":2,"txBytes":2},
  {"name":"ens5","rxBytes":18446744073709551615,"txBytes":1},{"name":"ens6","rxBytes":1},{"name":"eth0","rxBytes":3,"txBytes":4,"rxErrors":18446744073709551615,"txErrors":9}]},
 "fs":{"usedBytes":300,"capacityBytes":200,"availableBytes":0,"inodesUsed":11,"inodes":10},
 "runtime":{"imageFs":{"usedBytes":18446744073709551615}}}`)
	assert.Equal(t, &usage.NodeCPU{}, got.CPU)
	assert.Equal(t, &usage.NodeMemory{WorkingSetBytes: ptrU(usage.MaxValue)}, got.Memory, "2^62 itself can be true")
	assert.Equal(t, &usage.NodeSwap{SwapAvailableBytes: ptrU(1)}, got.Swap)
	assert.Equal(t, []usage.NodeInterface{{Name: "eth0", RxBytes: ptrU(3), TxBytes: ptrU(4), TxErrors: ptrU(9)}}, got.Network.Interfaces)
	assert.Nil(t, got.Filesystem, "used above capacity, inodes used above inodes: nothing left")
	assert.Nil(t, got.ImageFilesystem)
}

func TestKubeletSummaryNodeStats(t *testing.T) {
	f := newFakeKubelet(t)
	now := t0
	k := newTestKubelet(t, f, Options{Summary: true, NodeStats: true, Now: func() time.Time { return now }})
	one := []ctr{{"ns", "a", "app", 10, 100e6, ctrStart}}
	f.serve(kubeletText(t0, 100, 1e9, one))
	f.serveSummary(`{"node":`+nodeSectionJSON+`,"pods":[]}`, http.StatusOK)
	r := fetch(t, k, podA)
	assert.Equal(t, 2, r.KubeletRequests, "the node's figures come with the summary read, no request of their own")
	require.NotNil(t, r.NodeStats, "on the first read too: the summary needs no second one")
	assert.Equal(t, t0, r.NodeStats.Read)
	assert.Equal(t, ptrU(1.3e9), r.NodeStats.CPU.UsageNanoCores)
	assert.Nil(t, r.Node, "no CPU rate of /metrics/resource yet")

	// Without the option, the same read keeps nothing of the node's own.
	plain := newTestKubelet(t, f, Options{Summary: true})
	assert.Nil(t, fetch(t, plain, podA).NodeStats)

	// A summary that cannot be read: no node figures this time.
	now = t0.Add(10 * time.Second)
	f.serve(kubeletText(now, 101, 1e9, one))
	f.serveSummary("", http.StatusForbidden)
	r = fetch(t, k, podA)
	assert.Equal(t, 1, r.Errors)
	assert.Nil(t, r.NodeStats)

	_, err := New(f.restConfig(), Options{URL: f.url(), NodeStats: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set Summary too")
}

// A figure of the wrong type in the node section costs only its part: the
// host figures and the filesystems decode apart.
func TestParseSummaryNodePartsDecodeApart(t *testing.T) {
	const fs = `"fs":{"capacityBytes":100,"usedBytes":10},"runtime":{"imageFs":{"capacityBytes":100,"usedBytes":5}}`
	const host = `"cpu":{"time":"2026-11-30T10:00:00Z","usageNanoCores":%s},"memory":{"availableBytes":%s}`
	for _, tc := range []struct {
		name             string
		body             string
		wantFS, wantHost bool
	}{
		{"both good", `{"node":{` + fmt.Sprintf(host, "5", "7") + `,` + fs + `},"pods":[]}`, true, true},
		{"bad CPU figure", `{"node":{` + fmt.Sprintf(host, "-1", "7") + `,` + fs + `},"pods":[]}`, true, false},
		{"bad memory figure", `{"node":{` + fmt.Sprintf(host, "5", `"lots"`) + `,` + fs + `},"pods":[]}`, true, false},
		{"bad filesystem figure", `{"node":{` + fmt.Sprintf(host, "5", "7") + `,"fs":{"capacityBytes":"big"}},"pods":[]}`, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseSummary(strings.NewReader(tc.body), map[usage.PodKey]struct{}{})
			require.NoError(t, err)
			assert.Equal(t, tc.wantFS, s.node.FS != nil, "filesystem")
			assert.Equal(t, tc.wantHost, s.node.CPU != nil, "CPU")
		})
	}
}
