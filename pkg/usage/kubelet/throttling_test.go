package kubelet

import (
	"context"
	"fmt"
	"io"
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

// cadvisorText is /metrics/cadvisor as kubelet v1.37 writes it, cut down:
// other families (with long lines) around the CFS ones, the pod's and the
// sandbox's cgroups, and one limited container per entry of cfs
// (periods, throttled periods, throttled seconds) at ts.
func cadvisorText(ts time.Time, cfs map[string][3]float64) string {
	var b strings.Builder
	stamp := fmt.Sprintf(" %d", ts.UnixMilli())
	b.WriteString("# HELP cadvisor_version_info A metric with a constant '1' value labeled by kernel version.\n# TYPE cadvisor_version_info gauge\n")
	b.WriteString(`cadvisor_version_info{cadvisorRevision="",cadvisorVersion="",dockerVersion="",kernelVersion="6.1",osVersion="Debian"} 1` + "\n")
	b.WriteString("# HELP container_blkio_device_usage_total Blkio Device bytes usage\n# TYPE container_blkio_device_usage_total counter\n")
	b.WriteString(`container_blkio_device_usage_total{container="",device="/dev/vda",id="/kubepods/burstable/pod1",image="",major="254",minor="0",name="",namespace="",operation="Read",pod=""} 4096` + stamp + "\n")
	b.WriteString("container_fs_long_line{" + strings.Repeat(`x="y",`, 20000) + `z="w"} 1` + "\n")
	for i, fam := range []string{seriesCFSPeriods, seriesCFSThrottledPeriods, seriesCFSThrottledSeconds} {
		fmt.Fprintf(&b, "# HELP %s test\n# TYPE %s counter\n", fam, fam)
		fmt.Fprintf(&b, `%s{container="",id="/kubepods/burstable/podu",image="",name="",namespace="ns",pod="a"} 999%s`+"\n", fam, stamp)
		fmt.Fprintf(&b, `%s{container="POD",id="/kubepods/burstable/podu/s",image="pause",name="s",namespace="ns",pod="a"} 999%s`+"\n", fam, stamp)
		for name, v := range cfs {
			fmt.Fprintf(&b, `%s{container=%q,id="/kubepods/burstable/podu/c",image="box",name="c",namespace="ns",pod="a"} %g%s`+"\n", fam, name, v[i], stamp)
		}
	}
	b.WriteString("# HELP container_cpu_load_average_10s Value of container cpu load average over the last 10 seconds.\n# TYPE container_cpu_load_average_10s gauge\n")
	b.WriteString(`container_cpu_load_average_10s{container="app",namespace="ns",pod="a"} 0` + stamp + "\n")
	return b.String()
}

func TestFilterCFSKeepsOnlyTheCFSLines(t *testing.T) {
	text := cadvisorText(t0, map[string][3]float64{"app": {100, 40, 2.5}})
	got, err := filterCFS(strings.NewReader(text))
	require.NoError(t, err)
	assert.Less(t, len(got), len(text)/50, "a small part of the answer is kept")
	for _, l := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		assert.Contains(t, l, "container_cpu_cfs_", "kept: %q", l)
	}
	// No final newline, a CRLF-free last line: still kept.
	got, err = filterCFS(strings.NewReader(`container_cpu_cfs_periods_total{container="app",namespace="ns",pod="a"} 1`))
	require.NoError(t, err)
	assert.Equal(t, "container_cpu_cfs_periods_total{container=\"app\",namespace=\"ns\",pod=\"a\"} 1\n", string(got))
	// A family whose name only starts like one is not kept.
	got, err = filterCFS(strings.NewReader("container_cpu_cfs_periods_total_extra 1\n"))
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestKubeletThrottlingPerContainer(t *testing.T) {
	f := newFakeKubelet(t)
	now := t0
	k := newTestKubelet(t, f, Options{Throttling: true, Now: func() time.Time { return now }})
	ctrs := func(cpu float64) []ctr {
		return []ctr{{"ns", "a", "app", cpu, 100e6, ctrStart}, {"ns", "a", "free", cpu, 1e6, ctrStart}}
	}
	f.serve(kubeletText(t0, 100, 1e9, ctrs(10)))
	f.serveCadvisor(cadvisorText(t0, map[string][3]float64{"app": {1000, 400, 20}}), http.StatusOK)
	r := fetch(t, k, podA)
	assert.Equal(t, 2, r.KubeletRequests, "resource metrics and cAdvisor")

	now = t0.Add(10 * time.Second)
	f.serve(kubeletText(now, 101, 1e9, ctrs(12)))
	f.serveCadvisor(cadvisorText(now, map[string][3]float64{"app": {1100, 490, 24.5}}), http.StatusOK)
	r = fetch(t, k, podA)
	require.Contains(t, r.Pods, podA)
	cs := r.Pods[podA].Containers
	require.Len(t, cs, 2)
	assert.Equal(t, &wire.CPUThrottling{Periods: 100, ThrottledPeriods: 90, ThrottledSeconds: 4.5, WindowSeconds: 10}, cs[0].Throttling, "app: 90 of 100 periods")
	assert.Nil(t, cs[1].Throttling, "free has no CPU limit: no CFS series, no figure")
	assert.Zero(t, r.Errors)

	// The container restarted: its counters start again; no figure this
	// time, not a negative one.
	now = t0.Add(20 * time.Second)
	f.serve(kubeletText(now, 102, 1e9, ctrs(13)))
	f.serveCadvisor(cadvisorText(now, map[string][3]float64{"app": {5, 1, 0.01}}), http.StatusOK)
	r = fetch(t, k, podA)
	require.Contains(t, r.Pods, podA)
	assert.Nil(t, r.Pods[podA].Containers[0].Throttling)
}

func TestCFSFiguresThatCannotBeTrue(t *testing.T) {
	k := containerKey{podA, "app"}
	for name, pair := range map[string][2]cfsSample{
		"throttled above periods": {{periods: 10, throttled: 0, seconds: 0, at: t0}, {periods: 20, throttled: 15, seconds: 1, at: t0.Add(10 * time.Second)}},
		"time did not move":       {{periods: 10, throttled: 0, seconds: 0, at: t0}, {periods: 20, throttled: 5, seconds: 1, at: t0}},
		"seconds went down":       {{periods: 10, throttled: 0, seconds: 5, at: t0}, {periods: 20, throttled: 5, seconds: 1, at: t0.Add(10 * time.Second)}},
		"a time in the future":    {{periods: 10, throttled: 0, seconds: 0, at: t0}, {periods: 20, throttled: 5, seconds: 1, at: t0.Add(time.Hour)}},
		"no time":                 {{periods: 10, throttled: 0, seconds: 0}, {periods: 20, throttled: 5, seconds: 1, at: t0.Add(10 * time.Second)}},
	} {
		t.Run(name, func(t *testing.T) {
			c := cfsState{}
			for i := range pair {
				pair[i].has = [3]bool{true, true, true}
			}
			c.throttling(one(k, pair[0]), t0.Add(time.Minute))
			assert.Empty(t, c.throttling(one(k, pair[1]), t0.Add(time.Minute)))
		})
	}
	// A series missing: no figure.
	c := cfsState{}
	s := cfsSample{periods: 10, at: t0, has: [3]bool{true, false, true}}
	c.throttling(one(k, s), t0.Add(time.Minute))
	s.at = t0.Add(10 * time.Second)
	assert.Empty(t, c.throttling(one(k, s), t0.Add(time.Minute)))

	// Values that are no counters are left out while parsing.
	got, err := parseCFS([]byte(`container_cpu_cfs_periods_total{container="app",namespace="ns",pod="a"} NaN
container_cpu_cfs_throttled_periods_total{container="app",namespace="ns",pod="a"} -1
container_cpu_cfs_throttled_seconds_total{container="app",namespace="ns",pod="a"} 1e300
`), t0)
	require.NoError(t, err)
	assert.Empty(t, got)
}

// Only pods asked for get figures, and only containers with a reading.
func TestAddThrottlingOnlyOnReadings(t *testing.T) {
	th := map[containerKey]wire.CPUThrottling{
		{podA, "app"}:  {Periods: 10, ThrottledPeriods: 1, WindowSeconds: 10},
		{podA, "gone"}: {Periods: 10},
		{podB, "main"}: {Periods: 10},
	}
	pods := map[usage.PodKey]wire.ResourceUsage{podA: {Containers: []wire.ContainerUsage{{Name: "app"}, {Name: "other"}}}}
	orig := pods[podA].Containers
	addThrottling(th, pods)
	assert.Equal(t, &wire.CPUThrottling{Periods: 10, ThrottledPeriods: 1, WindowSeconds: 10}, pods[podA].Containers[0].Throttling)
	assert.Nil(t, pods[podA].Containers[1].Throttling)
	assert.Nil(t, orig[0].Throttling, "the reading's slice is copied, not changed in place")
	assert.NotContains(t, pods, podB)
}

func one(k containerKey, s cfsSample) map[containerKey]map[string]cfsSample {
	return map[containerKey]map[string]cfsSample{k: {s.id: s}}
}

// A restart is a new cgroup (a new container ID): no figure across it, even
// when the new container's counters already exceed the old one's; while
// both cgroups are listed, the one read before is taken, and with none read
// before, neither.
func TestCFSAcrossRestarts(t *testing.T) {
	k := containerKey{podA, "app"}
	all := [3]bool{true, true, true}
	old := cfsSample{id: "/kubepods/podu/old", periods: 100, throttled: 10, seconds: 1, at: t0, has: all}
	newer := cfsSample{id: "/kubepods/podu/new", periods: 150, throttled: 40, seconds: 3, at: t0.Add(10 * time.Second), has: all}
	c := cfsState{}
	c.throttling(one(k, old), t0.Add(time.Minute))
	assert.Empty(t, c.throttling(one(k, newer), t0.Add(time.Minute)), "a new cgroup: no figure")
	newer2 := newer
	newer2.periods, newer2.throttled, newer2.seconds, newer2.at = 250, 60, 4, t0.Add(20*time.Second)
	assert.Equal(t, map[containerKey]wire.CPUThrottling{k: {Periods: 100, ThrottledPeriods: 20, ThrottledSeconds: 1, WindowSeconds: 10}},
		c.throttling(one(k, newer2), t0.Add(time.Minute)), "then its own figures")

	// Both listed: the one read last time wins, whichever order.
	c = cfsState{}
	c.throttling(one(k, old), t0.Add(time.Minute))
	old2 := old
	old2.periods, old2.throttled, old2.at = 120, 15, t0.Add(10*time.Second)
	both := map[containerKey]map[string]cfsSample{k: {old2.id: old2, newer.id: newer}}
	assert.Equal(t, map[containerKey]wire.CPUThrottling{k: {Periods: 20, ThrottledPeriods: 5, ThrottledSeconds: 0, WindowSeconds: 10}},
		c.throttling(both, t0.Add(time.Minute)))
	// Both listed and neither read before: unknown.
	c = cfsState{}
	c.throttling(both, t0.Add(time.Minute))
	assert.Empty(t, c.last, "no baseline: which cgroup is live cannot be told")
}

// Blanks and tabs where the text format allows them, CRLF line ends.
func TestFilterCFSSeparators(t *testing.T) {
	got, err := filterCFS(strings.NewReader("#  TYPE\tcontainer_cpu_cfs_periods_total counter\r\ncontainer_cpu_cfs_periods_total\t{container=\"app\",namespace=\"ns\",pod=\"a\"} 7\r\n# HELP other x\n"))
	require.NoError(t, err)
	assert.Equal(t, "#  TYPE\tcontainer_cpu_cfs_periods_total counter\ncontainer_cpu_cfs_periods_total\t{container=\"app\",namespace=\"ns\",pod=\"a\"} 7\n", string(got))
	parsed, err := parseCFS(got, t0)
	require.NoError(t, err)
	assert.Len(t, parsed, 1)
}

// A failed cAdvisor read costs only the throttling figures, is warned about
// once with the right fix, and is held off after a refusal.
func TestKubeletCadvisorNotServed(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	f := newFakeKubelet(t)
	now := t0
	k := newTestKubelet(t, f, Options{Throttling: true, Logger: zap.New(core), Now: func() time.Time { return now }})
	f.serve(kubeletText(t0, 100, 1e9, nil))
	r := fetch(t, k, podA)
	assert.Equal(t, 1, r.Errors)
	warns := logs.FilterMessageSnippet("Cannot read the kubelet's cAdvisor metrics").All()
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0].ContextMap()["fix"], "CATOPS_THROTTLING_SOURCE=cgroup")
	now = t0.Add(time.Minute)
	r = fetch(t, k, podA)
	assert.Equal(t, 1, r.KubeletRequests, "held off for 5 minutes")
	assert.Zero(t, r.Errors)
}

