package cluster

import (
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/pkg/wire"
	"github.com/catops/cli/pkg/workload"
)

// The workload kinds the reporter watches, with their API versions.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
	KindJob         = "Job"
	KindCronJob     = "CronJob"
)

func ref(apiVersion, kind string, m *metav1.ObjectMeta) wire.ObjectRef {
	return wire.ObjectRef{APIVersion: apiVersion, Kind: kind, Namespace: m.Namespace, Name: m.Name, UID: string(m.UID)}
}

func base(apiVersion, kind string, m *metav1.ObjectMeta) *wire.WorkloadStatus {
	return &wire.WorkloadStatus{
		ObjectRef:  ref(apiVersion, kind, m),
		Labels:     m.Labels,
		CreatedAt:  m.CreationTimestamp.UTC(),
		Generation: m.Generation,
	}
}

func i32(v int32) *int32 { return &v }

func replicas(p *int32) *int32 {
	if p == nil {
		return i32(1) // the API server's default
	}
	return i32(*p)
}

func since(t metav1.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// condition is the part of a status condition a record keeps; every
// workload kind has its own condition type with these fields.
type condition struct {
	typ, status, reason, message string
	since                        metav1.Time
}

// conditions converts a status's conditions (heartbeat times left out).
func conditions[C any](cs []C, of func(C) condition) []wire.Condition {
	var out []wire.Condition
	for _, c := range cs {
		x := of(c)
		out = append(out, wire.Condition{Type: x.typ, Status: x.status, Reason: x.reason, Message: x.message, Since: since(x.since)})
	}
	return out
}

// DeploymentRecord is the workload record of a Deployment.
func DeploymentRecord(d *appsv1.Deployment) *wire.WorkloadStatus {
	w := base("apps/v1", KindDeployment, &d.ObjectMeta)
	s := d.Status
	w.ObservedGeneration = s.ObservedGeneration
	w.Desired, w.Current = replicas(d.Spec.Replicas), i32(s.Replicas)
	w.Ready, w.Available, w.Updated = i32(s.ReadyReplicas), i32(s.AvailableReplicas), i32(s.UpdatedReplicas)
	w.Paused = d.Spec.Paused
	w.Conditions = conditions(s.Conditions, func(c appsv1.DeploymentCondition) condition {
		return condition{string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime}
	})
	return w
}

// StatefulSetRecord is the workload record of a StatefulSet.
func StatefulSetRecord(st *appsv1.StatefulSet) *wire.WorkloadStatus {
	w := base("apps/v1", KindStatefulSet, &st.ObjectMeta)
	s := st.Status
	w.ObservedGeneration = s.ObservedGeneration
	w.Desired, w.Current = replicas(st.Spec.Replicas), i32(s.Replicas)
	w.Ready, w.Available, w.Updated = i32(s.ReadyReplicas), i32(s.AvailableReplicas), i32(s.UpdatedReplicas)
	w.Conditions = conditions(s.Conditions, func(c appsv1.StatefulSetCondition) condition {
		return condition{string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime}
	})
	return w
}

// DaemonSetRecord is the workload record of a DaemonSet: desired is the
// nodes that should run its pod.
func DaemonSetRecord(ds *appsv1.DaemonSet) *wire.WorkloadStatus {
	w := base("apps/v1", KindDaemonSet, &ds.ObjectMeta)
	s := ds.Status
	w.ObservedGeneration = s.ObservedGeneration
	w.Desired, w.Current = i32(s.DesiredNumberScheduled), i32(s.CurrentNumberScheduled)
	w.Ready, w.Available, w.Updated = i32(s.NumberReady), i32(s.NumberAvailable), i32(s.UpdatedNumberScheduled)
	w.Conditions = conditions(s.Conditions, func(c appsv1.DaemonSetCondition) condition {
		return condition{string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime}
	})
	return w
}

// JobRecord is the workload record of a Job. A Job's status has no
// observed generation: it is its generation.
func JobRecord(j *batchv1.Job) *wire.WorkloadStatus {
	w := base("batch/v1", KindJob, &j.ObjectMeta)
	s := j.Status
	w.ObservedGeneration = j.Generation
	w.Active, w.Succeeded, w.Failed = i32(s.Active), i32(s.Succeeded), i32(s.Failed)
	if j.Spec.Completions != nil {
		w.Completions = i32(*j.Spec.Completions)
	}
	if s.Ready != nil {
		w.Ready = i32(*s.Ready)
	}
	w.Suspended = j.Spec.Suspend != nil && *j.Spec.Suspend
	if s.StartTime != nil {
		w.StartedAt = since(*s.StartTime)
	}
	if s.CompletionTime != nil {
		w.CompletedAt = since(*s.CompletionTime)
	}
	w.Conditions = conditions(s.Conditions, func(c batchv1.JobCondition) condition {
		return condition{string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime}
	})
	return w
}

// CronJobRecord is the workload record of a CronJob: active is the Jobs
// it runs now.
func CronJobRecord(cj *batchv1.CronJob) *wire.WorkloadStatus {
	w := base("batch/v1", KindCronJob, &cj.ObjectMeta)
	w.ObservedGeneration = cj.Generation
	w.Schedule = cj.Spec.Schedule
	w.Suspended = cj.Spec.Suspend != nil && *cj.Spec.Suspend
	w.Active = i32(int32(min(len(cj.Status.Active), 1<<30))) //nolint:gosec // bounded above
	if t := cj.Status.LastScheduleTime; t != nil {
		w.LastScheduleAt = since(*t)
	}
	if t := cj.Status.LastSuccessfulTime; t != nil {
		w.LastSuccessfulAt = since(*t)
	}
	return w
}

// PendingPodRecord is the record of a pod with no node.
func PendingPodRecord(p *corev1.Pod) *wire.PendingPod {
	r := &wire.PendingPod{
		PodRef:    wire.PodRef{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID)},
		CreatedAt: p.CreationTimestamp.UTC(),
		Phase:     string(p.Status.Phase),
	}
	if c := metav1.GetControllerOf(p); c != nil {
		if w, ok := workload.Of(&workload.Owner{APIVersion: c.APIVersion, Kind: c.Kind, Name: c.Name}, p.Labels, p.CreationTimestamp.Time); ok {
			r.Workload = &wire.Workload{APIVersion: w.APIVersion, Kind: w.Kind, Name: w.Name}
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			r.Reason, r.Message, r.Since = c.Reason, c.Message, since(c.LastTransitionTime)
		}
	}
	for _, g := range p.Spec.SchedulingGates {
		r.SchedulingGates = append(r.SchedulingGates, g.Name)
	}
	var cpu, mem int64
	var anyCPU, anyMem bool
	for _, c := range p.Spec.Containers {
		if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
			cpu, anyCPU = cpu+q.MilliValue(), true
		}
		if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
			mem, anyMem = mem+q.Value(), true
		}
	}
	if anyCPU || anyMem {
		r.Requests = &wire.Resources{}
		if anyCPU {
			r.Requests.CPUMillicores = &cpu
		}
		if anyMem {
			r.Requests.MemoryBytes = &mem
		}
	}
	if p.Spec.SchedulerName != "" && p.Spec.SchedulerName != corev1.DefaultSchedulerName {
		r.SchedulerName = p.Spec.SchedulerName
	}
	return r
}

