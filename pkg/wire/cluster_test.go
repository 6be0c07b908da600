package wire

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exampleClusterEvents has one event of every type of the cluster stream,
// every field set once.
func exampleClusterEvents() []ClusterEvent {
	mark := &SnapshotMark{ID: 1, Reason: ReasonStart}
	return []ClusterEvent{
		{Type: EventSnapshotBegin, Time: t0, Snapshot: mark},
		{Type: EventNamespace, Time: t0, Namespace: &Namespace{Name: "shop", UID: "9a0e0000-0000-4000-8000-000000000010", Phase: "Active",
			Labels: map[string]string{"team": "checkout"}, CreatedAt: t1}},
		{Type: EventWorkload, Time: t0, Workload: &WorkloadStatus{
			ObjectRef: ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web", UID: "9a0e0000-0000-4000-8000-000000000011"},
			Labels:    map[string]string{"app": "web"}, CreatedAt: t1, Generation: 4, ObservedGeneration: 4,
			Desired: ptr(int32(3)), Current: ptr(int32(3)), Ready: ptr(int32(2)), Available: ptr(int32(2)), Updated: ptr(int32(3)),
			Conditions: []Condition{
				{Type: "Available", Status: "False", Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability.", Since: ptr(t0.Add(-5 * time.Minute))},
				{Type: "Progressing", Status: "False", Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-7d9c" has timed out progressing.`, Since: ptr(t0.Add(-time.Minute))},
			}}},
		{Type: EventWorkload, Time: t0, Workload: &WorkloadStatus{
			ObjectRef: ObjectRef{APIVersion: "batch/v1", Kind: "Job", Namespace: "shop", Name: "nightly-backup-29400000", UID: "9a0e0000-0000-4000-8000-000000000012"},
			CreatedAt: t1, Generation: 1, ObservedGeneration: 1, Ready: ptr(int32(0)),
			Active: ptr(int32(0)), Succeeded: ptr(int32(0)), Failed: ptr(int32(6)), Completions: ptr(int32(1)),
			StartedAt: ptr(t1), CompletedAt: ptr(t1.Add(10 * time.Minute)),
			Conditions: []Condition{{Type: "Failed", Status: "True", Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", Since: ptr(t1.Add(10 * time.Minute))}}}},
		{Type: EventWorkload, Time: t0, Workload: &WorkloadStatus{
			ObjectRef: ObjectRef{APIVersion: "batch/v1", Kind: "CronJob", Namespace: "shop", Name: "nightly-backup", UID: "9a0e0000-0000-4000-8000-000000000013"},
			CreatedAt: t1, Generation: 2, ObservedGeneration: 2, Schedule: "0 2 * * *", Suspended: true, Active: ptr(int32(0)),
			LastScheduleAt: ptr(t1), LastSuccessfulAt: ptr(t1.Add(-24 * time.Hour))}},
		{Type: EventWorkload, Time: t0, Workload: &WorkloadStatus{
			ObjectRef: ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "canary", UID: "9a0e0000-0000-4000-8000-000000000014"},
			CreatedAt: t1, Generation: 7, ObservedGeneration: 6, Paused: true,
			Desired: ptr(int32(1)), Current: ptr(int32(1)), Ready: ptr(int32(1)), Available: ptr(int32(1)), Updated: ptr(int32(0))}},
		{Type: EventPendingPod, Time: t0, PendingPod: &PendingPod{
			PodRef:   PodRef{Namespace: "shop", Name: "web-7d9c-q8m2z", UID: "9a0e0000-0000-4000-8000-000000000015"},
			Workload: &Workload{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}, CreatedAt: t0.Add(-2 * time.Minute), Phase: "Pending",
			Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient memory.", Since: ptr(t0.Add(-2 * time.Minute)),
			SchedulingGates: []string{"example.com/quota"}, Requests: &Resources{CPUMillicores: ptr(int64(250)), MemoryBytes: ptr(int64(4 << 30))},
			SchedulerName: "custom-scheduler"}},
		{Type: EventClusterSummary, Time: t0, Cluster: &ClusterSummary{KubernetesVersion: "v1.35.0",
			Nodes: NodeSummary{Count: 4, Ready: 2, NotReady: 1, Unknown: 1, Unschedulable: 1, KubeletVersions: map[string]int{"v1.34.2": 1, "v1.35.0": 3}}}},
		{Type: EventWarning, Time: t0, Warning: &Warning{UID: "9a0e0000-0000-4000-8000-000000000016", Namespace: "shop",
			Object: ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "web-7d9c-x2k4q", UID: "6f1c2d3e-0000-4000-8000-000000000001"},
			Reason: "BackOff", Message: "Back-off restarting failed container web in pod web-7d9c-x2k4q_shop", Source: "kubelet", Host: "node-a",
			Count: 42, FirstSeen: t1, LastSeen: t0.Add(-10 * time.Second)}},
		{Type: EventSnapshotEnd, Time: t0, Snapshot: mark},
		{Type: EventWorkloadDelete, Time: t0, WorkloadRef: &ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "canary", UID: "9a0e0000-0000-4000-8000-000000000014"}},
		{Type: EventPendingPodDelete, Time: t0, PodRef: &PodRef{Namespace: "shop", Name: "web-7d9c-q8m2z", UID: "9a0e0000-0000-4000-8000-000000000015"}},
		{Type: EventNamespaceDelete, Time: t0, NamespaceRef: &ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: "shop", UID: "9a0e0000-0000-4000-8000-000000000010"}},
	}
}

func TestClusterBatchGolden(t *testing.T) {
	events := exampleClusterEvents()
	raw := RawBatch{Header: Header{Version: ClusterVersion, Cluster: "prod-eu", ClusterID: "3c1d0000-0000-4000-8000-0000000000aa",
		Leader:    &Leader{Identity: "catops-cluster-5f7b9-abcde", Lease: "catops/catops-cluster", Epoch: 7, LeaseDurationSeconds: 15},
		Namespace: "catops", AgentVersion: "1.0.0", Session: "4e5f6a7b8c9d0e1f", Seq: 1, BatchID: "4e5f6a7b8c9d0e1f-1", SentAt: t0}}
	for _, e := range events {
		b, err := json.Marshal(e)
		require.NoError(t, err)
		raw.Events = append(raw.Events, b)
	}
	b, err := json.Marshal(raw)
	require.NoError(t, err)
	golden(t, "cluster.golden.json", b)

	var back ClusterBatch
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, raw.Header, back.Header)
	assert.Equal(t, events, back.Events)
	seen := map[EventType]bool{}
	for _, e := range back.Events {
		seen[e.Type] = true
	}
	assert.Len(t, seen, 10, "every event type of the cluster stream")
}
