package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/catops/cli/pkg/wire"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

const (
	uidA = "0b5c1f3e-2d4a-4d7e-9a8b-1c2d3e4f5a6b"
	uidB = "7e0c2a4d-9b1f-4c3e-8d5a-6f7e8d9c0b1a"
)

func id(n int) string { return fmt.Sprintf("%064x", n) }

// layout places pod and container cgroups in a cgroup tree as one
// kubelet driver and runtime name them.
type layout struct {
	name string
	// setup creates the tree's fixed parts below mount and returns the root
	// of the cpu hierarchy and its version.
	setup func(t *testing.T, mount string) (string, int)
	// podDir is the pod's cgroup below the root, for its QoS class.
	podDir func(uid string, qos corev1.PodQOSClass) string
	// ctrDir is the container's cgroup's name in its pod's.
	ctrDir func(id string) string
}

func mkdir(t *testing.T, parts ...string) string {
	t.Helper()
	dir := filepath.Join(parts...)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func write(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
}

func cgroupfsPod(prefix string) func(string, corev1.PodQOSClass) string {
	return func(uid string, qos corev1.PodQOSClass) string {
		switch qos {
		case corev1.PodQOSGuaranteed:
			return filepath.Join(prefix, "kubepods", "pod"+uid)
		default:
			return filepath.Join(prefix, "kubepods", strings.ToLower(string(qos)), "pod"+uid)
		}
	}
}

func systemdPod(root string) func(string, corev1.PodQOSClass) string {
	return func(uid string, qos corev1.PodQOSClass) string {
		u := strings.ReplaceAll(uid, "-", "_")
		kp := "kubepods"
		dir := kp + ".slice"
		if root != "" {
			kp = root + "-kubepods"
			dir = filepath.Join(root+".slice", kp+".slice")
		}
		if qos == corev1.PodQOSGuaranteed {
			return filepath.Join(dir, kp+"-pod"+u+".slice")
		}
		q := kp + "-" + strings.ToLower(string(qos))
		return filepath.Join(dir, q+".slice", q+"-pod"+u+".slice")
	}
}

func v2(t *testing.T, mount string) (string, int) {
	write(t, filepath.Join(mount, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n")
	mkdir(t, mount, "system.slice", "containerd.service")
	mkdir(t, mount, "user.slice", "user-0.slice", "session-1.scope")
	return mount, 2
}

var layouts = []layout{
	{
		name: "v1 hybrid, cgroupfs, containerd (the real node of the rig)",
		setup: func(t *testing.T, mount string) (string, int) {
			root := mkdir(t, mount, "cpu,cpuacct")
			require.NoError(t, os.Symlink("cpu,cpuacct", filepath.Join(mount, "cpu")))
			mkdir(t, mount, "memory", "kubepods", "burstable")
			mkdir(t, mount, "unified", "kubepods", "burstable")
			write(t, filepath.Join(mount, "unified", "cgroup.controllers"), "")
			return root, 1
		},
		podDir: cgroupfsPod(""),
		ctrDir: func(id string) string { return id },
	},
	{
		name:   "v2, systemd, containerd",
		setup:  v2,
		podDir: systemdPod(""),
		ctrDir: func(id string) string { return "cri-containerd-" + id + ".scope" },
	},
	{
		name:   "v2, systemd, CRI-O (with conmon beside the container)",
		setup:  v2,
		podDir: systemdPod(""),
		ctrDir: func(id string) string { return "crio-" + id + ".scope" },
	},
	{
		name:   "v2, cgroupfs, CRI-O",
		setup:  v2,
		podDir: cgroupfsPod(""),
		ctrDir: func(id string) string { return "crio-" + id },
	},
	{
		name:   "v2, systemd, cri-dockerd",
		setup:  v2,
		podDir: systemdPod(""),
		ctrDir: func(id string) string { return "docker-" + id + ".scope" },
	},
	{
		name:   "v2, cgroupfs, containerd",
		setup:  v2,
		podDir: cgroupfsPod(""),
		ctrDir: func(id string) string { return id },
	},
	{
		name:   "v2, systemd, --cgroup-root=/kubelet (kind)",
		setup:  v2,
		podDir: systemdPod("kubelet"),
		ctrDir: func(id string) string { return "cri-containerd-" + id + ".scope" },
	},
	{
		name: "v1, cgroupfs, --cgroup-root=/kubelet",
		setup: func(t *testing.T, mount string) (string, int) {
			return mkdir(t, mount, "cpu"), 1
		},
		podDir: cgroupfsPod("kubelet"),
		ctrDir: func(id string) string { return id },
	},
}

// node is a fake node: its cgroup tree and the pods the cache holds.
type node struct {
	t       *testing.T
	l       layout
	mount   string
	root    string
	version int
}

func newNode(t *testing.T, l layout) *node {
	mount := t.TempDir()
	root, version := l.setup(t, mount)
	return &node{t: t, l: l, mount: mount, root: root, version: version}
}

// cfs writes a container's cpu.stat: periods, throttled periods, and the
// throttled time in ms.
func (n *node) cfs(uid string, qos corev1.PodQOSClass, cid string, periods, throttled uint64, throttledMs int64) {
	n.t.Helper()
	podDir := filepath.Join(n.root, n.l.podDir(uid, qos))
	write(n.t, filepath.Join(podDir, n.l.ctrDir(cid), "cpu.stat"), n.cpuStat(periods, throttled, throttledMs))
	// The sandbox's and the runtime's other cgroups beside it.
	write(n.t, filepath.Join(podDir, n.l.ctrDir(id(999)), "cpu.stat"), "nr_periods 0\nnr_throttled 0\nthrottled_time 0\nthrottled_usec 0\n")
	write(n.t, filepath.Join(podDir, "crio-conmon-"+cid+".scope", "cpu.stat"), "nr_periods 7\nnr_throttled 7\nthrottled_time 7\nthrottled_usec 7\n")
	write(n.t, filepath.Join(podDir, "crio-conmon-"+cid, "cpu.stat"), "nr_periods 7\nnr_throttled 7\nthrottled_time 7\nthrottled_usec 7\n")
}

// podCFS writes a pod cgroup's own cpu.stat.
func (n *node) podCFS(uid string, qos corev1.PodQOSClass, periods, throttled uint64, throttledMs int64) {
	n.t.Helper()
	write(n.t, filepath.Join(n.root, n.l.podDir(uid, qos), "cpu.stat"), n.cpuStat(periods, throttled, throttledMs))
}

// cpuStat is a cpu.stat of the node's cgroup version.
func (n *node) cpuStat(periods, throttled uint64, throttledMs int64) string {
	if n.version == 1 {
		return fmt.Sprintf("nr_periods %d\nnr_throttled %d\nthrottled_time %d\n", periods, throttled, throttledMs*1e6)
	}
	return fmt.Sprintf("usage_usec 912\nuser_usec 800\nsystem_usec 112\ncore_sched.force_idle_usec 0\nnr_periods %d\nnr_throttled %d\nthrottled_usec %d\nnr_bursts 0\nburst_usec 0\n", periods, throttled, throttledMs*1e3)
}

type ctr struct {
	name    string
	cpu     string // limit; "" none
	id      string // running instance; "" not running
	initCtr bool
}

func pod(ns, name, uid string, qos corev1.PodQOSClass, ctrs ...ctr) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}}
	p.Status.QOSClass = qos
	for _, c := range ctrs {
		spec := corev1.Container{Name: c.name}
		if c.cpu != "" {
			spec.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(c.cpu)}
		}
		st := corev1.ContainerStatus{Name: c.name}
		if c.id != "" {
			st.ContainerID = "containerd://" + c.id
			st.State.Running = &corev1.ContainerStateRunning{}
		}
		if c.initCtr {
			p.Spec.InitContainers = append(p.Spec.InitContainers, spec)
			p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, st)
		} else {
			p.Spec.Containers = append(p.Spec.Containers, spec)
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, st)
		}
	}
	return p
}

