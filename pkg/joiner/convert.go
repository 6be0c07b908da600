package joiner

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/pkg/wire"
	"github.com/catops/cli/pkg/workload"
)

// podRecord turns a cached pod into its wire record.
func podRecord(p *corev1.Pod) *wire.Pod {
	out := &wire.Pod{
		PodRef:         wire.PodRef{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID)},
		Labels:         p.Labels,
		Phase:          string(p.Status.Phase),
		Reason:         p.Status.Reason,
		PodIP:          p.Status.PodIP,
		HostIP:         p.Status.HostIP,
		QOSClass:       string(p.Status.QOSClass),
		Priority:       p.Spec.Priority,
		CreatedAt:      p.CreationTimestamp.UTC(),
		StartedAt:      timePtr(p.Status.StartTime),
		DeletingSince:  timePtr(p.DeletionTimestamp),
		Containers:     containers(p.Spec.Containers, p.Status.ContainerStatuses, false),
		InitContainers: containers(p.Spec.InitContainers, p.Status.InitContainerStatuses, true),
	}
	if out.Containers == nil {
		out.Containers = []wire.Container{}
	}
	if r := p.Spec.Resources; r != nil {
		out.Requests, out.Limits = resources(r.Requests), resources(r.Limits)
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		out.Owner = &wire.Owner{Kind: ref.Kind, Name: ref.Name}
		owner := workload.Owner{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name}
		if w, ok := workload.Of(&owner, p.Labels, p.CreationTimestamp.Time); ok {
			out.Workload = &wire.Workload{APIVersion: w.APIVersion, Kind: w.Kind, Name: w.Name}
		}
	}
	out.Ready = podConditionTrue(p, corev1.PodReady)
	out.RestartCount = PodRestarts(p)
	return out
}

// PodRestarts is the pod's restart count as kubectl's RESTARTS column shows
// it. While the pod is still initializing (an init container is waiting,
// running or failed and the Initialized condition is not True), it is the
// sum of the init containers' restarts up to and including the one that
// holds the pod up. Once initialized, it is the restarts of the native
// sidecars (init containers with restartPolicy Always, which keep running
// beside the app) plus those of the app containers; finished run-once init
// containers no longer count. The legacy snapshot format (pkg/legacy)
// reports the same figure.
func PodRestarts(p *corev1.Pod) int32 {
	sidecars := make(map[string]bool, len(p.Spec.InitContainers))
	for _, c := range p.Spec.InitContainers {
		sidecars[c.Name] = isSidecar(c)
	}
	var initRestarts, sidecarRestarts int32
	initializing := false
	for _, st := range p.Status.InitContainerStatuses {
		initRestarts += st.RestartCount
		if sidecars[st.Name] {
			sidecarRestarts += st.RestartCount
		}
		if t := st.State.Terminated; t != nil && t.ExitCode == 0 {
			continue // a run-once init container that finished
		}
		if sidecars[st.Name] && st.Started != nil && *st.Started {
			continue // a sidecar that is up
		}
		initializing = true
		break
	}
	if initializing && !podConditionTrue(p, corev1.PodInitialized) {
		return initRestarts
	}
	restarts := sidecarRestarts
	for _, st := range p.Status.ContainerStatuses {
		restarts += st.RestartCount
	}
	return restarts
}

