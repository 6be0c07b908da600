package podcache

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// apiPod is a pod as the API server (v1.37) sends it for a typical
// Deployment replica: managed fields, kubectl's last-applied annotation,
// two containers with env and probes, the service account token volume,
// full status with what recent kubelets report of each container
// (resources, allocated resources, volume mounts, user), and one
// container's last run ended with a termination message.
func apiPod() *corev1.Pod {
	q := resource.MustParse
	now := metav1.NewTime(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	container := func(name string) corev1.Container {
		return corev1.Container{
			Name: name, Image: "registry.example/" + name + ":1.27",
			Env:   []corev1.EnvVar{{Name: "MODE", Value: "production"}, {Name: "LOG_LEVEL", Value: "info"}},
			Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: q("128Mi")},
			},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz"}}},
		}
	}
	status := func(name string) corev1.ContainerStatus {
		res := corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: q("128Mi")},
		}
		return corev1.ContainerStatus{Name: name, Ready: true, RestartCount: 1, Image: "registry.example/" + name + ":1.27",
			ImageID:     "registry.example/" + name + "@sha256:" + strings.Repeat("cd", 32),
			ContainerID: "containerd://" + strings.Repeat("ab", 32), Started: new(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error",
				Message: "panic: connection refused\n" + strings.Repeat("goroutine 1 [running]: main.main()\n", 20), StartedAt: now, FinishedAt: now,
				ContainerID: "containerd://" + strings.Repeat("ef", 32)}},
			AllocatedResources: res.Requests, Resources: &res,
			VolumeMounts: []corev1.VolumeMountStatus{{Name: "kube-api-access-x2x7q", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
				ReadOnly: true, RecursiveReadOnly: new(corev1.RecursiveReadOnlyDisabled)}},
			User: &corev1.ContainerUser{Linux: &corev1.LinuxContainerUser{UID: 1000, GID: 1000, SupplementalGroups: []int64{1000}}},
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "shop", Name: "web-5d8f7c9b4-x2x7q", UID: "0b5c1f3e-2d4a-4d7e-9a8b-1c2d3e4f5a6b",
			ResourceVersion: "123456", CreationTimestamp: now,
			Labels:       map[string]string{"app": "web", "tier": "frontend", "pod-template-hash": "5d8f7c9b4"},
			Annotations:  map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 4000)},
			GenerateName: "web-5d8f7c9b4-",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f7c9b4",
				UID: "1b5c1f3e-2d4a-4d7e-9a8b-1c2d3e4f5a6b", Controller: new(true), BlockOwnerDeletion: new(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, FieldsV1: metav1.NewFieldsV1(strings.Repeat("f", 2000))},
				{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", FieldsV1: metav1.NewFieldsV1(strings.Repeat("s", 2000))},
			},
		},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{container("web"), container("sidecar")}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: "10.0.0.4", PodIP: "10.244.1.17", StartTime: &now, QOSClass: corev1.PodQOSBurstable,
			HostIPs: []corev1.HostIP{{IP: "10.0.0.4"}}, PodIPs: []corev1.PodIP{{IP: "10.244.1.17"}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
			ContainerStatuses: []corev1.ContainerStatus{status("web"), status("sidecar")},
		},
	}
}

// BenchmarkSlim measures the informer's transform of one pod as it enters
// the cache (once per pod event). slim may modify its argument (the informer
// hands it a freshly decoded object), so each iteration gets a copy, made
// with the timer stopped.
func BenchmarkSlim(b *testing.B) {
	in := apiPod()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		p := in.DeepCopy()
		b.StartTimer()
		if _, err := slim(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSlimRetained is what one slim pod keeps on the heap while it is
// in the cache (the pods of apiPod's shape, 1,000 at once, after a GC):
// the largest part of the agent's memory that grows with the pods on its
// node. Reported as retained-bytes/pod.
func BenchmarkSlimRetained(b *testing.B) {
	const n = 1000
	var retained uint64
	for b.Loop() {
		b.StopTimer()
		var m0, m1 runtime.MemStats
		keep := make([]any, n)
		runtime.GC()
		runtime.ReadMemStats(&m0)
		in := make([]*corev1.Pod, n)
		for i := range in {
			in[i] = apiPod()
			in[i].Name = fmt.Sprintf("web-5d8f7c9b4-%05d", i)
		}
		b.StartTimer()
		for i, p := range in {
			s, err := slim(p)
			if err != nil {
				b.Fatal(err)
			}
			keep[i] = s
		}
		b.StopTimer()
		in = nil //nolint:ineffassign,wastedassign // the API objects are garbage now
		runtime.GC()
		runtime.ReadMemStats(&m1)
		retained = (m1.HeapAlloc - min(m0.HeapAlloc, m1.HeapAlloc)) / n
		runtime.KeepAlive(keep)
		b.StartTimer()
	}
	b.ReportMetric(float64(retained), "retained-bytes/pod")
}