// event is a usage event with a reading of each container named.
func event(pods ...*corev1.Pod) *wire.Usage {
	u := &wire.Usage{Available: true, Source: "metrics-api"}
	for _, p := range pods {
		pu := wire.PodUsage{Namespace: p.Namespace, Name: p.Name}
		for _, s := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			pu.Containers = append(pu.Containers, wire.ContainerUsage{Name: s.Name, CPUCores: 0.1})
		}
		u.Pods = append(u.Pods, pu)
	}
	return u
}

func throttlingOf(u *wire.Usage, podName, ctrName string) *wire.CPUThrottling {
	for _, p := range u.Pods {
		for _, c := range p.Containers {
			if p.Name == podName && c.Name == ctrName {
				return c.Throttling
			}
		}
	}
	return nil
}

func TestThrottlingInEveryLayout(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			n := newNode(t, l)
			a := pod("shop", "a", uidA, corev1.PodQOSBurstable, ctr{name: "app", cpu: "200m", id: id(1)}, ctr{name: "free", id: id(2)})
			b := pod("shop", "b", uidB, corev1.PodQOSGuaranteed, ctr{name: "db", cpu: "1", id: id(3)})
			n.cfs(uidA, corev1.PodQOSBurstable, id(1), 1000, 400, 20_000)
			n.cfs(uidA, corev1.PodQOSBurstable, id(2), 1000, 999, 1)
			n.cfs(uidB, corev1.PodQOSGuaranteed, id(3), 50, 0, 0)
			pods := []*corev1.Pod{a, b}

			th := New(filepath.Join(n.mount), zap.NewNop())
			u := event(a, b)
			th.Annotate(u, pods, t0)
			for _, c := range []string{"app", "free"} {
				assert.Nil(t, throttlingOf(u, "a", c), "first read of %s: no window yet", c)
			}
			assert.Equal(t, n.version, th.version)

			n.cfs(uidA, corev1.PodQOSBurstable, id(1), 1100, 490, 24_500)
			n.cfs(uidA, corev1.PodQOSBurstable, id(2), 2000, 1999, 9)
			n.cfs(uidB, corev1.PodQOSGuaranteed, id(3), 150, 3, 7)
			u = event(a, b)
			th.Annotate(u, pods, t0.Add(10*time.Second))
			assert.Equal(t, &wire.CPUThrottling{Periods: 100, ThrottledPeriods: 90, ThrottledSeconds: 4.5, WindowSeconds: 10}, throttlingOf(u, "a", "app"))
			assert.Nil(t, throttlingOf(u, "a", "free"), "no CPU limit: never throttled, not read")
			assert.Equal(t, &wire.CPUThrottling{Periods: 100, ThrottledPeriods: 3, ThrottledSeconds: 0.007, WindowSeconds: 10}, throttlingOf(u, "b", "db"))
		})
	}
}

