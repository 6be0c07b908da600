package workload

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// created is a pod's creation time in the cases below; scheduled is the
// minute its CronJob's Job was scheduled for, 10 s before.
var (
	created   = time.Date(2026, time.November, 30, 15, 0, 10, 0, time.UTC)
	scheduled = created.Add(-10*time.Second).Unix() / 60
)

// jobAt is the name the CronJob controller gives CronJob c's Job scheduled
// at t.
func jobAt(t time.Time) string { return fmt.Sprintf("c-%d", t.Unix()/60) }

func TestOf(t *testing.T) {
	cron := fmt.Sprintf("nightly-backup-%d", scheduled)
	for _, c := range []struct {
		name    string
		owner   *Owner
		labels  map[string]string
		created time.Time
		want    Workload
		none    bool
	}{
		{name: "no controller", owner: nil, none: true},
		{name: "an empty reference", owner: &Owner{APIVersion: "apps/v1"}, none: true},
		{name: "a static pod's mirror", owner: &Owner{APIVersion: "v1", Kind: "Node", Name: "node-1"}, none: true},

		{name: "a Deployment's pod", owner: &Owner{"apps/v1", "ReplicaSet", "web-5d8f7c9b4"},
			labels: map[string]string{"pod-template-hash": "5d8f7c9b4"}, want: Workload{"apps/v1", "Deployment", "web"}},
		{name: "a Deployment named with dashes", owner: &Owner{"apps/v1", "ReplicaSet", "shop-api-v2-59688fbb46"},
			labels: map[string]string{"pod-template-hash": "59688fbb46"}, want: Workload{"apps/v1", "Deployment", "shop-api-v2"}},
		{name: "a bare ReplicaSet (no hash label)", owner: &Owner{"apps/v1", "ReplicaSet", "web-5d8f7c9b4"},
			want: Workload{"apps/v1", "ReplicaSet", "web-5d8f7c9b4"}},
		{name: "a ReplicaSet whose name does not end with the hash", owner: &Owner{"apps/v1", "ReplicaSet", "web"},
			labels: map[string]string{"pod-template-hash": "5d8f7c9b4"}, want: Workload{"apps/v1", "ReplicaSet", "web"}},
		{name: "a ReplicaSet named only by the hash", owner: &Owner{"apps/v1", "ReplicaSet", "-5d8f7c9b4"},
			labels: map[string]string{"pod-template-hash": "5d8f7c9b4"}, want: Workload{"apps/v1", "ReplicaSet", "-5d8f7c9b4"}},
		{name: "a custom group's ReplicaSet", owner: &Owner{"example.com/v1", "ReplicaSet", "web-5d8f7c9b4"},
			labels: map[string]string{"pod-template-hash": "5d8f7c9b4"}, want: Workload{"example.com/v1", "ReplicaSet", "web-5d8f7c9b4"}},
		{name: "an Argo Rollout's ReplicaSet", owner: &Owner{"apps/v1", "ReplicaSet", "web-6c54bd5869"},
			labels: map[string]string{"rollouts-pod-template-hash": "6c54bd5869"}, want: Workload{"argoproj.io/v1alpha1", "Rollout", "web"}},
		{name: "an OpenKruise StatefulSet (its group kept)", owner: &Owner{"apps.kruise.io/v1beta1", "StatefulSet", "db"},
			want: Workload{"apps.kruise.io/v1beta1", "StatefulSet", "db"}},

		{name: "a CronJob's pod", owner: &Owner{"batch/v1", "Job", cron}, created: created,
			want: Workload{"batch/v1", "CronJob", "nightly-backup"}},
		{name: "a CronJob's pod created long after the schedule (retries)", owner: &Owner{"batch/v1", "Job", cron},
			created: created.Add(72 * time.Hour), want: Workload{"batch/v1", "CronJob", "nightly-backup"}},
		{name: "a schedule 5 minutes after the pod's creation (clock skew)", owner: &Owner{"batch/v1", "Job", jobAt(created.Add(5 * time.Minute))},
			created: created, want: Workload{"batch/v1", "CronJob", "c"}},
		{name: "a Job numbered 6 minutes after the pod's creation", owner: &Owner{"batch/v1", "Job", jobAt(created.Add(6 * time.Minute))},
			created: created, want: Workload{"batch/v1", "Job", jobAt(created.Add(6 * time.Minute))}},
		{name: "a Job numbered the first minute of 2015", owner: &Owner{"batch/v1", "Job", jobAt(earliestSchedule)}, created: created,
			want: Workload{"batch/v1", "CronJob", "c"}},
		{name: "a Job numbered the last minute of 2014", owner: &Owner{"batch/v1", "Job", jobAt(earliestSchedule.Add(-time.Minute))}, created: created,
			want: Workload{"batch/v1", "Job", jobAt(earliestSchedule.Add(-time.Minute))}},
		{name: "a Job with a small number", owner: &Owner{"batch/v1", "Job", "migrate-2"}, created: created,
			want: Workload{"batch/v1", "Job", "migrate-2"}},
		{name: "a Job of another group named like a CronJob's", owner: &Owner{"batch.volcano.sh/v1alpha1", "Job", cron}, created: created,
			want: Workload{"batch.volcano.sh/v1alpha1", "Job", cron}},
		{name: "a prefix of 52 characters (the CronJob name limit)", owner: &Owner{"batch/v1", "Job", fmt.Sprintf("%s-%d", strings.Repeat("a", 52), scheduled)},
			created: created, want: Workload{"batch/v1", "CronJob", strings.Repeat("a", 52)}},
		{name: "a prefix of 53 characters", owner: &Owner{"batch/v1", "Job", fmt.Sprintf("%s-%d", strings.Repeat("a", 53), scheduled)},
			created: created, want: Workload{"batch/v1", "Job", fmt.Sprintf("%s-%d", strings.Repeat("a", 53), scheduled)}},
		{name: "a zero-padded number", owner: &Owner{"batch/v1", "Job", fmt.Sprintf("c-0%d", scheduled)}, created: created,
			want: Workload{"batch/v1", "Job", fmt.Sprintf("c-0%d", scheduled)}},
		{name: "a signed number", owner: &Owner{"batch/v1", "Job", fmt.Sprintf("c-+%d", scheduled)}, created: created,
			want: Workload{"batch/v1", "Job", fmt.Sprintf("c-+%d", scheduled)}},
		{name: "a Job with no name before the number", owner: &Owner{"batch/v1", "Job", fmt.Sprintf("-%d", scheduled)}, created: created,
			want: Workload{"batch/v1", "Job", fmt.Sprintf("-%d", scheduled)}},
		{name: "a Job with a word after the dash", owner: &Owner{"batch/v1", "Job", "db-migrate"}, created: created,
			want: Workload{"batch/v1", "Job", "db-migrate"}},
		{name: "a number too large for int64", owner: &Owner{"batch/v1", "Job", "c-99999999999999999999999"}, created: created,
			want: Workload{"batch/v1", "Job", "c-99999999999999999999999"}},
		{name: "a CronJob-like Job of a pod with no creation time", owner: &Owner{"batch/v1", "Job", cron},
			want: Workload{"batch/v1", "Job", cron}},

		{name: "a StatefulSet", owner: &Owner{"apps/v1", "StatefulSet", "db"}, want: Workload{"apps/v1", "StatefulSet", "db"}},
		{name: "a DaemonSet", owner: &Owner{"apps/v1", "DaemonSet", "catops"}, want: Workload{"apps/v1", "DaemonSet", "catops"}},
		{name: "a ReplicationController", owner: &Owner{"v1", "ReplicationController", "legacy"}, want: Workload{"v1", "ReplicationController", "legacy"}},
		{name: "a custom resource", owner: &Owner{"argoproj.io/v1alpha1", "Workflow", "etl-x7k2"}, want: Workload{"argoproj.io/v1alpha1", "Workflow", "etl-x7k2"}},
		{name: "a custom resource named Node", owner: &Owner{"example.com/v1", "Node", "n"}, want: Workload{"example.com/v1", "Node", "n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Of(c.owner, c.labels, c.created)
			if c.none {
				assert.False(t, ok, "no workload, got %+v", got)
				return
			}
			assert.True(t, ok)
			assert.Equal(t, c.want, got)
		})
	}
}

// FuzzOf: any owner, hash label and creation time give either no workload
// or one whose name is the owner's or a non-empty prefix of it.
func FuzzOf(f *testing.F) {
	f.Add("apps/v1", "ReplicaSet", "web-5d8f7c9b4", "5d8f7c9b4", created.Unix())
	f.Add("batch/v1", "Job", fmt.Sprintf("x-%d", scheduled), "", created.Unix())
	f.Add("v1", "Node", "n", "", int64(0))
	f.Fuzz(func(t *testing.T, apiVersion, kind, name, hash string, createdUnix int64) {
		w, ok := Of(&Owner{apiVersion, kind, name}, map[string]string{PodTemplateHashLabel: hash, RolloutsPodTemplateHashLabel: hash}, time.Unix(createdUnix, 0))
		if !ok {
			return
		}
		if w.Name == "" || len(w.Name) > len(name) || name[:len(w.Name)] != w.Name {
			t.Fatalf("workload %+v of owner %q is not a non-empty prefix of it", w, name)
		}
		if w.Name != name && (len(name) <= len(w.Name)+1 || name[len(w.Name)] != '-') {
			t.Fatalf("workload %+v: the owner %q is not <workload>-<suffix>", w, name)
		}
	})
}
