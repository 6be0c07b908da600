package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
)

// deployment is a workload record with ready of desired replicas and its
// spec observed.
func deployment(kind, ns, name string, ready, desired int32, conds ...wire.Condition) wire.WorkloadStatus {
	return wire.WorkloadStatus{
		ObjectRef:  wire.ObjectRef{APIVersion: "apps/v1", Kind: kind, Namespace: ns, Name: name},
		Generation: 1, ObservedGeneration: 1, Desired: ptr(desired), Ready: ptr(ready), Conditions: conds,
	}
}

func clusterWarning(uid, reason, kind, ns, name string, count int32, ago time.Duration) wire.Warning {
	return wire.Warning{UID: uid, Namespace: ns, Object: wire.ObjectRef{Kind: kind, Namespace: ns, Name: name},
		Reason: reason, Count: count, FirstSeen: now.Add(-ago - time.Hour), LastSeen: now.Add(-ago)}
}

// demoCluster is the demo's cluster a minute in: a stuck rollout, a
// failed Job, a StatefulSet whose new spec is not observed yet, a pod too
// big for any node, a gated one, and six warnings.
func demoCluster() receiver.ClusterState {
	c := receiver.ClusterState{
		Key: "5b1f0c9e-kube-system", ID: "5b1f0c9e-kube-system", Name: "kwok-demo",
		Leader:        &wire.Leader{Identity: "catops-cluster-6d8f9b7c4-x2kqp", Lease: "catops-system/catops-cluster", Epoch: 2, LeaseDurationSeconds: 15},
		BatchIdentity: receiver.BatchIdentity{Session: "c1", LastSeq: 7}, LastBatchAt: now.Add(-4 * time.Second),
		Summary:     &wire.ClusterSummary{KubernetesVersion: "v1.35.0", Nodes: wire.NodeSummary{Count: 3, Ready: 3}},
		Workloads:   map[string]wire.WorkloadStatus{},
		PendingPods: map[string]wire.PendingPod{},
		Namespaces:  map[string]wire.Namespace{"shop": {Name: "shop"}, "catops-system": {Name: "catops-system"}},
		Warnings:    map[string]wire.Warning{},
	}
	db := deployment("StatefulSet", "shop", "db", 1, 1)
	db.Generation = 3
	db.ObservedGeneration = 2
	job := wire.WorkloadStatus{ObjectRef: wire.ObjectRef{Kind: "Job", Namespace: "shop", Name: "migrate"}, Generation: 1, ObservedGeneration: 1,
		Failed: ptr(int32(6)), Conditions: []wire.Condition{{Type: "Failed", Status: "True", Reason: "BackoffLimitExceeded"}}}
	for _, w := range []wire.WorkloadStatus{
		deployment("Deployment", "shop", "web", 2, 2, wire.Condition{Type: "Progressing", Status: "True", Reason: "NewReplicaSetAvailable"}),
		deployment("Deployment", "shop", "api", 0, 1, wire.Condition{Type: "Progressing", Status: "False", Reason: "ProgressDeadlineExceeded"}),
		deployment("Deployment", "shop", "cart", 1, 3),
		deployment("DaemonSet", "catops-system", "catops", 3, 3),
		db, job,
	} {
		c.Workloads[receiver.WorkloadKey(w.Kind, w.Namespace, w.Name)] = w
	}
	c.PendingPods["shop/big-7f9c6d-abcde"] = wire.PendingPod{
		PodRef: wire.PodRef{Namespace: "shop", Name: "big-7f9c6d-abcde"}, Workload: &wire.Workload{Kind: "Deployment", Name: "big"},
		CreatedAt: now.Add(-3 * time.Minute), Phase: "Pending", Reason: "Unschedulable", Since: ptr(now.Add(-150 * time.Second)),
		Message: "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
	}
	c.PendingPods["shop/gated"] = wire.PendingPod{PodRef: wire.PodRef{Namespace: "shop", Name: "gated"},
		CreatedAt: now.Add(-20 * time.Second), Phase: "Pending", SchedulingGates: []string{"example.com/quota"}}
	for _, w := range []wire.Warning{
		clusterWarning("e1", "BackOff", "Pod", "shop", "worker-oom", 12, 8*time.Second),
		clusterWarning("e2", "FailedScheduling", "Pod", "shop", "big-7f9c6d-abcde", 5, 30*time.Second),
		clusterWarning("e3", "BackoffLimitExceeded", "Job", "shop", "migrate", 1, 70*time.Second),
		clusterWarning("e4", "ProgressDeadlineExceeded", "Deployment", "shop", "api", 1, 2*time.Minute),
		clusterWarning("e5", "Unhealthy", "Pod", "shop", "web-59688fbb46-lkppp", 3, 5*time.Minute),
		clusterWarning("e6", "NodeNotReady", "Node", "", "kwok-node-3", 1, time.Hour),
	} {
		c.Warnings[w.UID] = w
	}
	return c
}