// TestPodLevelThrottling: a pod whose spec sets a pod-level CPU limit gets
// its pod cgroup's throttling, in every layout, and its containers without
// a CPU limit of their own get theirs (the kubelet gives them the pod's
// limit); one without gets none even where its pod cgroup has a quota (all
// its containers limited); a pod gone from the cache is forgotten.
func TestPodLevelThrottling(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			n := newNode(t, l)
			a := pod("shop", "a", uidA, corev1.PodQOSBurstable, ctr{name: "app", id: id(1)}, ctr{name: "sidecar", cpu: "100m", id: id(2)})
			a.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}
			n.cfs(uidA, corev1.PodQOSBurstable, id(2), 100, 10, 10)
			b := pod("shop", "b", uidB, corev1.PodQOSGuaranteed, ctr{name: "db", cpu: "1", id: id(3)})
			n.cfs(uidA, corev1.PodQOSBurstable, id(1), 1000, 999, 99)
			n.podCFS(uidA, corev1.PodQOSBurstable, 1000, 400, 20_000)
			n.cfs(uidB, corev1.PodQOSGuaranteed, id(3), 50, 0, 0)
			n.podCFS(uidB, corev1.PodQOSGuaranteed, 50, 0, 0)
			pods := []*corev1.Pod{a, b}
			th := New(n.mount, nil)
			u := event(a, b)
			th.Annotate(u, pods, t0)
			assert.Nil(t, u.Pods[0].Throttling, "first read: no window yet")

			n.podCFS(uidA, corev1.PodQOSBurstable, 1100, 490, 24_500)
			n.cfs(uidA, corev1.PodQOSBurstable, id(1), 2000, 1999, 199)
			n.cfs(uidA, corev1.PodQOSBurstable, id(2), 200, 60, 1010)
			n.podCFS(uidB, corev1.PodQOSGuaranteed, 150, 3, 7)
			n.cfs(uidB, corev1.PodQOSGuaranteed, id(3), 150, 3, 7)
			u = event(a, b)
			th.Annotate(u, pods, t0.Add(10*time.Second))
			assert.Equal(t, &wire.CPUThrottling{Periods: 100, ThrottledPeriods: 90, ThrottledSeconds: 4.5, WindowSeconds: 10}, u.Pods[0].Throttling)
			assert.Equal(t, &wire.CPUThrottling{Periods: 1000, ThrottledPeriods: 1000, ThrottledSeconds: 0.1, WindowSeconds: 10}, throttlingOf(u, "a", "app"),
				"no limit of its own: the pod's is its quota")
			assert.Equal(t, &wire.CPUThrottling{Periods: 100, ThrottledPeriods: 50, ThrottledSeconds: 1, WindowSeconds: 10}, throttlingOf(u, "a", "sidecar"),
				"its own limit")
			assert.Nil(t, u.Pods[1].Throttling, "no pod-level limit: the pod cgroup is not read")
			assert.NotNil(t, throttlingOf(u, "b", "db"))

			th.Annotate(event(b), []*corev1.Pod{b}, t0.Add(20*time.Second))
			assert.NotContains(t, th.containers, podKey(uidA), "a pod gone from the cache is forgotten")
		})
	}
}

