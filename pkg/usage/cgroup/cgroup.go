// Package cgroup reads the CPU throttling of the containers on this node
// from their cgroups' cpu.stat, in the node's cgroup tree mounted into the
// agent (HOST_SYS/fs/cgroup): no request to the API server or the kubelet,
// one small file per CPU-limited container per interval. It knows cgroup
// v1 (the cpu controller's hierarchy) and v2, the kubelet's cgroupfs and
// systemd drivers, a --cgroup-root, and the container cgroup names of
// containerd, CRI-O and Docker (cri-dockerd).
package cgroup

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/wire"
)

// SearchEvery spaces the searches for the node's cgroup tree while it is
// not found (no host /sys mount, a layout this package does not know).
const SearchEvery = 5 * time.Minute

// Log messages a user may search for.
const (
	msgNoTree = "CPU throttling is unknown: the node's kubepods cgroup was not found (is the node's /sys mounted at HOST_SYS? CATOPS_THROTTLING_SOURCE=none stops the search)"
	msgFound  = "Reading CPU throttling from the node's cgroups"
)

// Throttling reads containers' CFS counters and puts their throttling on
// the usage events the agent sends. Annotate must be called from one
// goroutine.
type Throttling struct {
	mount  string
	logger *zap.Logger

	root       string // the cpu hierarchy's root; "" until found
	version    int
	kubepods   []string
	pods       map[string]string // pod UID → its cgroup, as of the last scan
	nextSearch time.Time
	warned     bool
	scanned    bool // the pods' cgroups were listed in this Annotate

	containers map[string]*counters // by container ID
	buf        []byte
}

// counters is one container's cgroup's cpu.stat and its last read.
type counters struct {
	path string
	last cfsCounters
	at   time.Time
	read bool
}

// New returns a Throttling reading the cgroup tree mounted at mount (the
// node's /sys/fs/cgroup: HOST_SYS + "/fs/cgroup").
func New(mount string, logger *zap.Logger) *Throttling {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Throttling{
		mount:      mount,
		logger:     logger,
		containers: map[string]*counters{},
		buf:        make([]byte, maxCPUStat),
	}
}

// Annotate sets the Throttling of each container in u's pods that has a
// CPU limit in pods (the pods on this node, from the cache; its own, or its
// pod's pod-level one) and a running instance, and of each pod in u whose
// spec sets a pod-level CPU limit (its pod cgroup holds that quota): the
// CFS periods, throttled periods and throttled time of the cgroup's
// cpu.stat between the previous Annotate that read it and now
// (window_seconds). A container has none on its first read (its
// instance's: a restarted container has a new cgroup), a pod on its first;
// either has none when a counter went down or the clock did not move on,
// when throttled periods would exceed periods, when its cgroup or cpu.stat
// cannot be read or understood, and when it is not in u (the next read
// then spans both intervals). Throttled time and the window are rounded to
// the millisecond (usage.RoundThrottling). Counters of containers and pods
// no longer in pods are forgotten.
func (t *Throttling) Annotate(u *wire.Usage, pods []*corev1.Pod, now time.Time) {
	defer t.forget(pods)
	if !u.Available || len(u.Pods) == 0 {
		return
	}
	byKey := make(map[usage.PodKey]*corev1.Pod, len(pods))
	for _, p := range pods {
		byKey[usage.PodKey{Namespace: p.Namespace, Name: p.Name}] = p
	}
	t.scanned = false
	for i := range u.Pods {
		pu := &u.Pods[i]
		p := byKey[usage.PodKey{Namespace: pu.Namespace, Name: pu.Name}]
		if p == nil {
			continue
		}
		for j := range pu.Containers {
			c := &pu.Containers[j]
			id := limitedContainerID(p, c.Name)
			if id == "" {
				continue
			}
			if th, ok := t.read(p, id, now); ok {
				c.Throttling = &th
			}
		}
		if podCPULimited(p) {
			if th, ok := t.read(p, "", now); ok {
				pu.Throttling = &th
			}
		}
	}
}

// read reads the counters of the container id of p (id "": of p's own
// cgroup) and returns its throttling since the last read.
func (t *Throttling) read(p *corev1.Pod, id string, now time.Time) (wire.CPUThrottling, bool) {
	key := id
	if id == "" {
		key = podKey(cgroupUID(p))
	}
	st := t.containers[key]
	if st == nil {
		dir := t.locate(cgroupUID(p), id, now)
		if dir == "" {
			return wire.CPUThrottling{}, false
		}
		st = &counters{path: filepath.Join(dir, "cpu.stat")}
		t.containers[key] = st
	}
	cur, err := readCPUStat(st.path, t.version, t.buf)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			delete(t.containers, key) // gone with its container or pod: found again if it is not
		}
		t.logger.Debug("Cannot read a cgroup's cpu.stat; its CPU throttling is unknown",
			zap.String("namespace", p.Namespace), zap.String("pod", p.Name), zap.String("containerID", id), zap.Error(err))
		return wire.CPUThrottling{}, false
	}
	prev, prevAt, had := st.last, st.at, st.read
	st.last, st.at, st.read = cur, now, true
	if !had || !now.After(prevAt) || cur.periods < prev.periods || cur.throttled < prev.throttled || cur.throttledTime < prev.throttledTime {
		return wire.CPUThrottling{}, false
	}
	th := wire.CPUThrottling{
		Periods:          cur.periods - prev.periods,
		ThrottledPeriods: cur.throttled - prev.throttled,
		ThrottledSeconds: (cur.throttledTime - prev.throttledTime).Seconds(),
		WindowSeconds:    now.Sub(prevAt).Seconds(),
	}
	if th.ThrottledPeriods > th.Periods {
		return wire.CPUThrottling{}, false
	}
	return usage.RoundThrottling(th), true
}

