package wire

import "time"

// The cluster stream, catops.k8s-cluster/v1: what the cluster reporter
// (`catops-k8s cluster`, one sender per cluster at a time) sends. It has
// its own path, Content-Type and version, so a receiver that knows only the
// node stream never takes it for a node: it answers 404 (the path) or 415
// (the Content-Type). docs/protocol.md §9 is its specification.
const (
	// ClusterVersion names the cluster stream's protocol in every batch.
	ClusterVersion = "catops.k8s-cluster/v1"
	// ClusterPath is where cluster batches are POSTed.
	ClusterPath = "/api/cli/kubernetes/cluster"
	// ContentTypeCluster is the Content-Type of a cluster batch.
	ContentTypeCluster = "application/vnd.catops.k8s-cluster.v1+json"
)

// Stream is where a sender's batches go and how they are labelled.
type Stream struct {
	Version     string // the batch's "version"
	Path        string // appended to the backend URL
	ContentType string
	// Product is the sender's name in User-Agent (<product>/<version>).
	Product string
}

// The two delta streams: a node's (the DaemonSet agent) and the cluster's
// (the cluster reporter).
var (
	NodeStream    = Stream{Version: Version, Path: Path, ContentType: ContentTypeDelta, Product: "catops-k8s"}
	ClusterStream = Stream{Version: ClusterVersion, Path: ClusterPath, ContentType: ContentTypeCluster, Product: "catops-k8s-cluster"}
)

// The event types of catops.k8s-cluster/v1, besides snapshot_begin and
// snapshot_end, which mean there what they mean in the node stream: the
// state between them is the whole state of the cluster's workloads,
// pending pods and namespaces.
const (
	// EventWorkload carries the whole current record of one workload.
	EventWorkload EventType = "workload"
	// EventWorkloadDelete says a workload is gone.
	EventWorkloadDelete EventType = "workload_delete"
	// EventPendingPod carries the whole current record of a pod that has
	// no node.
	EventPendingPod EventType = "pending_pod"
	// EventPendingPodDelete says a pod no longer waits for a node: it was
	// bound to one (the node's agent now reports it) or deleted.
	EventPendingPodDelete EventType = "pending_pod_delete"
	// EventNamespace carries the record of one namespace.
	EventNamespace EventType = "namespace"
	// EventNamespaceDelete says a namespace is gone.
	EventNamespaceDelete EventType = "namespace_delete"
	// EventWarning carries one Warning event of the API server, with its
	// count so far: a repeated warning is sent again with a higher count,
	// at most once per collection interval.
	EventWarning EventType = "warning"
	// EventClusterSummary carries the cluster's version and node summary.
	EventClusterSummary EventType = "cluster"
)

// Leader says which cluster reporter sent a batch and under which lease
// term: a receiver refuses a batch whose epoch is lower than the highest it
// accepted recently (docs/protocol.md §9.3).
type Leader struct {
	// Identity is the lease holder's identity (the reporter pod's name).
	Identity string `json:"identity"`
	// Lease is the coordination.k8s.io Lease, "namespace/name".
	Lease string `json:"lease"`
	// Epoch is the Lease's leaseTransitions when this reporter took it:
	// it grows by one with every change of holder.
	Epoch int32 `json:"epoch"`
	// LeaseDurationSeconds is how long a holder's lease lasts unrenewed.
	LeaseDurationSeconds int32 `json:"lease_duration_seconds"`
}

// ClusterEvent is one event of the cluster stream. Exactly one payload
// field is set, the one its Type names.
type ClusterEvent struct {
	Type         EventType       `json:"type"`
	Time         time.Time       `json:"time"`
	Snapshot     *SnapshotMark   `json:"snapshot,omitempty"`
	Workload     *WorkloadStatus `json:"workload,omitempty"`
	WorkloadRef  *ObjectRef      `json:"workload_ref,omitempty"`
	PendingPod   *PendingPod     `json:"pending_pod,omitempty"`
	PodRef       *PodRef         `json:"pod_ref,omitempty"`
	Namespace    *Namespace      `json:"namespace,omitempty"`
	NamespaceRef *ObjectRef      `json:"namespace_ref,omitempty"`
	Warning      *Warning        `json:"warning,omitempty"`
	Cluster      *ClusterSummary `json:"cluster,omitempty"`
}

// ClusterBatch is a decoded cluster batch: Header carries Cluster, ClusterID
// and Leader instead of Node.
type ClusterBatch struct {
	Header
	Events []ClusterEvent `json:"events"`
}