func TestThrottlingWindows(t *testing.T) {
	n := newNode(t, layouts[0])
	app := ctr{name: "app", cpu: "200m", id: id(1)}
	a := pod("shop", "a", uidA, corev1.PodQOSBurstable, app)
	pods := []*corev1.Pod{a}
	th := New(n.mount, nil)
	at := func(sec int, periods, throttled uint64, ms int64) *wire.CPUThrottling {
		n.cfs(uidA, corev1.PodQOSBurstable, app.id, periods, throttled, ms)
		u := event(pods...)
		th.Annotate(u, pods, t0.Add(time.Duration(sec)*time.Second))
		return throttlingOf(u, "a", "app")
	}
	require.Nil(t, at(0, 100, 10, 100))
	require.Equal(t, &wire.CPUThrottling{Periods: 100, ThrottledPeriods: 10, ThrottledSeconds: 0.1, WindowSeconds: 10}, at(10, 200, 20, 200))

	// Not in the event (the source had no fresh reading): not read, so
	// the next window spans both intervals.
	n.cfs(uidA, corev1.PodQOSBurstable, app.id, 250, 25, 250)
	th.Annotate(&wire.Usage{Available: true}, pods, t0.Add(20*time.Second))
	th.Annotate(&wire.Usage{Available: false, Reason: "kubelet unreachable"}, pods, t0.Add(25*time.Second))
	assert.Equal(t, &wire.CPUThrottling{Periods: 100, ThrottledPeriods: 10, ThrottledSeconds: 0.1, WindowSeconds: 20}, at(30, 300, 30, 300))

	assert.Nil(t, at(40, 299, 30, 300), "a counter went down: no figure")
	assert.Equal(t, uint64(1), at(50, 300, 30, 300).Periods, "the read after it is measured from it")
	assert.Nil(t, at(50, 400, 40, 400), "the clock did not move on")
	assert.Nil(t, at(60, 500, 200, 500), "throttled periods above periods")
	got := at(70, 600, 210, 500)
	require.NotNil(t, got)
	assert.Equal(t, wire.CPUThrottling{Periods: 100, ThrottledPeriods: 10, ThrottledSeconds: 0, WindowSeconds: 10}, *got, "throttled time did not move: zero, a figure")

	// Millisecond precision of odd figures.
	write(t, filepath.Join(n.root, "kubepods", "burstable", "pod"+uidA, app.id, "cpu.stat"), "nr_periods 800\nnr_throttled 230\nthrottled_time 501234567\n")
	u := event(pods...)
	th.Annotate(u, pods, t0.Add(80*time.Second+333333333))
	assert.Equal(t, &wire.CPUThrottling{Periods: 200, ThrottledPeriods: 20, ThrottledSeconds: 0.001, WindowSeconds: 10.333}, throttlingOf(u, "a", "app"))
}