func rowTexts(row []cell) string {
	var got []string
	for _, c := range row {
		got = append(got, c.text)
	}
	return strings.Join(got, "|")
}

func TestRenderClusterPanel(t *testing.T) {
	out := renderString(viewState{clusters: []receiver.ClusterState{demoCluster()}})

	clusterCols := []column{{title: "CLUSTER"}, {title: "KUBERNETES"}, {title: "NODES READY", right: true}, {title: "WORKLOADS", right: true},
		{title: "PENDING", right: true}, {title: "LEADER"}, {title: "EPOCH", right: true}, {title: "SEQ", right: true}, {title: "LAST BATCH", right: true}}
	header, rows := tableRows(t, out, "CLUSTER ", []string{"kwok-demo"})
	checkAligned(t, "clusters", clusterCols, header, rows)
	if got, want := rowTexts(rows["kwok-demo"]), "kwok-demo|v1.35.0|3/3|6|2|catops-cluster-6d8f9b7c4-x2kqp|2|7|4s ago"; got != want {
		t.Errorf("cluster row = %q, want %q", got, want)
	}

	unreadyCols := []column{{title: "WORKLOAD NOT READY"}, {title: "KIND"}, {title: "READY", right: true}, {title: "WHY"}}
	header, rows = tableRows(t, out, "  WORKLOAD NOT READY ", []string{"  shop/api", "  shop/cart", "  shop/db", "  shop/migrate"})
	checkAligned(t, "unready", unreadyCols, header, rows)
	for key, want := range map[string]string{
		"  shop/api":     "shop/api|Deployment|0/1|Progressing=False ProgressDeadlineExceeded",
		"  shop/cart":    "shop/cart|Deployment|1/3|replicas not ready",
		"  shop/db":      "shop/db|StatefulSet|1/1|generation 3 not observed yet (2)",
		"  shop/migrate": "shop/migrate|Job|-|Failed=True BackoffLimitExceeded",
	} {
		if got := rowTexts(rows[key]); got != want {
			t.Errorf("unready row %s = %q, want %q", strings.TrimSpace(key), got, want)
		}
	}
	for _, ready := range []string{"  shop/web ", "  catops-system/catops "} {
		if strings.Contains(out, ready) {
			t.Errorf("ready workload %q listed:\n%s", ready, out)
		}
	}
	if !strings.Contains(out, "\nkwok-demo (4 of 6 workloads not ready)\n") {
		t.Errorf("no section line for the unready workloads:\n%s", out)
	}

	pendingCols := []column{{title: "PENDING POD"}, {title: "WORKLOAD"}, {title: "SINCE", right: true}, {title: "REASON"}}
	header, rows = tableRows(t, out, "  PENDING POD ", []string{"  shop/big-7f9c6d-abcde", "  shop/gated"})
	checkAligned(t, "pending", pendingCols, header, rows)
	if got, want := rowTexts(rows["  shop/gated"]), "shop/gated|<none>|20s ago|gated by example.com/quota"; got != want {
		t.Errorf("gated pod row = %q, want %q", got, want)
	}
	big := rowTexts(rows["  shop/big-7f9c6d-abcde"])
	if want := "shop/big-7f9c6d-abcde|Deployment/big|2m30s ago|Unschedulable: 0/3 nodes are available: 3 Insufficient memory."; !strings.HasPrefix(big, want) || !strings.HasSuffix(big, "…") {
		t.Errorf("unschedulable pod row = %q, want %q… clipped", big, want)
	}

	warnCols := []column{{title: "WARNING"}, {title: "OBJECT"}, {title: "COUNT", right: true}, {title: "LAST SEEN", right: true}}
	header, rows = tableRows(t, out, "  WARNING ", []string{"  BackOff", "  FailedScheduling", "  BackoffLimitExceeded", "  ProgressDeadlineExceeded", "  Unhealthy"})
	checkAligned(t, "warnings", warnCols, header, rows)
	if got, want := rowTexts(rows["  BackOff"]), "BackOff|Pod shop/worker-oom|12|8s ago"; got != want {
		t.Errorf("warning row = %q, want %q", got, want)
	}
	if strings.Contains(out, "NodeNotReady") {
		t.Errorf("the oldest warning is shown past the first %d:\n%s", warningsShown, out)
	}
	if !strings.Contains(out, "\nkwok-demo (5 most recent of 6 warnings)\n") {
		t.Errorf("no section line for the warnings:\n%s", out)
	}
	if !strings.Contains(out, "No node has reported yet") {
		t.Errorf("a cluster alone does not make nodes:\n%s", out)
	}
}