// NamespaceRecord is the record of a namespace.
func NamespaceRecord(ns *corev1.Namespace) *wire.Namespace {
	return &wire.Namespace{Name: ns.Name, UID: string(ns.UID), Phase: string(ns.Status.Phase), Labels: ns.Labels, CreatedAt: ns.CreationTimestamp.UTC()}
}

// WarningRecord is the record of a Warning event. Count is the event's
// series count, else its count, and at least 1; LastSeen the latest of its
// series' last observation, last timestamp and event time.
func WarningRecord(e *corev1.Event) *wire.Warning {
	w := &wire.Warning{
		UID:       string(e.UID),
		Namespace: e.Namespace,
		Object: wire.ObjectRef{APIVersion: e.InvolvedObject.APIVersion, Kind: e.InvolvedObject.Kind,
			Namespace: e.InvolvedObject.Namespace, Name: e.InvolvedObject.Name, UID: string(e.InvolvedObject.UID)},
		Reason:  e.Reason,
		Message: e.Message,
		Source:  e.Source.Component,
		Host:    e.Source.Host,
		Count:   max(e.Count, 1),
	}
	if w.Source == "" {
		w.Source = e.ReportingController
	}
	if w.Host == "" {
		w.Host = e.ReportingInstance
	}
	first := e.FirstTimestamp.Time
	if first.IsZero() {
		first = e.EventTime.Time
	}
	if first.IsZero() {
		first = e.CreationTimestamp.Time
	}
	last := slices.MaxFunc([]time.Time{e.LastTimestamp.Time, e.EventTime.Time, first}, time.Time.Compare)
	if s := e.Series; s != nil {
		w.Count = max(w.Count, s.Count)
		if s.LastObservedTime.After(last) {
			last = s.LastObservedTime.Time
		}
	}
	w.FirstSeen, w.LastSeen = first.UTC(), last.UTC()
	return w
}

// NodeSummary counts nodes by their Ready condition, schedulability and
// kubelet version.
func NodeSummary(nodes []*corev1.Node) wire.NodeSummary {
	s := wire.NodeSummary{Count: len(nodes)}
	for _, n := range nodes {
		switch nodeReady(n) {
		case corev1.ConditionTrue:
			s.Ready++
		case corev1.ConditionFalse:
			s.NotReady++
		default:
			s.Unknown++
		}
		if n.Spec.Unschedulable {
			s.Unschedulable++
		}
		if v := strings.TrimSpace(n.Status.NodeInfo.KubeletVersion); v != "" {
			if s.KubeletVersions == nil {
				s.KubeletVersions = map[string]int{}
			}
			s.KubeletVersions[v]++
		}
	}
	return s
}

// nodeReady is the status of n's Ready condition ("" when it has none).
func nodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}