func TestThrottlingAfterRestartAndForgetsGoneContainers(t *testing.T) {
	n := newNode(t, layouts[1])
	a := pod("shop", "a", uidA, corev1.PodQOSBurstable, ctr{name: "app", cpu: "500m", id: id(1)})
	th := New(n.mount, nil)
	n.cfs(uidA, corev1.PodQOSBurstable, id(1), 1000, 100, 100)
	th.Annotate(event(a), []*corev1.Pod{a}, t0)
	require.Contains(t, th.containers, id(1))

	// Restarted: a new instance, a new cgroup whose counters start again
	// (here above the old ones, which must not be subtracted).
	r := pod("shop", "a", uidA, corev1.PodQOSBurstable, ctr{name: "app", cpu: "500m", id: id(5)})
	n.cfs(uidA, corev1.PodQOSBurstable, id(5), 5000, 10, 10)
	u := event(r)
	th.Annotate(u, []*corev1.Pod{r}, t0.Add(10*time.Second))
	assert.Nil(t, throttlingOf(u, "a", "app"), "first read of the new instance")
	assert.NotContains(t, th.containers, id(1), "the old instance is forgotten")

	// Not running (crash loop back-off): nothing read.
	down := pod("shop", "a", uidA, corev1.PodQOSBurstable, ctr{name: "app", cpu: "500m"})
	u = event(down)
	th.Annotate(u, []*corev1.Pod{down}, t0.Add(20*time.Second))
	assert.Nil(t, throttlingOf(u, "a", "app"))
	assert.Empty(t, th.containers)
}

func TestThrottlingFindsPodsThatStartLater(t *testing.T) {
	n := newNode(t, layouts[1])
	a := pod("shop", "a", uidA, corev1.PodQOSBurstable, ctr{name: "app", cpu: "1", id: id(1)})
	n.cfs(uidA, corev1.PodQOSBurstable, id(1), 10, 1, 1)
	th := New(n.mount, nil)
	th.Annotate(event(a), []*corev1.Pod{a}, t0)

	// Its native sidecar (a restartable init container) and a second pod
	// appear after the first scan.
	b := pod("shop", "b", uidB, corev1.PodQOSGuaranteed, ctr{name: "proxy", cpu: "100m", id: id(7), initCtr: true}, ctr{name: "db", cpu: "1", id: id(3)})
	n.cfs(uidB, corev1.PodQOSGuaranteed, id(7), 10, 5, 50)
	n.cfs(uidB, corev1.PodQOSGuaranteed, id(3), 10, 0, 0)
	pods := []*corev1.Pod{a, b}
	th.Annotate(event(a, b), pods, t0.Add(10*time.Second))
	n.cfs(uidB, corev1.PodQOSGuaranteed, id(7), 20, 15, 150)
	u := event(a, b)
	th.Annotate(u, pods, t0.Add(20*time.Second))
	assert.Equal(t, &wire.CPUThrottling{Periods: 10, ThrottledPeriods: 10, ThrottledSeconds: 0.1, WindowSeconds: 10}, throttlingOf(u, "b", "proxy"))
	assert.Equal(t, &wire.CPUThrottling{Periods: 0, ThrottledPeriods: 0, ThrottledSeconds: 0, WindowSeconds: 10}, throttlingOf(u, "b", "db"),
		"an idle limited container: zero periods, a figure")
}

