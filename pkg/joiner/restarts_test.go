package joiner

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// restartsPod builds a pod with the given init containers (name → sidecar),
// their statuses, the app statuses and the Initialized condition.
func restartsPod(initSpec []corev1.Container, initStatus, appStatus []corev1.ContainerStatus, initialized corev1.ConditionStatus) *corev1.Pod {
	p := testPod("ns", "p", corev1.PodRunning)
	p.Spec.InitContainers = initSpec
	p.Status.InitContainerStatuses = initStatus
	p.Status.ContainerStatuses = appStatus
	if initialized != "" {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodInitialized, Status: initialized})
	}
	return p
}

func sidecar(name string) corev1.Container {
	return corev1.Container{Name: name, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}
}

func runOnce(name string) corev1.Container { return corev1.Container{Name: name} }

func running(name string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, RestartCount: restarts, Started: ptr.To(true), Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func completed(name string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, RestartCount: restarts,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}
}

func waiting(name, reason string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, RestartCount: restarts, Started: ptr.To(false),
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

// TestRestartCountMatchesKubectl: restart_count is what kubectl's RESTARTS
// column shows for the same pod, in every phase of initialization.
func TestRestartCountMatchesKubectl(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want int32
	}{
		{"native sidecar restarts count beside the app's",
			restartsPod([]corev1.Container{sidecar("proxy")},
				[]corev1.ContainerStatus{running("proxy", 7)},
				[]corev1.ContainerStatus{running("app", 2)}, corev1.ConditionTrue), 9},
		{"Init:CrashLoopBackOff counts the init container's restarts",
			restartsPod([]corev1.Container{runOnce("migrate")},
				[]corev1.ContainerStatus{waiting("migrate", "CrashLoopBackOff", 12)},
				[]corev1.ContainerStatus{waiting("app", "PodInitializing", 0)}, corev1.ConditionFalse), 12},
		{"init restarts up to the one that holds the pod up",
			restartsPod([]corev1.Container{runOnce("fetch"), runOnce("migrate"), runOnce("never")},
				[]corev1.ContainerStatus{completed("fetch", 1), waiting("migrate", "CrashLoopBackOff", 4), waiting("never", "PodInitializing", 9)},
				[]corev1.ContainerStatus{waiting("app", "PodInitializing", 0)}, corev1.ConditionFalse), 5},
		{"finished run-once init containers no longer count",
			restartsPod([]corev1.Container{runOnce("migrate")},
				[]corev1.ContainerStatus{completed("migrate", 3)},
				[]corev1.ContainerStatus{running("app", 2), running("log", 1)}, corev1.ConditionTrue), 3},
		{"a sidecar that has not started yet holds the pod up",
			restartsPod([]corev1.Container{runOnce("fetch"), sidecar("proxy")},
				[]corev1.ContainerStatus{completed("fetch", 2), waiting("proxy", "CrashLoopBackOff", 5)},
				[]corev1.ContainerStatus{waiting("app", "PodInitializing", 0)}, corev1.ConditionFalse), 7},
		{"Initialized True wins over a stale init status",
			restartsPod([]corev1.Container{runOnce("migrate")},
				[]corev1.ContainerStatus{waiting("migrate", "CrashLoopBackOff", 6)},
				[]corev1.ContainerStatus{running("app", 1)}, corev1.ConditionTrue), 1},
		{"no statuses yet",
			restartsPod([]corev1.Container{sidecar("proxy")}, nil, nil, ""), 0},
		{"no init containers",
			restartsPod(nil, nil, []corev1.ContainerStatus{running("app", 4), running("b", 5)}, ""), 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, podRecord(tc.pod).RestartCount)
		})
	}
}

func TestInitContainerRecordsMarkSidecars(t *testing.T) {
	p := restartsPod([]corev1.Container{runOnce("migrate"), sidecar("proxy")},
		[]corev1.ContainerStatus{completed("migrate", 0), running("proxy", 0)},
		[]corev1.ContainerStatus{running("app", 0)}, corev1.ConditionTrue)
	rec := podRecord(p)
	assert.False(t, rec.InitContainers[0].Sidecar)
	assert.True(t, rec.InitContainers[1].Sidecar)
	assert.False(t, rec.Containers[0].Sidecar)

	// An app container with restartPolicy Always (a per-container restart
	// rule) is not a sidecar.
	p.Spec.Containers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	assert.False(t, podRecord(p).Containers[0].Sidecar)
}
