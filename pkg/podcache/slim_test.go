package podcache

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/pkg/joiner"
	"github.com/catops/cli/pkg/legacy"
)

// onePod is a joiner.PodSource holding one pod.
type onePod struct{ p *corev1.Pod }

func (o onePod) TakeDirty() ([]string, bool)    { return nil, false }
func (o onePod) Pod(string) (*corev1.Pod, bool) { return o.p, true }
func (o onePod) Pods() []*corev1.Pod            { return []*corev1.Pod{o.p} }
func (o onePod) Node() (*corev1.Node, bool)     { return nil, false }
func wireOf(t *testing.T, p *corev1.Pod) []string {
	t.Helper()
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	evs, err := joiner.New(onePod{p}, func() time.Time { return at }).Snapshot("test")
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Data))
	}
	return out
}

// The slim pod gives the same wire record as the API's: slim drops only
// what the joiner does not ship. Pods in every state the record tells
// apart: running after a restart (a termination message), crash-looping
// (waiting with a message), terminated, a native sidecar and a finished
// init container, extended resources, owners that do not control it.
func TestSlimKeepsTheWireRecord(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC))
	always := corev1.ContainerRestartPolicyAlways
	crashing := apiPod()
	crashing.Status.ContainerStatuses[0].Ready = false
	crashing.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
		Message: "back-off 5m0s restarting failed container=web pod=web-5d8f7c9b4-x2x7q_shop"}}
	done := apiPod()
	done.Status.Phase = corev1.PodFailed
	done.Status.ContainerStatuses[1].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 137, Signal: 9, Reason: "OOMKilled", Message: "oom", StartedAt: now, FinishedAt: now, ContainerID: "containerd://x"}}
	sidecar := apiPod()
	sidecar.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}, {Name: "proxy", Image: "envoy", RestartPolicy: &always,
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"example.com/gpu": resource.MustParse("1"), corev1.ResourceCPU: resource.MustParse("1")}}}}
	sidecar.Status.InitContainerStatuses = []corev1.ContainerStatus{
		{Name: "init", ImageID: "x", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: now}}},
		{Name: "proxy", Started: new(true), RestartCount: 3, ContainerID: "containerd://p", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
	}
	owners := apiPod()
	owners.OwnerReferences = append([]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "not-the-controller"}}, owners.OwnerReferences...)
	orphan := apiPod()
	orphan.OwnerReferences = nil
	orphan.DeletionTimestamp = &now
	// Initializing: a run-once init container done, a sidecar not started
	// yet, one waiting; Initialized False (PodRestarts counts the init
	// containers' restarts then).
	initializing := apiPod()
	initializing.Spec.InitContainers = []corev1.Container{{Name: "migrate"}, {Name: "proxy", RestartPolicy: &always}, {Name: "wait-db"}}
	initializing.Status.InitContainerStatuses = []corev1.ContainerStatus{
		{Name: "migrate", RestartCount: 1, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", Message: "done"}}},
		{Name: "proxy", Started: new(false), RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
		{Name: "wait-db", RestartCount: 4, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
	}
	initializing.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionFalse, Reason: "ContainersNotInitialized"}}
	// Pending: one container without a status, one being created; a
	// priority; storage and pod-count resources.
	pending := apiPod()
	pending.Status.Phase = corev1.PodPending
	pending.Status.ContainerStatuses = pending.Status.ContainerStatuses[:1]
	pending.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	pending.Spec.Priority = new(int32(1000))
	pending.Spec.Containers[0].Resources.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse("1Gi")
	pending.Spec.Containers[0].Resources.Limits[corev1.ResourcePods] = resource.MustParse("2")
	pending.Spec.Containers[0].Resources.Limits["hugepages-2Mi"] = resource.MustParse("4Mi")
	// Pod-level resources, with an extended one (not shipped) and one
	// with extended resources only (slimmed to none).
	podLevel := apiPod()
	podLevel.Spec.Resources = &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m"), "example.com/gpu": resource.MustParse("1")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")}}
	extendedOnly := apiPod()
	extendedOnly.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}}
	// Evicted: the pod's own reason and message.
	evicted := apiPod()
	evicted.Status.Phase, evicted.Status.Reason, evicted.Status.Message = corev1.PodFailed, "Evicted", "The node was low on resource: memory."

	for name, p := range map[string]*corev1.Pod{"running": apiPod(), "crashing": crashing, "terminated": done, "sidecar": sidecar,
		"owners": owners, "orphan, deleting": orphan, "initializing": initializing, "pending": pending, "evicted": evicted,
		"pod-level resources": podLevel, "pod-level extended resources only": extendedOnly} {
		t.Run(name, func(t *testing.T) {
			want := wireOf(t, p.DeepCopy())
			s, err := slim(p.DeepCopy())
			require.NoError(t, err)
			slimmed := s.(*corev1.Pod)
			assert.Equal(t, want, wireOf(t, slimmed))
			if name == "running" { // the controller's apiVersion names the Deployment
				assert.Contains(t, strings.Join(want, ""), `"workload":{"api_version":"apps/v1","kind":"Deployment","name":"web"}`)
			}
			if name == "pod-level resources" {
				assert.Contains(t, strings.Join(want, ""), `"limits":{"cpu_millicores":500,"memory_bytes":268435456},"containers"`)
			}
			// The snapshot format's record too.
			at := func() time.Time { return now.Time }
			assert.Equal(t, legacy.NewBuilder("node-1", "catops", at).Build([]*corev1.Pod{p}, nil, nil),
				legacy.NewBuilder("node-1", "catops", at).Build([]*corev1.Pod{slimmed}, nil, nil))
			// Slimming a slim pod changes nothing (an informer's Replace
			// may hand the transform an object twice).
			again, err := slim(slimmed.DeepCopy())
			require.NoError(t, err)
			assert.Equal(t, slimmed, again)
		})
	}
}

// What the throttling reader and the usage sources read of the cache:
// the UID, the containers' runtime IDs and states, their CPU limits.
func TestSlimKeepsWhatThrottlingReads(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	p := apiPod()
	p.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("200m")
	p.Annotations["kubernetes.io/config.mirror"] = "0f8e2b6a1c3d4e5f60718293a4b5c6d7"
	p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: &always,
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", ContainerID: "containerd://sidecar",
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	s, err := slim(p.DeepCopy())
	require.NoError(t, err)
	out := s.(*corev1.Pod)
	assert.Equal(t, p.UID, out.UID)
	assert.Equal(t, "0f8e2b6a1c3d4e5f60718293a4b5c6d7", out.Annotations["kubernetes.io/config.mirror"], "a static pod's own UID")
	assert.Equal(t, resource.MustParse("200m"), out.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU])
	assert.Equal(t, resource.MustParse("100m"), out.Spec.InitContainers[0].Resources.Limits[corev1.ResourceCPU])
	require.NotNil(t, out.Spec.Resources)
	assert.Equal(t, resource.MustParse("1"), out.Spec.Resources.Limits[corev1.ResourceCPU], "the pod-level CPU limit")
	assert.Equal(t, "containerd://sidecar", out.Status.InitContainerStatuses[0].ContainerID)
	assert.NotNil(t, out.Status.InitContainerStatuses[0].State.Running)
	for i, st := range out.Status.ContainerStatuses {
		assert.Equal(t, p.Status.ContainerStatuses[i].ContainerID, st.ContainerID)
		assert.NotNil(t, st.State.Running)
		assert.Empty(t, st.LastTerminationState.Terminated.Message, "messages are dropped")
		assert.Nil(t, st.VolumeMounts)
		assert.Nil(t, st.Resources)
	}
}