func TestThrottlingUnknownWithoutTheNodesTree(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	mount := t.TempDir() // the container's own cgroup, no kubepods in it
	write(t, filepath.Join(mount, "cgroup.controllers"), "cpu memory pids\n")
	a := pod("shop", "a", uidA, corev1.PodQOSBurstable, ctr{name: "app", cpu: "1", id: id(1)})
	th := New(mount, zap.New(core))
	for i := range 3 {
		u := event(a)
		th.Annotate(u, []*corev1.Pod{a}, t0.Add(time.Duration(i)*10*time.Second))
		assert.Nil(t, throttlingOf(u, "a", "app"))
	}
	warns := logs.FilterMessage(msgNoTree).All()
	require.Len(t, warns, 1, "warned once")
	assert.Equal(t, zapcore.WarnLevel, warns[0].Level)

	// The tree appears (a host mount added, a late kubelet): found at the
	// next search, SearchEvery after the last.
	n := &node{t: t, l: layouts[1], mount: mount, root: mount, version: 2}
	n.cfs(uidA, corev1.PodQOSBurstable, id(1), 10, 1, 1)
	th.Annotate(event(a), []*corev1.Pod{a}, t0.Add(SearchEvery-time.Second))
	assert.Empty(t, th.containers, "not searched again before SearchEvery")
	th.Annotate(event(a), []*corev1.Pod{a}, t0.Add(SearchEvery))
	assert.Contains(t, th.containers, id(1))
	assert.Len(t, logs.FilterMessage(msgFound).All(), 1)

	// No tree at all (no /sys mount): the same.
	th = New(filepath.Join(t.TempDir(), "missing"), zap.New(core))
	th.Annotate(event(a), []*corev1.Pod{a}, t0)
	assert.Len(t, logs.FilterMessage(msgNoTree).All(), 2)
}

func TestThrottlingSearchesNoDeeperThanTheNodesKubepods(t *testing.T) {
	mount := t.TempDir()
	root, _ := v2(t, mount)
	// A kind node running in a pod has its own kubepods deep inside this
	// node's: only the shallowest is the node's kubelet's.
	own := mkdir(t, root, "kubepods.slice")
	mkdir(t, own, "kubepods-besteffort.slice", "kubepods-besteffort-pod"+strings.ReplaceAll(uidA, "-", "_")+".slice", "cri-containerd-"+id(1)+".scope", "kubelet.slice", "kubelet-kubepods.slice")
	assert.Equal(t, []string{own}, findKubepods(root))
	// Too deep to be this node's.
	deep := t.TempDir()
	mkdir(t, deep, "a", "b", "c", "kubepods")
	assert.Empty(t, findKubepods(deep))
}

func TestThrottlingRereadsWhenTheKubepodsCgroupGoesAway(t *testing.T) {
	n := newNode(t, layouts[4])
	a := pod("shop", "a", uidA, corev1.PodQOSBurstable, ctr{name: "app", cpu: "1", id: id(1)})
	n.cfs(uidA, corev1.PodQOSBurstable, id(1), 10, 1, 1)
	th := New(n.mount, nil)
	th.Annotate(event(a), []*corev1.Pod{a}, t0)
	require.Contains(t, th.containers, id(1))

	// The kubelet comes back with the systemd driver.
	require.NoError(t, os.RemoveAll(filepath.Join(n.root, "kubepods")))
	n.l = layouts[1]
	b := pod("shop", "b", uidB, corev1.PodQOSBurstable, ctr{name: "app", cpu: "1", id: id(2)})
	n.cfs(uidB, corev1.PodQOSBurstable, id(2), 10, 1, 1)
	pods := []*corev1.Pod{b}
	th.Annotate(event(b), pods, t0.Add(10*time.Second))
	th.Annotate(event(b), pods, t0.Add(20*time.Second))
	assert.Equal(t, []string{filepath.Join(n.root, "kubepods.slice")}, th.kubepods)
	n.cfs(uidB, corev1.PodQOSBurstable, id(2), 20, 2, 2)
	u := event(b)
	th.Annotate(u, pods, t0.Add(30*time.Second))
	assert.NotNil(t, throttlingOf(u, "b", "app"))
}

