package wire

import "time"

// PodRef names a pod. Pods are keyed by namespace and name, as in the API
// server and the Metrics API; UID tells a re-created pod of the same name
// apart.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

// Pod is the slim record of one pod on the node.
type Pod struct {
	PodRef
	Labels map[string]string `json:"labels,omitempty"`
	Owner  *Owner            `json:"owner,omitempty"`
	// Workload is the object that manages the pod, named from the pod
	// alone by its controllers' naming conventions (pkg/workload, a
	// best-effort name): the Deployment of its ReplicaSet, the CronJob of
	// its Job, otherwise its controller. Absent: no controller, or a static
	// pod (owned by its Node). Optional (v1 receivers ignore it).
	Workload *Workload `json:"workload,omitempty"`
	Phase    string    `json:"phase"`
	Reason   string    `json:"reason,omitempty"`
	Ready    bool      `json:"ready"`
	PodIP    string    `json:"pod_ip,omitempty"`
	HostIP   string    `json:"host_ip,omitempty"`
	QOSClass string    `json:"qos_class,omitempty"`
	Priority *int32    `json:"priority,omitempty"`
	// CreatedAt is metadata.creationTimestamp; StartedAt is status.startTime.
	CreatedAt time.Time  `json:"created_at"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	// DeletingSince is set once deletion was requested (the pod is
	// terminating): metadata.deletionTimestamp.
	DeletingSince *time.Time `json:"deleting_since,omitempty"`
	// RestartCount is the pod's restarts as kubectl's RESTARTS column shows
	// them: once the pod is initialized, the app containers' plus the
	// native sidecars'; while it is initializing, the init containers' up
	// to the one that holds it up.
	RestartCount int32 `json:"restart_count"`
	// Requests and Limits are the pod-level resources (spec.resources,
	// Kubernetes' pod-level resources): what the pod's containers share,
	// beside each container's own. Absent when the spec sets none.
	// Optional (v1 receivers ignore them).
	Requests       *Resources  `json:"requests,omitempty"`
	Limits         *Resources  `json:"limits,omitempty"`
	Containers     []Container `json:"containers"`
	InitContainers []Container `json:"init_containers,omitempty"`
}

// Owner is the controlling owner reference of a pod.
type Owner struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Workload names the object that manages a pod, in the pod's namespace:
// its apiVersion ("apps/v1", "batch/v1", a custom group's), and its kind,
// Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet,
// ReplicationController, Rollout (Argo Rollouts) or a custom resource's.
type Workload struct {
	APIVersion string `json:"api_version,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

// Container states.
const (
	StateWaiting    = "waiting"
	StateRunning    = "running"
	StateTerminated = "terminated"
	StateUnknown    = "unknown"
)

// Container is one container of a pod, from its spec and its status.
type Container struct {
	Name         string `json:"name"`
	Image        string `json:"image,omitempty"`
	Ready        bool   `json:"ready"`
	RestartCount int32  `json:"restart_count"`
	// State is waiting, running, terminated or unknown (no status yet).
	State string `json:"state"`
	// Reason is the waiting or terminated reason (CrashLoopBackOff,
	// ImagePullBackOff, OOMKilled, Completed, Error…).
	Reason   string `json:"reason,omitempty"`
	ExitCode *int32 `json:"exit_code,omitempty"`
	// Since is when the container started running or terminated.
	Since           *time.Time   `json:"since,omitempty"`
	LastTermination *Termination `json:"last_termination,omitempty"`
	Requests        *Resources   `json:"requests,omitempty"`
	Limits          *Resources   `json:"limits,omitempty"`
	// Sidecar marks a native sidecar: an init container with
	// restartPolicy Always, which keeps running beside the app containers.
	Sidecar bool `json:"sidecar,omitempty"`
}

// Termination is how a container's previous run ended.
type Termination struct {
	Reason     string     `json:"reason,omitempty"`
	ExitCode   int32      `json:"exit_code"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// ResourceNames are the Kubernetes resource names Resources carries, one
// per field in order: of containers' requests and limits, the pod cache
// keeps only these.
var ResourceNames = []string{"cpu", "memory", "ephemeral-storage", "pods"}

// Resources is a set of resource quantities; an absent field is not set.
type Resources struct {
	CPUMillicores         *int64 `json:"cpu_millicores,omitempty"`
	MemoryBytes           *int64 `json:"memory_bytes,omitempty"`
	EphemeralStorageBytes *int64 `json:"ephemeral_storage_bytes,omitempty"`
	Pods                  *int64 `json:"pods,omitempty"`
}

// Node is the slim record of the node object the agent runs on.
type Node struct {
	Name             string            `json:"name"`
	UID              string            `json:"uid,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Unschedulable    bool              `json:"unschedulable,omitempty"`
	Taints           []Taint           `json:"taints,omitempty"`
	Capacity         Resources         `json:"capacity"`
	Allocatable      Resources         `json:"allocatable"`
	Conditions       []NodeCondition   `json:"conditions,omitempty"`
	InternalIP       string            `json:"internal_ip,omitempty"`
	KubeletVersion   string            `json:"kubelet_version,omitempty"`
	ContainerRuntime string            `json:"container_runtime,omitempty"`
	OSImage          string            `json:"os_image,omitempty"`
	KernelVersion    string            `json:"kernel_version,omitempty"`
	Architecture     string            `json:"architecture,omitempty"`
	CreatedAt        time.Time         `json:"created_at"`
}

// Taint is a node taint (its value is left out: it can hold anything).
type Taint struct {
	Key    string `json:"key"`
	Effect string `json:"effect"`
}

// NodeCondition is one node condition. Heartbeat times are left out on
// purpose: they change every few seconds and would make every node record
// look new.
type NodeCondition struct {
	Type   string     `json:"type"`
	Status string     `json:"status"`
	Reason string     `json:"reason,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
}