// isSidecar reports whether an init container is a native sidecar
// (restartPolicy Always).
func isSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func podConditionTrue(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containers joins spec and statuses by name; init says they are init
// containers, the only ones that can be native sidecars (an app container
// may have restartPolicy Always too, as a per-container restart rule).
func containers(spec []corev1.Container, statuses []corev1.ContainerStatus, init bool) []wire.Container {
	if len(spec) == 0 {
		return nil
	}
	byName := make(map[string]*corev1.ContainerStatus, len(statuses))
	for i := range statuses {
		byName[statuses[i].Name] = &statuses[i]
	}
	out := make([]wire.Container, len(spec))
	for i, c := range spec {
		wc := wire.Container{
			Name:     c.Name,
			Image:    c.Image,
			State:    wire.StateUnknown,
			Requests: resources(c.Resources.Requests),
			Limits:   resources(c.Resources.Limits),
			Sidecar:  init && isSidecar(c),
		}
		if st, ok := byName[c.Name]; ok {
			fillStatus(&wc, st)
		}
		out[i] = wc
	}
	return out
}

func fillStatus(wc *wire.Container, st *corev1.ContainerStatus) {
	wc.Ready = st.Ready
	wc.RestartCount = st.RestartCount
	switch s := st.State; {
	case s.Running != nil:
		wc.State = wire.StateRunning
		wc.Since = timePtr(&s.Running.StartedAt)
	case s.Terminated != nil:
		wc.State = wire.StateTerminated
		wc.Reason = s.Terminated.Reason
		wc.ExitCode = &s.Terminated.ExitCode
		wc.Since = timePtr(&s.Terminated.FinishedAt)
	case s.Waiting != nil:
		wc.State = wire.StateWaiting
		wc.Reason = s.Waiting.Reason
	}
	if t := st.LastTerminationState.Terminated; t != nil {
		wc.LastTermination = &wire.Termination{
			Reason:     t.Reason,
			ExitCode:   t.ExitCode,
			FinishedAt: timePtr(&t.FinishedAt),
		}
	}
}

// resources converts a resource list; nil when none of the figures on the
// wire is set.
func resources(rl corev1.ResourceList) *wire.Resources {
	if len(rl) == 0 {
		return nil
	}
	r := &wire.Resources{
		CPUMillicores:         milli(rl, corev1.ResourceCPU),
		MemoryBytes:           value(rl, corev1.ResourceMemory),
		EphemeralStorageBytes: value(rl, corev1.ResourceEphemeralStorage),
		Pods:                  value(rl, corev1.ResourcePods),
	}
	if *r == (wire.Resources{}) {
		return nil
	}
	return r
}

func milli(rl corev1.ResourceList, name corev1.ResourceName) *int64 {
	q, ok := rl[name]
	if !ok {
		return nil
	}
	v := q.MilliValue()
	return &v
}

func value(rl corev1.ResourceList, name corev1.ResourceName) *int64 {
	q, ok := rl[name]
	if !ok {
		return nil
	}
	v := q.Value()
	return &v
}

// nodeRecord turns the cached Node into its wire record.
func nodeRecord(n *corev1.Node) *wire.Node {
	out := &wire.Node{
		Name:             n.Name,
		UID:              string(n.UID),
		Labels:           n.Labels,
		Unschedulable:    n.Spec.Unschedulable,
		Capacity:         nodeResources(n.Status.Capacity),
		Allocatable:      nodeResources(n.Status.Allocatable),
		KubeletVersion:   n.Status.NodeInfo.KubeletVersion,
		ContainerRuntime: n.Status.NodeInfo.ContainerRuntimeVersion,
		OSImage:          n.Status.NodeInfo.OSImage,
		KernelVersion:    n.Status.NodeInfo.KernelVersion,
		Architecture:     n.Status.NodeInfo.Architecture,
		CreatedAt:        n.CreationTimestamp.UTC(),
	}
	for _, t := range n.Spec.Taints {
		out.Taints = append(out.Taints, wire.Taint{Key: t.Key, Effect: string(t.Effect)})
	}
	for _, c := range n.Status.Conditions {
		out.Conditions = append(out.Conditions, wire.NodeCondition{
			Type:   string(c.Type),
			Status: string(c.Status),
			Reason: c.Reason,
			Since:  timePtr(&c.LastTransitionTime),
		})
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			out.InternalIP = a.Address
			break
		}
	}
	return out
}

func nodeResources(rl corev1.ResourceList) wire.Resources {
	if r := resources(rl); r != nil {
		return *r
	}
	return wire.Resources{}
}

// timePtr returns nil for a nil or zero time, so that unset times are left
// out of the record rather than sent as year 1.
func timePtr(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
