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