func TestRenderClusterBeforeItsSummary(t *testing.T) {
	c := receiver.ClusterState{Key: "prod", Name: "prod", Workloads: map[string]wire.WorkloadStatus{}, PendingPods: map[string]wire.PendingPod{},
		Warnings: map[string]wire.Warning{}, Snapshot: &receiver.SnapshotProgress{ID: 1, Reason: wire.ReasonStart}}
	out := renderString(viewState{clusters: []receiver.ClusterState{c}})
	_, rows := tableRows(t, out, "CLUSTER ", []string{"prod"})
	if got, want := rowTexts(rows["prod"]), "prod|-|-|0|0|-|-|0|-"; got != want {
		t.Errorf("cluster row = %q, want %q", got, want)
	}
	for _, want := range []string{"\nprod: snapshot 1 (start) in progress\n", "\nprod (0 of 0 workloads not ready)\n", "\nprod (0 pending pods)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if out := renderString(demoStateWithout()); strings.Contains(out, "CLUSTER") {
		t.Errorf("a cluster panel without any cluster:\n%s", out)
	}
}

// demoStateWithout is the demo's state without its cluster.
func demoStateWithout() viewState {
	st := demoState()
	st.clusters = nil
	return st
}

func TestUnready(t *testing.T) {
	paused := deployment("Deployment", "a", "b", 0, 1)
	paused.Paused = true
	cron := wire.WorkloadStatus{ObjectRef: wire.ObjectRef{Kind: "CronJob"}, Generation: 2, ObservedGeneration: 2, Active: ptr(int32(1))}
	for name, tc := range map[string]struct {
		w    wire.WorkloadStatus
		want string
	}{
		"ready":                       {deployment("Deployment", "a", "b", 2, 2), ""},
		"more ready than desired":     {deployment("Deployment", "a", "b", 3, 2), ""},
		"a CronJob has no replicas":   {cron, ""},
		"paused and short":            {paused, "replicas not ready; paused"},
		"Progressing True is no news": {deployment("Deployment", "a", "b", 1, 1, wire.Condition{Type: "Progressing", Status: "True", Reason: "ReplicaSetUpdated"}), ""},
		"both conditions": {deployment("Job", "a", "b", 0, 0, wire.Condition{Type: "Failed", Status: "True", Reason: "DeadlineExceeded"},
			wire.Condition{Type: "Progressing", Status: "False"}), "Failed=True DeadlineExceeded; Progressing=False"},
	} {
		got, ok := unready(tc.w)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: unready = %q, %v, want %q", name, got, ok, tc.want)
		}
	}
}

// TestViewShowsAppliedClusterBatch goes through the receiver: a cluster
// batch posted to its handler wakes the view, which shows the stuck
// rollout.
func TestViewShowsAppliedClusterBatch(t *testing.T) {
	rcv, changed, err := newReceiver("tok", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out frames
	done := make(chan struct{})
	go func() {
		defer close(done)
		runView(ctx, &out, func() viewState { return snapshot(rcv) }, changed, viewOptions{every: 10 * time.Millisecond})
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, "the first frame", func() bool { return len(out.get()) == 1 })

	at := time.Now()
	stuck := deployment("Deployment", "shop", "api", 0, 1, wire.Condition{Type: "Progressing", Status: "False", Reason: "ProgressDeadlineExceeded"})
	b := wire.ClusterBatch{
		Header: wire.Header{Version: wire.ClusterVersion, Cluster: "kwok-demo", ClusterID: "uid-1", Session: "c1", Seq: 1, BatchID: "c1-1", SentAt: at,
			Leader: &wire.Leader{Identity: "rep-a", Lease: "catops-system/catops-cluster", Epoch: 1, LeaseDurationSeconds: 15}},
		Events: []wire.ClusterEvent{
			{Type: wire.EventSnapshotBegin, Time: at, Snapshot: &wire.SnapshotMark{ID: 1, Reason: wire.ReasonStart}},
			{Type: wire.EventWorkload, Time: at, Workload: &stuck},
			{Type: wire.EventSnapshotEnd, Time: at, Snapshot: &wire.SnapshotMark{ID: 1, Reason: wire.ReasonStart}},
		},
	}
	body, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, wire.ClusterPath, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", wire.ContentTypeCluster)
	rec := httptest.NewRecorder()
	rcv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST cluster batch: %d %s", rec.Code, rec.Body)
	}
	waitFor(t, "a frame with the stuck rollout", func() bool {
		f := out.get()
		return strings.Contains(f[len(f)-1], "Progressing=False ProgressDeadlineExceeded")
	})
}