// An answer longer than its bound is not used at all, whichever endpoint:
// a cut answer would look whole (a cAdvisor text cut after the periods
// series would give no throttled periods at all).
func TestKubeletAnswerLongerThanItsBoundIsNotUsed(t *testing.T) {
	defer func(b, c, t int64) { maxBody, maxCadvisor, maxCFSText = b, c, t }(maxBody, maxCadvisor, maxCFSText)
	f := newFakeKubelet(t)
	now := t0
	k := newTestKubelet(t, f, Options{Throttling: true, Now: func() time.Time { return now }})
	resource := kubeletText(t0, 100, 1e9, []ctr{{"ns", "a", "app", 10, 100e6, ctrStart}})
	cadvisor := cadvisorText(t0, map[string][3]float64{"app": {1000, 400, 20}})
	f.serve(resource)
	f.serveCadvisor(cadvisor, http.StatusOK)

	maxBody, maxCadvisor = int64(len(resource)), int64(len(cadvisor))
	r := fetch(t, k, podA)
	assert.Zero(t, r.Errors, "answers exactly as long as their bounds are whole")

	maxCadvisor = int64(len(cadvisor)) - 1
	now = t0.Add(10 * time.Second)
	f.serve(kubeletText(now, 101, 1e9, []ctr{{"ns", "a", "app", 12, 100e6, ctrStart}}))
	f.serveCadvisor(cadvisorText(now, map[string][3]float64{"app": {1100, 490, 24.5}}), http.StatusOK)
	r = fetch(t, k, podA)
	assert.Equal(t, 1, r.Errors, "the cAdvisor text is refused")
	require.Contains(t, r.Pods, podA, "the resource metrics still count")
	assert.Nil(t, r.Pods[podA].Containers[0].Throttling)

	// The CFS lines kept are bounded too: the text may be long, what is
	// kept of it may not.
	maxCadvisor, maxCFSText = 1<<30, 10
	now = t0.Add(20 * time.Second)
	f.serve(kubeletText(now, 102, 1e9, []ctr{{"ns", "a", "app", 13, 100e6, ctrStart}}))
	r = fetch(t, k, podA)
	assert.Equal(t, 1, r.Errors, "the CFS lines are more than 10 bytes")

	maxBody = int64(len(resource)) - 1
	_, err := k.Fetch(context.Background(), []usage.PodKey{podA})
	require.Error(t, err)
	assert.Equal(t, "kubelet answer too large", usage.Reason(err))
	assert.Contains(t, err.Error(), fmt.Sprintf("answered more than %d bytes", maxBody))
}

func TestBoundedReader(t *testing.T) {
	for _, tc := range []struct {
		body  string
		bound int64
		over  bool
	}{{"", 0, false}, {"abc", 3, false}, {"abc", 2, true}, {"abcdef", 0, true}} {
		b := &boundedReader{r: strings.NewReader(tc.body), left: tc.bound}
		got, err := io.ReadAll(b)
		assert.Equal(t, tc.over, b.over, "%q bound %d", tc.body, tc.bound)
		if tc.over {
			assert.ErrorIs(t, err, errTooLarge)
		} else {
			assert.NoError(t, err)
			assert.Equal(t, tc.body, string(got))
		}
	}
}
