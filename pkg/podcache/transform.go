package podcache

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/catops/cli/pkg/wire"
)

// maxAnnotationBytes is the largest annotation value the cache keeps. The
// payload carries no annotations; the few small ones are kept only for
// debugging (kubectl-style tooling reading the cache in tests). Large ones,
// like kubectl's last-applied-configuration, are dropped.
const maxAnnotationBytes = 256

// slim is the informer's transform: it keeps only what the joiner puts on the
// wire, so a cached pod costs a fraction of the API object. It runs once per
// object as it enters the cache, on the informer's goroutine.
func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return slimPod(o), nil
	case *corev1.Node:
		return slimNode(o), nil
	case cache.DeletedFinalStateUnknown:
		// Tombstones are passed through; their inner object, if any, is
		// already slim (it came from the cache).
		return o, nil
	default:
		return obj, nil
	}
}

func slimMeta(m *corev1.Pod) {
	m.ManagedFields = nil
	m.Finalizers = nil
	m.GenerateName = ""
	m.Annotations = smallAnnotations(m.Annotations)
	m.OwnerReferences = controllerRef(m.OwnerReferences)
}

// controllerRef keeps the controlling owner reference (the wire's owner),
// without its UID and deletion flag.
func controllerRef(in []metav1.OwnerReference) []metav1.OwnerReference {
	for _, r := range in {
		if r.Controller != nil && *r.Controller {
			return []metav1.OwnerReference{{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, Controller: r.Controller}}
		}
	}
	return nil
}

func smallAnnotations(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	var out map[string]string
	for k, v := range in {
		if len(v) > maxAnnotationBytes {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(in))
		}
		out[k] = v
	}
	return out
}

func slimPod(p *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{
		TypeMeta:   p.TypeMeta,
		ObjectMeta: p.ObjectMeta,
		Spec: corev1.PodSpec{
			NodeName:          p.Spec.NodeName,
			Priority:          p.Spec.Priority,
			PriorityClassName: p.Spec.PriorityClassName,
			Containers:        slimContainers(p.Spec.Containers),
			InitContainers:    slimContainers(p.Spec.InitContainers),
			Resources:         slimResources(p.Spec.Resources),
		},
		Status: corev1.PodStatus{
			Phase:                 p.Status.Phase,
			Reason:                p.Status.Reason,
			HostIP:                p.Status.HostIP,
			PodIP:                 p.Status.PodIP,
			StartTime:             p.Status.StartTime,
			QOSClass:              p.Status.QOSClass,
			Conditions:            slimPodConditions(p.Status.Conditions),
			ContainerStatuses:     slimStatuses(p.Status.ContainerStatuses),
			InitContainerStatuses: slimStatuses(p.Status.InitContainerStatuses),
		},
	}
	slimMeta(out)
	return out
}

func slimContainers(in []corev1.Container) []corev1.Container {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(in))
	for i, c := range in {
		out[i] = corev1.Container{
			Name:  c.Name,
			Image: c.Image,
			Resources: corev1.ResourceRequirements{
				Requests: shippedResources(c.Resources.Requests),
				Limits:   shippedResources(c.Resources.Limits),
			},
			// Set on native sidecars (init containers that keep running):
			// their restarts count in the pod's, as in kubectl.
			RestartPolicy: c.RestartPolicy,
		}
	}
	return out
}

// slimResources keeps of pod-level resources (spec.resources) the shipped
// ones; nil when none is set.
func slimResources(in *corev1.ResourceRequirements) *corev1.ResourceRequirements {
	if in == nil {
		return nil
	}
	out := corev1.ResourceRequirements{Requests: shippedResources(in.Requests), Limits: shippedResources(in.Limits)}
	if out.Requests == nil && out.Limits == nil {
		return nil
	}
	return &out
}

// shippedResources keeps the resources on the wire (wire.ResourceNames:
// cpu, memory, ephemeral-storage, pods), not extended ones.
func shippedResources(in corev1.ResourceList) corev1.ResourceList {
	var out corev1.ResourceList
	for _, name := range wire.ResourceNames {
		if q, ok := in[corev1.ResourceName(name)]; ok {
			if out == nil {
				out = make(corev1.ResourceList, len(in))
			}
			out[corev1.ResourceName(name)] = q
		}
	}
	return out
}

// slimStatuses keeps of each container status what the wire and the
// throttling reader use: name, readiness, restarts, started, the runtime's
// container ID, and the state and last termination without their
// messages (a termination message is up to 4 KiB). The image, image ID,
// and what recent kubelets add (resources, allocated resources, volume
// mounts, user) are dropped.
func slimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, st := range in {
		out[i] = corev1.ContainerStatus{
			Name:                 st.Name,
			Ready:                st.Ready,
			RestartCount:         st.RestartCount,
			Started:              st.Started,
			ContainerID:          st.ContainerID,
			State:                slimState(st.State),
			LastTerminationState: corev1.ContainerState{Terminated: slimTerminated(st.LastTerminationState.Terminated)},
		}
	}
	return out
}

func slimState(s corev1.ContainerState) corev1.ContainerState {
	out := corev1.ContainerState{Running: s.Running, Terminated: slimTerminated(s.Terminated)}
	if s.Waiting != nil {
		out.Waiting = &corev1.ContainerStateWaiting{Reason: s.Waiting.Reason}
	}
	return out
}

func slimTerminated(t *corev1.ContainerStateTerminated) *corev1.ContainerStateTerminated {
	if t == nil {
		return nil
	}
	return &corev1.ContainerStateTerminated{ExitCode: t.ExitCode, Reason: t.Reason, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt}
}

// slimPodConditions keeps Ready (on the wire) and Initialized (which
// decides whether init containers' restarts count), type and status only.
func slimPodConditions(in []corev1.PodCondition) []corev1.PodCondition {
	var out []corev1.PodCondition
	for _, c := range in {
		if c.Type == corev1.PodReady || c.Type == corev1.PodInitialized {
			out = append(out, corev1.PodCondition{Type: c.Type, Status: c.Status})
		}
	}
	return out
}

func slimNode(n *corev1.Node) *corev1.Node {
	out := &corev1.Node{
		TypeMeta:   n.TypeMeta,
		ObjectMeta: n.ObjectMeta,
		Spec: corev1.NodeSpec{
			Unschedulable: n.Spec.Unschedulable,
			Taints:        n.Spec.Taints,
		},
		Status: corev1.NodeStatus{
			Capacity:    n.Status.Capacity,
			Allocatable: n.Status.Allocatable,
			Addresses:   n.Status.Addresses,
			NodeInfo:    n.Status.NodeInfo,
			// The kubelet usage source derives its URL from the addresses,
			// this port and the metrics.k8s.io/resource-metrics-path
			// annotation (small, so kept below).
			DaemonEndpoints: n.Status.DaemonEndpoints,
		},
	}
	out.ManagedFields = nil
	out.Annotations = smallAnnotations(out.Annotations)
	// Heartbeat times change every few seconds; dropping them here keeps the
	// cached node, and so the wire record, unchanged between real changes.
	for _, c := range n.Status.Conditions {
		c.LastHeartbeatTime = metav1.Time{}
		c.Message = ""
		out.Status.Conditions = append(out.Status.Conditions, c)
	}
	// Images and volumes are large and not on the wire.
	return out
}
