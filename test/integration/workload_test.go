//go:build integration

package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
	"github.com/catops/cli/test/rig"
)

// TestWorkloadNames: pods made by the rig's real controllers (a
// Deployment's ReplicaSet, a CronJob's Job, a StatefulSet) reach the
// receiver named after their workload, which the agent derives from the pod
// alone (it cannot read ReplicaSets or Jobs). The CronJob fires at the next
// full minute. The test runs its own cluster, with the controller-manager
// the shared one lacks.
func TestWorkloadNames(t *testing.T) {
	c := rig.StartT(t, rig.Options{Kwok: true, Nodes: 2, ControllerManager: true})
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	ns := "workloads"
	ensureNamespace(t, cs, ns)
	// The controller-manager gives the namespace its default ServiceAccount,
	// which the ServiceAccount admission wants before any pod of it.
	require.Eventually(t, func() bool {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "the namespace's default ServiceAccount")
	template := func(app string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
			Spec: corev1.PodSpec{NodeName: node2, RestartPolicy: corev1.RestartPolicyAlways,
				Containers: []corev1.Container{{Name: "main", Image: "example.invalid/app:1"}}},
		}
	}
	sel := func(app string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	}

	job := template("backup")
	job.Spec.RestartPolicy = corev1.RestartPolicyNever
	_, err = cs.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly-backup"},
		Spec: batchv1.CronJobSpec{Schedule: "* * * * *", ConcurrencyPolicy: batchv1.ForbidConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: job}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-api"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: sel("shop-api"), Template: template("shop-api")},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: sel("db"), Template: template("db")},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	a := startAgent(t, c.RESTConfig(), node2, nil)
	// workloads counts the receiver's pods of ns by workload "Kind/name";
	// a pod without one counts under "".
	workloads := func(st receiver.NodeState) map[string]int {
		out := map[string]int{}
		for _, p := range st.Pods {
			if p.Namespace != ns {
				continue
			}
			k := ""
			if p.Workload != nil {
				k = p.Workload.Kind + "/" + p.Workload.Name
			}
			out[k]++
		}
		return out
	}
	a.waitFor("the Deployment's and the StatefulSet's pods", 60*time.Second, func(st receiver.NodeState) bool {
		w := workloads(st)
		return w["Deployment/shop-api"] == 2 && w["StatefulSet/db"] == 1
	})
	a.waitFor("the CronJob's first pod (at the next full minute)", 100*time.Second, func(st receiver.NodeState) bool {
		return workloads(st)["CronJob/nightly-backup"] >= 1
	})

	st, ok := a.rcv.Node(node2)
	require.True(t, ok)
	assert.Zero(t, workloads(st)[""], "every pod of the namespace has a workload")
	for _, p := range st.Pods {
		if p.Namespace != ns || p.Workload == nil {
			continue
		}
		// The owner is still the controller the API names.
		truth, err := cs.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
		require.NoError(t, err)
		ref := metav1.GetControllerOf(truth)
		require.NotNil(t, ref, "pod %s", p.Name)
		assert.Equal(t, &wire.Owner{Kind: ref.Kind, Name: ref.Name}, p.Owner, "pod %s", p.Name)
	}
}
