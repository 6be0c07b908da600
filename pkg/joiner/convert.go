package joiner

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/pkg/wire"
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
		Containers:     containers(p.Spec.Containers, p.Status.ContainerStatuses),
		InitContainers: containers(p.Spec.InitContainers, p.Status.InitContainerStatuses),
	}
	if out.Containers == nil {
		out.Containers = []wire.Container{}
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		out.Owner = &wire.Owner{Kind: ref.Kind, Name: ref.Name}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Ready = c.Status == corev1.ConditionTrue
		}
	}
	for _, c := range out.Containers {
		out.RestartCount += c.RestartCount
	}
	return out
}

func containers(spec []corev1.Container, statuses []corev1.ContainerStatus) []wire.Container {
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
