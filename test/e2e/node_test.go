//go:build e2e

// Package e2e holds the tests that need the real node (test/node): root,
// `make node-tools node-images`, `make tools`. Run with `make test-e2e`.
package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/catops/cli/test/node"
)

// TestRealNodeRunsPodAndLeavesHostAsFound: host state → up → a box pod
// Running on the real kubelet → down → host state identical.
func TestRealNodeRunsPodAndLeavesHostAsFound(t *testing.T) {
	dir := nodeDir(t, "node-e2e")

	before, err := node.HostState()
	require.NoError(t, err)

	ctx := testContext(t, 5*time.Minute)
	t0 := time.Now()
	n, down := upNode(ctx, t, dir)
	tUp, tm := time.Since(t0), n.Timings

	t1 := time.Now()
	cs, err := kubernetes.NewForConfig(n.Cluster.RESTConfig())
	require.NoError(t, err)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "box", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:                      n.Name,
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "box", Image: "catops.local/box:1", Args: []string{"sleep"},
				ImagePullPolicy: corev1.PullNever,
			}},
		},
	}
	_, err = cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	var last *corev1.Pod
	require.Eventually(t, func() bool {
		last, err = cs.CoreV1().Pods("default").Get(ctx, "box", metav1.GetOptions{})
		return err == nil && last.Status.Phase == corev1.PodRunning
	}, 2*time.Minute, 100*time.Millisecond, "pod box not Running: %+v", func() any {
		if last == nil {
			return nil
		}
		return last.Status
	}())
	tPod := time.Since(t1)
	require.Len(t, last.Status.ContainerStatuses, 1)
	assert.True(t, last.Status.ContainerStatuses[0].Ready)
	// On the pod network: an address from the bridge's range.
	assert.Regexp(t, `^10\.244\.0\.\d+$`, last.Status.PodIP)
	assert.Equal(t, node.NodeIP, last.Status.HostIP)
	assert.Equal(t, n.Name, last.Spec.NodeName)
	tTest := time.Since(t1)

	t2 := time.Now()
	require.NoError(t, down())
	tDown := time.Since(t2)

	requireHostAsFound(t, before)
	t.Logf("TIMES up %.2fs (namespace %.2fs, control plane %.2fs, runtime+kubelet to Ready %.2fs), pod Running %.2fs, test %.2fs, down %.2fs",
		tUp.Seconds(), tm.Namespace.Seconds(), tm.ControlPlane.Seconds(), tm.Ready.Seconds(), tPod.Seconds(), tTest.Seconds(), tDown.Seconds())
}

// diffLines lists the lines only in a (-) or only in b (+).
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for l := range ma {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range mb {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
