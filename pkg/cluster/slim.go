package cluster

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// slim is the informers' transform: it keeps of each object only what its
// record reads (and what an informer needs: name, namespace, UID,
// resourceVersion), so that the caches of a large cluster stay small. A
// Deployment's pod template, the largest part of it, is never kept.
func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &appsv1.Deployment{ObjectMeta: meta(&o.ObjectMeta, true),
			Spec:   appsv1.DeploymentSpec{Replicas: o.Spec.Replicas, Paused: o.Spec.Paused},
			Status: o.Status}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{ObjectMeta: meta(&o.ObjectMeta, true),
			Spec:   appsv1.StatefulSetSpec{Replicas: o.Spec.Replicas},
			Status: o.Status}, nil
	case *appsv1.DaemonSet:
		return &appsv1.DaemonSet{ObjectMeta: meta(&o.ObjectMeta, true), Status: o.Status}, nil
	case *batchv1.Job:
		return &batchv1.Job{ObjectMeta: meta(&o.ObjectMeta, true),
			Spec: batchv1.JobSpec{Completions: o.Spec.Completions, Suspend: o.Spec.Suspend},
			Status: batchv1.JobStatus{Conditions: o.Status.Conditions, StartTime: o.Status.StartTime, CompletionTime: o.Status.CompletionTime,
				Active: o.Status.Active, Succeeded: o.Status.Succeeded, Failed: o.Status.Failed, Ready: o.Status.Ready}}, nil
	case *batchv1.CronJob:
		return &batchv1.CronJob{ObjectMeta: meta(&o.ObjectMeta, true),
			Spec: batchv1.CronJobSpec{Schedule: o.Spec.Schedule, Suspend: o.Spec.Suspend},
			Status: batchv1.CronJobStatus{Active: make([]corev1.ObjectReference, len(o.Status.Active)),
				LastScheduleTime: o.Status.LastScheduleTime, LastSuccessfulTime: o.Status.LastSuccessfulTime}}, nil
	case *corev1.Pod:
		m := meta(&o.ObjectMeta, true)
		m.OwnerReferences = nil
		if c := metav1.GetControllerOf(o); c != nil {
			m.OwnerReferences = []metav1.OwnerReference{*c}
		}
		p := &corev1.Pod{ObjectMeta: m,
			Spec:   corev1.PodSpec{NodeName: o.Spec.NodeName, SchedulerName: o.Spec.SchedulerName, SchedulingGates: o.Spec.SchedulingGates},
			Status: corev1.PodStatus{Phase: o.Status.Phase}}
		for _, c := range o.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				p.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime}}
			}
		}
		for _, c := range o.Spec.Containers {
			r := corev1.ResourceList{}
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := c.Resources.Requests[name]; ok {
					r[name] = q
				}
			}
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Resources: corev1.ResourceRequirements{Requests: r}})
		}
		return p, nil
	case *corev1.Namespace:
		return &corev1.Namespace{ObjectMeta: meta(&o.ObjectMeta, true), Status: corev1.NamespaceStatus{Phase: o.Status.Phase}}, nil
	case *corev1.Node:
		n := &corev1.Node{ObjectMeta: meta(&o.ObjectMeta, false), Spec: corev1.NodeSpec{Unschedulable: o.Spec.Unschedulable}}
		n.Status.NodeInfo.KubeletVersion = o.Status.NodeInfo.KubeletVersion
		for _, c := range o.Status.Conditions {
			if c.Type == corev1.NodeReady {
				n.Status.Conditions = []corev1.NodeCondition{{Type: c.Type, Status: c.Status}}
			}
		}
		return n, nil
	case *corev1.Event:
		return &corev1.Event{ObjectMeta: meta(&o.ObjectMeta, false),
			InvolvedObject: o.InvolvedObject, Reason: o.Reason, Message: o.Message, Source: o.Source, Count: o.Count,
			FirstTimestamp: o.FirstTimestamp, LastTimestamp: o.LastTimestamp, EventTime: o.EventTime, Series: o.Series,
			Type: o.Type, ReportingController: o.ReportingController, ReportingInstance: o.ReportingInstance}, nil
	}
	return obj, nil // a tombstone, or a type the reporter does not watch
}

// meta keeps the object metadata a record reads: no annotations, no
// managed fields, no finalizers.
func meta(m *metav1.ObjectMeta, labels bool) metav1.ObjectMeta {
	out := metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, CreationTimestamp: m.CreationTimestamp, OwnerReferences: m.OwnerReferences}
	if labels {
		out.Labels = m.Labels
	}
	return out
}
