package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
)

// The cluster panel: what the cluster reporters sent (the cluster stream).

// warningsShown is how many warnings of each cluster the view lists, the
// most recently seen first.
const warningsShown = 5

// reasonWidth bounds a pending pod's reason, in characters: the
// scheduler's messages run long.
const reasonWidth = 64

// renderClusters writes the cluster panel: a row per cluster, then per
// cluster its workloads that are not ready, its pending pods and its most
// recent warnings, and a legend.
func renderClusters(b *strings.Builder, clusters []receiver.ClusterState, now time.Time) {
	t := table{cols: []column{
		{title: "CLUSTER"}, {title: "KUBERNETES"}, {title: "NODES READY", right: true}, {title: "WORKLOADS", right: true},
		{title: "PENDING", right: true}, {title: "LEADER"}, {title: "EPOCH", right: true}, {title: "SEQ", right: true},
		{title: "LAST BATCH", right: true},
	}}
	var notes []string
	for _, c := range clusters {
		version, nodes := unknown, unknown
		if s := c.Summary; s != nil {
			version = cmp.Or(s.KubernetesVersion, unknown)
			nodes = fmt.Sprintf("%d/%d", s.Nodes.Ready, s.Nodes.Count)
		}
		identity, epoch := unknown, unknown
		if c.Leader != nil {
			identity, epoch = c.Leader.Identity, fmt.Sprint(c.Leader.Epoch)
		}
		t.add(clusterName(c), version, nodes, fmt.Sprint(len(c.Workloads)), fmt.Sprint(len(c.PendingPods)),
			identity, epoch, fmt.Sprint(c.LastSeq), ago(now, c.LastBatchAt))
		if c.Snapshot != nil {
			notes = append(notes, fmt.Sprintf("%s: snapshot %d (%s) in progress", clusterName(c), c.Snapshot.ID, c.Snapshot.Reason))
		}
	}
	b.WriteString("\n")
	t.write(b)
	for _, n := range notes {
		b.WriteString(n + "\n")
	}

	renderUnready(b, clusters)
	renderPending(b, clusters, now)
	renderWarnings(b, clusters, now)
	b.WriteString("\nCLUSTER: from the cluster reporter (one per cluster at a time: the Lease's holder, LEADER, under\n" +
		"EPOCH). A workload is not ready with fewer ready replicas than desired, Progressing=False,\n" +
		"Failed=True, or a generation its controller has not observed yet.\n")
}

func renderUnready(b *strings.Builder, clusters []receiver.ClusterState) {
	t := table{cols: []column{{title: "  WORKLOAD NOT READY"}, {title: "KIND"}, {title: "READY", right: true}, {title: "WHY"}}}
	for _, c := range clusters {
		type row struct{ name, kind, ready, why string }
		var rows []row
		for _, w := range c.Workloads {
			if why, ok := unready(w); ok {
				ready := unknown
				if w.Ready != nil && w.Desired != nil {
					ready = fmt.Sprintf("%d/%d", *w.Ready, *w.Desired)
				}
				rows = append(rows, row{w.Namespace + "/" + w.Name, w.Kind, ready, why})
			}
		}
		slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.kind, b.kind)) })
		t.section(fmt.Sprintf("%s (%d of %s not ready)", clusterName(c), len(rows), plural(len(c.Workloads), "workload")))
		for _, r := range rows {
			t.add("  "+r.name, r.kind, r.ready, r.why)
		}
	}
	b.WriteString("\n")
	t.write(b)
}

// unready says whether a workload is not ready, and why: the conditions
// that say so, a generation not observed yet, else fewer ready replicas
// than desired.
func unready(w wire.WorkloadStatus) (string, bool) {
	var why []string
	for _, c := range w.Conditions {
		if (c.Type == "Progressing" && c.Status == "False") || (c.Type == "Failed" && c.Status == "True") {
			why = append(why, strings.TrimSpace(fmt.Sprintf("%s=%s %s", c.Type, c.Status, c.Reason)))
		}
	}
	if w.Generation != w.ObservedGeneration {
		why = append(why, fmt.Sprintf("generation %d not observed yet (%d)", w.Generation, w.ObservedGeneration))
	}
	short := w.Ready != nil && w.Desired != nil && *w.Ready < *w.Desired
	if len(why) == 0 && !short {
		return "", false
	}
	if len(why) == 0 {
		why = append(why, "replicas not ready")
	}
	if w.Paused {
		why = append(why, "paused")
	}
	return strings.Join(why, "; "), true
}

func renderPending(b *strings.Builder, clusters []receiver.ClusterState, now time.Time) {
	t := table{cols: []column{{title: "  PENDING POD"}, {title: "WORKLOAD"}, {title: "SINCE", right: true}, {title: "REASON"}}}
	for _, c := range clusters {
		t.section(fmt.Sprintf("%s (%s)", clusterName(c), plural(len(c.PendingPods), "pending pod")))
		keys := make([]string, 0, len(c.PendingPods))
		for k := range c.PendingPods {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := c.PendingPods[k]
			workload := "<none>"
			if p.Workload != nil {
				workload = p.Workload.Kind + "/" + p.Workload.Name
			}
			since := p.CreatedAt
			if p.Since != nil {
				since = *p.Since
			}
			t.add("  "+k, workload, ago(now, since), clipText(pendingReason(p), reasonWidth))
		}
	}
	b.WriteString("\n")
	t.write(b)
}

// pendingReason is why the scheduler has not placed the pod: its
// PodScheduled reason and message, or its scheduling gates.
func pendingReason(p wire.PendingPod) string {
	var parts []string
	if p.Reason != "" {
		parts = append(parts, p.Reason)
	}
	if len(p.SchedulingGates) > 0 && p.Reason == "" {
		parts = append(parts, "gated by "+strings.Join(p.SchedulingGates, ", "))
	}
	if p.Message != "" {
		parts = append(parts, p.Message)
	}
	if len(parts) == 0 {
		return unknown
	}
	return strings.Join(strings.Fields(strings.Join(parts, ": ")), " ") // one line
}

func renderWarnings(b *strings.Builder, clusters []receiver.ClusterState, now time.Time) {
	t := table{cols: []column{{title: "  WARNING"}, {title: "OBJECT"}, {title: "COUNT", right: true}, {title: "LAST SEEN", right: true}}}
	for _, c := range clusters {
		ws := make([]wire.Warning, 0, len(c.Warnings))
		for _, w := range c.Warnings {
			ws = append(ws, w)
		}
		slices.SortFunc(ws, func(a, b wire.Warning) int { return cmp.Or(b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.UID, b.UID)) })
		shown := min(len(ws), warningsShown)
		t.section(fmt.Sprintf("%s (%d most recent of %s)", clusterName(c), shown, plural(len(ws), "warning")))
		for _, w := range ws[:shown] {
			object := w.Object.Kind + " " + w.Object.Name
			if w.Object.Namespace != "" {
				object = w.Object.Kind + " " + w.Object.Namespace + "/" + w.Object.Name
			}
			t.add("  "+w.Reason, object, fmt.Sprint(w.Count), ago(now, w.LastSeen))
		}
	}
	b.WriteString("\n")
	t.write(b)
}

// clusterName is the cluster's name, else its ID.
func clusterName(c receiver.ClusterState) string {
	return cmp.Or(c.Name, c.ID, "(unnamed)")
}

// clipText shortens s to n characters, the last one "…".
func clipText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
