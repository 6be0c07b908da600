// Package workload names the workload a pod belongs to from the pod alone:
// its controlling owner reference, its labels and its creation time. It
// reads no other object, so a node agent can name the Deployment or CronJob
// behind a pod without watching every ReplicaSet and Job of the cluster.
//
// The owners that are themselves owned are resolved by the names their
// controllers give them:
//   - a ReplicaSet (group apps) whose name is "<deployment>-<hash>", the hash
//     being the pod's pod-template-hash label, is the Deployment's (the
//     Deployment controller names its ReplicaSets so and labels their
//     pods); with the rollouts-pod-template-hash label instead, the Argo
//     Rollout's;
//   - a Job (group batch) whose name is "<cronjob>-<minutes>", the name at
//     most 52 characters (the CronJob name limit) and the minutes, the
//     scheduled time in minutes since the Unix epoch, not before 2015 and at
//     most 5 minutes (clock skew) after the pod was created, is the
//     CronJob's (the CronJob controller names its Jobs so).
//
// The result is a best-effort name: it follows the conventions, not the
// objects. A Job another controller names the same way is taken for a
// CronJob's, and a ReplicaSet orphaned by its Deployment or adopted by
// another keeps the name it was created with.
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

// Workload kinds this package derives, with their apiVersions.
const (
	KindDeployment = "Deployment"
	KindCronJob    = "CronJob"
	KindRollout    = "Rollout"

	APIVersionApps    = "apps/v1"
	APIVersionBatch   = "batch/v1"
	APIVersionRollout = "argoproj.io/v1alpha1"
)

// Labels the Deployment controller and Argo Rollouts put on the pods of
// each of their ReplicaSets, equal to the ReplicaSet's name suffix.
const (
	PodTemplateHashLabel         = "pod-template-hash"
	RolloutsPodTemplateHashLabel = "rollouts-pod-template-hash"
)

// Owner is a pod's controlling owner reference: its apiVersion ("apps/v1",
// "batch/v1", "v1", or a custom group's), kind and name.
type Owner struct {
	APIVersion string
	Kind       string
	Name       string
}

// Workload is the object that manages a pod, by apiVersion, kind and name,
// in the pod's namespace.
type Workload struct {
	APIVersion string
	Kind       string
	Name       string
}

// clockSkew is how far after the pod's creation a CronJob's scheduled time
// may lie: the CronJob controller's clock and the API server's, which
// stamps the pod, may differ by this much.
const clockSkew = 5 * time.Minute

// maxCronJobName is the longest CronJob name the API server accepts (52
// characters, so that its Jobs' names fit 63).
const maxCronJobName = 52

// earliestSchedule is the earliest scheduled time read from a Job's name as
// a CronJob's: CronJobs did not exist before 2015, and a smaller number is a
// Job's own numbering ("backup-2") or a random suffix, not a time.
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
	case group == "" && owner.Kind == "Node":
		return Workload{}, false
	case group == "apps" && owner.Kind == "ReplicaSet":
		if d, ok := prefix(owner.Name, labels[PodTemplateHashLabel]); ok {
			return Workload{APIVersion: APIVersionApps, Kind: KindDeployment, Name: d}, true
		}
		if r, ok := prefix(owner.Name, labels[RolloutsPodTemplateHashLabel]); ok {
			return Workload{APIVersion: APIVersionRollout, Kind: KindRollout, Name: r}, true
		}
	case group == "batch" && owner.Kind == "Job":
		if c, ok := cronJob(owner.Name, created); ok {
			return Workload{APIVersion: APIVersionBatch, Kind: KindCronJob, Name: c}, true
		}
	}
	return Workload{APIVersion: owner.APIVersion, Kind: owner.Kind, Name: owner.Name}, true
}

// apiGroup is the group of an apiVersion: "apps" of "apps/v1", "" of "v1".
func apiGroup(apiVersion string) string {
	if i := strings.LastIndexByte(apiVersion, '/'); i >= 0 {
		return apiVersion[:i]
	}
	return ""
}

// prefix is the workload a ReplicaSet named rs belongs to when its pods
// carry the template hash hash and rs is "<workload>-<hash>".
func prefix(rs, hash string) (string, bool) {
	if hash == "" {
		return "", false
	}
	name, found := strings.CutSuffix(rs, "-"+hash)
	return name, found && name != ""
}

// cronJob is the CronJob a Job named job belongs to when job is
// "<cronjob>-<minutes>", <cronjob> at most maxCronJobName characters and
// the minutes, as a time, between earliestSchedule and the pod's creation
// plus clockSkew. (An unknown, zero created is before earliestSchedule, so
// it vouches for nothing.)
func cronJob(job string, created time.Time) (string, bool) {
	i := strings.LastIndexByte(job, '-')
	if i <= 0 || i > maxCronJobName {
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
