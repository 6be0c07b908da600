// Package workload names the workload a pod belongs to from the pod alone:
// its controlling owner reference, its labels and its creation time. It
// reads no other object, so a node agent can name the Deployment or CronJob
// behind a pod without watching every ReplicaSet and Job of the cluster.
//
// The two owners that are themselves owned are resolved by the names their
// controllers give them:
//   - a ReplicaSet whose name is "<deployment>-<pod-template-hash>", the hash
//     being the pod's pod-template-hash label, is the Deployment's (the
//     Deployment controller names its ReplicaSets so and labels their pods);
//   - a Job whose name is "<cronjob>-<minutes>", the minutes being the
//     scheduled time in minutes since the Unix epoch, at or before the pod
//     was created and not before 2015, is the CronJob's (the CronJob
//     controller names its Jobs so).
//
// Any other controller (StatefulSet, DaemonSet, ReplicationController, a
// bare ReplicaSet or Job, a custom resource) is the workload itself. A pod
// without a controller, or whose controller is its Node (a static pod's
// mirror), has none.
package workload

import (
	"strconv"
	"strings"
	"time"
)

// Kinds this package derives or passes through.
const (
	KindDeployment  = "Deployment"
	KindReplicaSet  = "ReplicaSet"
	KindCronJob     = "CronJob"
	KindJob         = "Job"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
	KindNode        = "Node"
)

// PodTemplateHashLabel is the label the Deployment controller puts on the
// pods of each of its ReplicaSets, equal to the ReplicaSet's name suffix.
const PodTemplateHashLabel = "pod-template-hash"

// Owner is a pod's controlling owner reference: its apiVersion ("apps/v1",
// "batch/v1", "v1", or a custom group's), kind and name.
type Owner struct {
	APIVersion string
	Kind       string
	Name       string
}

// Workload is the object that manages a pod, by kind and name, in the pod's
// namespace.
type Workload struct {
	Kind string
	Name string
}

// clockSkew is how far after the pod's creation a CronJob's scheduled time
// may lie: the CronJob controller's clock and the API server's, which
// stamps the pod, may differ by this much.
const clockSkew = 5 * time.Minute

// earliestSchedule is the earliest scheduled time read from a Job's name as
// a CronJob's: CronJobs did not exist before 2015, and a smaller number is a
// Job's own numbering ("backup-2"), not a time.
var earliestSchedule = time.Date(2015, time.January, 1, 0, 0, 0, 0, time.UTC)

// Of returns the workload of a pod whose controlling owner is owner (nil:
// none), with the pod's labels and creation time; ok is false when the pod
// has no workload (no controller, or a Node).
func Of(owner *Owner, labels map[string]string, created time.Time) (w Workload, ok bool) {
	if owner == nil || owner.Name == "" || owner.Kind == "" {
		return Workload{}, false
	}
	group := apiGroup(owner.APIVersion)
	switch {
	case group == "" && owner.Kind == KindNode:
		return Workload{}, false
	case group == "apps" && owner.Kind == KindReplicaSet:
		if d, ok := deployment(owner.Name, labels[PodTemplateHashLabel]); ok {
			return Workload{Kind: KindDeployment, Name: d}, true
		}
	case group == "batch" && owner.Kind == KindJob:
		if c, ok := cronJob(owner.Name, created); ok {
			return Workload{Kind: KindCronJob, Name: c}, true
		}
	}
	return Workload{Kind: owner.Kind, Name: owner.Name}, true
}

// apiGroup is the group of an apiVersion: "apps" of "apps/v1", "" of "v1".
func apiGroup(apiVersion string) string {
	if i := strings.LastIndexByte(apiVersion, '/'); i >= 0 {
		return apiVersion[:i]
	}
	return ""
}

// deployment is the Deployment a ReplicaSet named rs belongs to when its
// pods carry pod-template-hash hash and rs is "<deployment>-<hash>".
func deployment(rs, hash string) (string, bool) {
	if hash == "" {
		return "", false
	}
	name, found := strings.CutSuffix(rs, "-"+hash)
	return name, found && name != ""
}

// cronJob is the CronJob a Job named job belongs to when job is
// "<cronjob>-<minutes>" and the minutes, as a time, lie between
// earliestSchedule and the pod's creation (plus clockSkew). A zero created
// (unknown) vouches for nothing.
func cronJob(job string, created time.Time) (string, bool) {
	i := strings.LastIndexByte(job, '-')
	if i <= 0 || created.IsZero() {
		return "", false
	}
	digits := job[i+1:]
	if digits == "" || digits[0] == '0' || strings.TrimLeft(digits, "0123456789") != "" {
		return "", false // the controller prints the bare number, unpadded
	}
	minutes, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || minutes > created.Add(clockSkew).Unix()/60 {
		return "", false
	}
	if time.Unix(minutes*60, 0).Before(earliestSchedule) {
		return "", false
	}
	return job[:i], true
}