// A static pod's cgroup is named by the UID the kubelet gave it, which its
// mirror pod in the API carries in an annotation (not as its own UID).
func TestThrottlingOfStaticPods(t *testing.T) {
	const static = "0f8e2b6a1c3d4e5f60718293a4b5c6d7"
	for _, l := range []layout{layouts[0], layouts[1]} {
		t.Run(l.name, func(t *testing.T) {
			n := newNode(t, l)
			mirror := pod("kube-system", "kube-apiserver-vm", uidB, corev1.PodQOSBurstable, ctr{name: "kube-apiserver", cpu: "2", id: id(4)})
			mirror.Annotations = map[string]string{mirrorAnnotation: static}
			n.cfs(static, corev1.PodQOSBurstable, id(4), 10, 1, 1)
			th := New(n.mount, nil)
			pods := []*corev1.Pod{mirror}
			th.Annotate(event(mirror), pods, t0)
			n.cfs(static, corev1.PodQOSBurstable, id(4), 20, 3, 5)
			u := event(mirror)
			th.Annotate(u, pods, t0.Add(10*time.Second))
			assert.Equal(t, &wire.CPUThrottling{Periods: 10, ThrottledPeriods: 2, ThrottledSeconds: 0.004, WindowSeconds: 10}, throttlingOf(u, "kube-apiserver-vm", "kube-apiserver"))

			// A pod-level limit: the pod cgroup is named by the static UID
			// too, and kept between reads (not forgotten as gone).
			mirror.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}
			n.podCFS(static, corev1.PodQOSBurstable, 30, 5, 10)
			th.Annotate(event(mirror), pods, t0.Add(20*time.Second))
			n.podCFS(static, corev1.PodQOSBurstable, 40, 6, 20)
			u = event(mirror)
			th.Annotate(u, pods, t0.Add(30*time.Second))
			assert.Equal(t, &wire.CPUThrottling{Periods: 10, ThrottledPeriods: 1, ThrottledSeconds: 0.01, WindowSeconds: 10}, u.Pods[0].Throttling)
		})
	}
}

// The kubelet came back with another driver and left its old kubepods
// cgroup empty: the tree is searched again, SearchEvery after the last
// search.
func TestThrottlingSearchesAgainWhenTheKubepodsCgroupIsEmpty(t *testing.T) {
	mount := t.TempDir()
	root, _ := v2(t, mount)
	old := mkdir(t, root, "kubelet", "kubepods", "burstable")
	th := New(mount, nil)
	a := pod("shop", "a", uidA, corev1.PodQOSBurstable, ctr{name: "app", cpu: "1", id: id(1)})
	pods := []*corev1.Pod{a}
	th.Annotate(event(a), pods, t0)
	require.Equal(t, []string{filepath.Dir(old)}, th.kubepods)

	require.NoError(t, os.RemoveAll(filepath.Join(root, "kubelet")))
	n := &node{t: t, l: layouts[1], mount: mount, root: root, version: 2}
	mkdir(t, root, "kubelet", "kubepods") // left behind, empty
	n.cfs(uidA, corev1.PodQOSBurstable, id(1), 10, 1, 1)
	th.Annotate(event(a), pods, t0.Add(10*time.Second))
	assert.Empty(t, th.containers)
	th.Annotate(event(a), pods, t0.Add(SearchEvery))
	assert.Contains(t, th.containers, id(1), "found in kubepods.slice")
}

func TestContainerNames(t *testing.T) {
	for name, want := range map[string]bool{
		id(1):                                 true,
		"cri-containerd-" + id(1) + ".scope":  true,
		"crio-" + id(1) + ".scope":            true,
		"docker-" + id(1) + ".scope":          true,
		"crio-conmon-" + id(1) + ".scope":     false,
		"crio-" + id(1):                       true,
		"crio-conmon-" + id(1):                false,
		"-" + id(1) + ".scope":                false,
		id(1) + ".scope":                      false,
		"cri-containerd-" + id(12) + ".scope": false,
		id(1) + "0":                           false,
	} {
		assert.Equal(t, want, containerName(name, id(1)), name)
	}
	assert.False(t, containerName("", ""))
}

func TestPodUIDs(t *testing.T) {
	u := strings.ReplaceAll(uidA, "-", "_")
	for name, want := range map[string]string{
		"pod" + uidA:                                  uidA,
		"kubepods-pod" + u + ".slice":                 uidA,
		"kubepods-burstable-pod" + u + ".slice":       uidA,
		"kubelet-kubepods-besteffort-pod" + u:         uidA,
		"pod" + uidA[:35]:                             "",
		"xpod" + uidA:                                 "",
		"kubepods-burstable.slice":                    "",
		"kubepods-burstable-pod" + u + "0" + ".slice": "",
	} {
		got, ok := podUID(name)
		assert.Equal(t, want, got, name)
		assert.Equal(t, want != "", ok, name)
	}
}