// ObjectRef names one API object. Namespace is empty for cluster-scoped
// objects (namespaces).
type ObjectRef struct {
	APIVersion string `json:"api_version,omitempty"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
}

// WorkloadStatus is the slim record of a Deployment, StatefulSet,
// DaemonSet, Job or CronJob: what it wants and what it has, from its spec
// and status. A count the object's kind does not have is absent.
type WorkloadStatus struct {
	ObjectRef
	Labels    map[string]string `json:"labels,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	// Generation and ObservedGeneration: while they differ, the
	// controller has not yet acted on the latest spec.
	Generation         int64 `json:"generation"`
	ObservedGeneration int64 `json:"observed_generation"`
	// Replicas: spec.replicas of a Deployment or StatefulSet (1 when
	// unset), status.desiredNumberScheduled of a DaemonSet.
	Desired *int32 `json:"desired,omitempty"`
	// Current: status.replicas (Deployment, StatefulSet),
	// currentNumberScheduled (DaemonSet).
	Current   *int32 `json:"current,omitempty"`
	Ready     *int32 `json:"ready,omitempty"`
	Available *int32 `json:"available,omitempty"`
	Updated   *int32 `json:"updated,omitempty"`
	// Paused: a Deployment's spec.paused; Suspended: a Job's or
	// CronJob's spec.suspend.
	Paused    bool `json:"paused,omitempty"`
	Suspended bool `json:"suspended,omitempty"`
	// Job figures: status.active, succeeded, failed, and spec.completions
	// (absent: any one success completes it).
	Active      *int32     `json:"active,omitempty"`
	Succeeded   *int32     `json:"succeeded,omitempty"`
	Failed      *int32     `json:"failed,omitempty"`
	Completions *int32     `json:"completions,omitempty"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	// CronJob figures: spec.schedule and the status's times.
	Schedule         string     `json:"schedule,omitempty"`
	LastScheduleAt   *time.Time `json:"last_schedule_at,omitempty"`
	LastSuccessfulAt *time.Time `json:"last_successful_at,omitempty"`
	// Conditions are the status conditions (a stuck rollout is Progressing
	// False with reason ProgressDeadlineExceeded; a failed Job is Failed
	// True). Heartbeat times are left out.
	Conditions []Condition `json:"conditions,omitempty"`
}

// Condition is one status condition of a workload or pod.
type Condition struct {
	Type    string     `json:"type"`
	Status  string     `json:"status"`
	Reason  string     `json:"reason,omitempty"`
	Message string     `json:"message,omitempty"`
	Since   *time.Time `json:"since,omitempty"`
}

// PendingPod is a pod with no node: the scheduler has not placed it
// (yet). Its PodScheduled condition says why.
type PendingPod struct {
	PodRef
	Workload  *Workload `json:"workload,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Phase is the pod's phase (Pending; Failed when evicted before
	// binding).
	Phase string `json:"phase"`
	// Reason and Message are the PodScheduled condition's when it is
	// False (Unschedulable, SchedulingGated), Since when it became so.
	Reason  string     `json:"reason,omitempty"`
	Message string     `json:"message,omitempty"`
	Since   *time.Time `json:"since,omitempty"`
	// SchedulingGates are spec.schedulingGates' names.
	SchedulingGates []string `json:"scheduling_gates,omitempty"`
	// Requests are the sum of the containers' requests (cpu and memory),
	// what the scheduler looks for.
	Requests *Resources `json:"requests,omitempty"`
	// SchedulerName is spec.schedulerName when not default-scheduler.
	SchedulerName string `json:"scheduler_name,omitempty"`
}

// Namespace is the record of one namespace.
type Namespace struct {
	Name      string            `json:"name"`
	UID       string            `json:"uid,omitempty"`
	Phase     string            `json:"phase"`
	Labels    map[string]string `json:"labels,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

// Warning is one Warning event (events.k8s.io/v1 or core/v1 Event): what
// happened to which object, how often and when.
type Warning struct {
	// UID is the Event object's: a warning sent again (a higher count)
	// has the same UID.
	UID       string    `json:"uid"`
	Namespace string    `json:"namespace,omitempty"`
	Object    ObjectRef `json:"object"`
	Reason    string    `json:"reason"`
	Message   string    `json:"message,omitempty"`
	// Source is the component that reported it (kubelet, default-scheduler).
	Source string `json:"source,omitempty"`
	// Host is the node the reporting component runs on, when it says.
	Host string `json:"host,omitempty"`
	// Count is how many times it happened so far (at least 1).
	Count     int32     `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// ClusterSummary is the cluster as a whole: its version and its nodes.
type ClusterSummary struct {
	// KubernetesVersion is the API server's gitVersion (GET /version, read
	// once when the reporter starts leading).
	KubernetesVersion string      `json:"kubernetes_version,omitempty"`
	Nodes             NodeSummary `json:"nodes"`
}

// NodeSummary counts the cluster's nodes by their Ready condition and
// kubelet version.
type NodeSummary struct {
	Count    int `json:"count"`
	Ready    int `json:"ready"`
	NotReady int `json:"not_ready"`
	// Unknown: Ready Unknown (the node stopped reporting) or no Ready
	// condition yet.
	Unknown       int `json:"unknown"`
	Unschedulable int `json:"unschedulable"`
	// KubeletVersions counts nodes by kubelet version.
	KubeletVersions map[string]int `json:"kubelet_versions,omitempty"`
}