// podKey keys the counters of the pod cgroup of uid among the containers'
// (runtime IDs, which hold no colon).
func podKey(uid string) string { return "pod:" + uid }

// locate finds the cgroup of the container id of the pod with uid (id "":
// the pod's own cgroup): the
// hierarchy and the kubepods cgroup once (searched again every
// SearchEvery while not found), the pods' cgroups again when a pod is not
// among them (at most once per Annotate).
func (t *Throttling) locate(uid, id string, now time.Time) string {
	if t.root == "" {
		if now.Before(t.nextSearch) {
			return ""
		}
		t.nextSearch = now.Add(SearchEvery)
		root, version, err := hierarchy(t.mount)
		var kubepods []string
		if err == nil {
			kubepods = findKubepods(root)
		}
		if len(kubepods) == 0 {
			if !t.warned {
				t.warned = true
				t.logger.Warn(msgNoTree, zap.String("cgroupMount", t.mount), zap.Duration("retryIn", SearchEvery))
			}
			return ""
		}
		t.root, t.version, t.kubepods = root, version, kubepods
		t.logger.Info(msgFound, zap.Int("cgroupVersion", version), zap.Strings("kubepods", kubepods))
		t.scanned = true
		t.pods, _ = podDirs(kubepods)
	}
	podDir, ok := t.pods[uid]
	if !ok && !t.scanned {
		t.scanned = true
		var readable bool
		t.pods, readable = podDirs(t.kubepods)
		if !readable || len(t.pods) == 0 {
			// The kubepods cgroup went away: search again at the next
			// read. Or it holds no pod while this one runs (the kubelet
			// restarted with another driver and left the old one
			// empty): search again SearchEvery after the last search.
			t.root = ""
			if !readable {
				t.nextSearch = now
			}
			return ""
		}
		podDir, ok = t.pods[uid]
	}
	if !ok {
		return ""
	}
	if id == "" {
		return podDir
	}
	dir, err := containerDir(podDir, id)
	if err != nil {
		return ""
	}
	return dir
}

// mirrorAnnotation holds, on a static pod's mirror in the API, the UID the
// kubelet gave the static pod (and its cgroup): not the mirror's own.
const mirrorAnnotation = "kubernetes.io/config.mirror"

// cgroupUID is the UID p's cgroup is named by.
func cgroupUID(p *corev1.Pod) string {
	if uid := p.Annotations[mirrorAnnotation]; uid != "" {
		return uid
	}
	return string(p.UID)
}

// forget drops the counters of containers that are no longer the running
// instance of a container in pods, and of pods no longer in pods.
func (t *Throttling) forget(pods []*corev1.Pod) {
	if len(t.containers) == 0 {
		return
	}
	live := make(map[string]struct{}, len(t.containers))
	for _, p := range pods {
		live[podKey(cgroupUID(p))] = struct{}{}
		for _, s := range p.Status.ContainerStatuses {
			live[runtimeID(s.ContainerID)] = struct{}{}
		}
		for _, s := range p.Status.InitContainerStatuses {
			live[runtimeID(s.ContainerID)] = struct{}{}
		}
	}
	for id := range t.containers {
		if _, ok := live[id]; !ok {
			delete(t.containers, id)
		}
	}
}

// limitedContainerID is the runtime ID of the running instance of the
// container name of p when it has a CFS quota, else "": when its spec sets
// a CPU limit, or sets none and the pod sets a pod-level one (the kubelet
// then gives the container the pod's limit as its own). A container
// without a quota is never throttled.
func limitedContainerID(p *corev1.Pod, name string) string {
	limited := false
	for _, list := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == name {
				q, ok := c.Resources.Limits[corev1.ResourceCPU]
				limited = (ok && q.Sign() > 0) || (!ok && podCPULimited(p))
			}
		}
	}
	if !limited {
		return ""
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		for _, s := range list {
			if s.Name == name && s.State.Running != nil {
				return runtimeID(s.ContainerID)
			}
		}
	}
	return ""
}

// podCPULimited says whether p's spec sets a pod-level CPU limit
// (spec.resources.limits.cpu), the CFS quota of its pod cgroup.
func podCPULimited(p *corev1.Pod) bool {
	if p.Spec.Resources == nil {
		return false
	}
	q, ok := p.Spec.Resources.Limits[corev1.ResourceCPU]
	return ok && q.Sign() > 0
}

// runtimeID is a status's containerID without its <runtime>:// scheme.
func runtimeID(containerID string) string {
	if _, id, ok := strings.Cut(containerID, "://"); ok {
		return id
	}
	return containerID
}
