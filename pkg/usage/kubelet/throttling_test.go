package kubelet

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
			c.throttling(map[containerKey]cfsSample{k: pair[0]}, t0.Add(time.Minute))
			assert.Empty(t, c.throttling(map[containerKey]cfsSample{k: pair[1]}, t0.Add(time.Minute)))
		})
	}
	// A series missing: no figure.
	c := cfsState{}
	s := cfsSample{periods: 10, at: t0, has: [3]bool{true, false, true}}
	c.throttling(map[containerKey]cfsSample{k: s}, t0.Add(time.Minute))
	s.at = t0.Add(10 * time.Second)
	assert.Empty(t, c.throttling(map[containerKey]cfsSample{k: s}, t0.Add(time.Minute)))

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
