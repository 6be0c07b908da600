package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/view.golden")

var now = time.Date(2026, 11, 29, 23, 4, 21, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func pod(ns, name, phase string, restarts int32, containers ...wire.Container) wire.Pod {
	if len(containers) == 0 {
		containers = []wire.Container{{Name: "main", State: wire.StateRunning, Ready: true}}
	}
	return wire.Pod{PodRef: wire.PodRef{Namespace: ns, Name: name}, Phase: phase, RestartCount: restarts, Containers: containers}
}

// owned is p managed by the workload kind/name.
func owned(p wire.Pod, kind, name string) wire.Pod {
	p.Workload = &wire.Workload{Kind: kind, Name: name}
	return p
}

func reading(cpu float64, mem int64) wire.ResourceUsage {
	return wire.ResourceUsage{Timestamp: now.Add(-15 * time.Second), WindowSeconds: 10, CPUCores: cpu, MemoryBytes: mem}
}

func host(cpu *float64) *wire.HostSample {
	return &wire.HostSample{
		Time:   now.Add(-3 * time.Second),
		Source: wire.HostSourceProc,
		CPU:    wire.CPUSample{LogicalCores: new(2), UsagePercent: cpu},
		Load:   &wire.LoadSample{Load1: 2.74, Load5: 1.22, Load15: 1.28},
		Memory: &wire.MemorySample{TotalBytes: 8 << 30, UsedBytes: 3 << 30},
		Filesystems: []wire.Filesystem{
			{Mountpoint: "/", Device: "/dev/sda1", TotalBytes: 100 << 30, UsedBytes: 40 << 30},
			{Mountpoint: "/var/lib", Device: "/dev/sda1", TotalBytes: 100 << 30, UsedBytes: 40 << 30}, // same device
			{Mountpoint: "/data", Device: "/dev/sdb1", TotalBytes: 20 << 30, UsedBytes: 1 << 29},
		},
	}
}

func ready() *wire.Node {
	return &wire.Node{Conditions: []wire.NodeCondition{{Type: "Ready", Status: "True"}}}
}

func nodeState(name string, seq uint64, lastBatch time.Duration) receiver.NodeState {
	n := receiver.NodeState{
		Name: name, BatchIdentity: receiver.BatchIdentity{LastSeq: seq}, LastBatchAt: now.Add(-lastBatch), Node: ready(),
		Pods: map[string]wire.Pod{}, PodChangedAt: map[string]time.Time{},
		Usage: receiver.UsageState{Pods: map[string]wire.ResourceUsage{}},
	}
	n.Node.Name = name
	return n
}

func addPod(n *receiver.NodeState, p wire.Pod, changed time.Duration, u *wire.ResourceUsage) {
	k := receiver.PodKey(p.Namespace, p.Name)
	n.Pods[k] = p
	n.PodChangedAt[k] = now.Add(-changed)
	if u != nil {
		n.Usage.Pods[k] = *u
	}
}

// demoState is the demo's state a minute in: kwok-node-1 has usage, its
// new pod no reading yet; kwok-node-2's usage is still unknown and its
// host CPU % too (first sample).
func demoState() viewState {
	n1 := nodeState("kwok-node-1", 15, time.Second)
	n1.Host = host(ptr(37.46))
	n1.Usage.Available, n1.Usage.Source = true, "metrics-api"
	n1.Usage.Node = ptr(reading(0.24, 224<<20))
	addPod(&n1, owned(pod("shop", "web-59688fbb46-lkppp", "Running", 0), "Deployment", "web"), 81*time.Second, ptr(reading(0.12, 96<<20)))
	addPod(&n1, owned(pod("shop", "web-59688fbb46-27442", "Running", 0), "Deployment", "web"), 8*time.Second, nil)
	addPod(&n1, pod("shop", "worker-oom", "Running", 3, wire.Container{
		Name: "main", State: wire.StateRunning, Ready: true, RestartCount: 3,
		LastTermination: &wire.Termination{Reason: "OOMKilled", ExitCode: 137},
	}), 28*time.Second, ptr(reading(0.001, 8<<20)))
	addPod(&n1, pod("shop", "job-fail", "Failed", 0, wire.Container{
		Name: "main", State: wire.StateTerminated, Reason: "Error", ExitCode: ptr(int32(1)),
	}), 80*time.Second, nil)

	n2 := nodeState("kwok-node-2", 3, 12*time.Second)
	n2.Host = host(nil)
	n2.Usage.Source, n2.Usage.Reason = "metrics-api", "no metrics for this node yet"
	addPod(&n2, owned(pod("catops-system", "catops-6kdc7", "Running", 0), "DaemonSet", "catops"), 62*time.Minute, nil)
	addPod(&n2, owned(pod("shop", "api-dd794479f-df6vz", "Pending", 0, wire.Container{
		Name: "main", State: wire.StateWaiting, Reason: "ContainerCreating",
	}), "Deployment", "api"), 2*time.Second, nil)

	cp := nodeState("kwok-control-plane", 9, 0)
	cp.Node.Taints = []wire.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: "NoSchedule"}}
	cp.Usage.Available = true
	cp.Usage.Node = ptr(reading(0, 8<<20))
	addPod(&cp, owned(pod("catops-system", "catops-89hj7", "Running", 0), "DaemonSet", "catops"), 82*time.Second, ptr(reading(0.001, 8<<20)))

	return viewState{
		stats:    receiver.Stats{BatchesApplied: 40, Duplicates: 1},
		nodes:    []receiver.NodeState{cp, n1, n2},
		clusters: []receiver.ClusterState{demoCluster()},
	}
}

func renderString(st viewState, notes ...string) string {
	var b bytes.Buffer
	render(&b, st, now, notes)
	return b.String()
}

func TestRenderGolden(t *testing.T) {
	got := renderString(demoState(), "state as JSON: curl -H 'Authorization: Bearer demo-token' http://127.0.0.1:18000/api/state")
	path := filepath.Join("testdata", "view.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once to write it)", err)
	}
	if got != string(want) {
		t.Errorf("view differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

// cell is one cell of a rendered table row: its text and byte offsets.
type cell struct {
	text       string
	start, end int
}

// cellRE matches a cell: words separated by single spaces (columns are two
// or more spaces apart).
var cellRE = regexp.MustCompile(`\S+( \S+)*`)

func cells(line string) []cell {
	var out []cell
	for _, m := range cellRE.FindAllStringIndex(line, -1) {
		out = append(out, cell{text: line[m[0]:m[1]], start: m[0], end: m[1]})
	}
	return out
}

// tableRows finds the table whose header starts with header and returns
// the header's cells and, per row, its cells: the rows are the lines after
// the header that start with one of the prefixes.
func tableRows(t *testing.T, out, header string, prefixes []string) ([]cell, map[string][]cell) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, header) {
			continue
		}
		rows := map[string][]cell{}
		for _, r := range lines[i+1:] {
			if r == "" {
				break
			}
			for _, p := range prefixes {
				if strings.HasPrefix(r, p+" ") {
					rows[p] = cells(r)
				}
			}
		}
		if len(rows) != len(prefixes) {
			t.Fatalf("table %q: found rows %v, want one for each of %v in:\n%s", header, rows, prefixes, out)
		}
		return cells(l), rows
	}
	t.Fatalf("no table with header %q in:\n%s", header, out)
	return nil, nil
}

// checkAligned checks that every cell of every row sits in its column: a
// left-aligned cell starts where its title starts, a right-aligned one ends
// where its title ends. An empty last cell is allowed.
func checkAligned(t *testing.T, name string, cols []column, header []cell, rows map[string][]cell) {
	t.Helper()
	if len(header) != len(cols) {
		t.Fatalf("%s: header has %d cells, want %d: %v", name, len(header), len(cols), header)
	}
	for key, row := range rows {
		if len(row) != len(cols) && len(row) != len(cols)-1 {
			t.Errorf("%s row %s: %d cells, want %d: %v", name, key, len(row), len(cols), row)
			continue
		}
		for i, c := range row {
			if cols[i].right && c.end != header[i].end {
				t.Errorf("%s row %s: %s %q ends at byte %d, its column at %d", name, key, cols[i].title, c.text, c.end, header[i].end)
			}
			if !cols[i].right && c.start != header[i].start {
				t.Errorf("%s row %s: %s %q starts at byte %d, its column at %d", name, key, cols[i].title, c.text, c.start, header[i].start)
			}
		}
	}
}

func textOf(row []cell, i int) string {
	if i < len(row) {
		return row[i].text
	}
	return ""
}

func TestRenderAlignsColumns(t *testing.T) {
	out := renderString(demoState())
	nodes := []string{"kwok-control-plane", "kwok-node-1", "kwok-node-2"}

	nodeCols := []column{{title: "NODE"}, {title: "STATUS"}, {title: "PODS", right: true}, {title: "SEQ", right: true},
		{title: "LAST BATCH", right: true}, {title: "CPU", right: true}, {title: "MEM", right: true}}
	header, rows := tableRows(t, out, "NODE ", nodes)
	checkAligned(t, "nodes", nodeCols, header, rows)
	// Unknown usage is a short marker in its column; the reason is under
	// the table.
	if got := [2]string{textOf(rows["kwok-node-2"], 5), textOf(rows["kwok-node-2"], 6)}; got != [2]string{"-", "-"} {
		t.Errorf("kwok-node-2 usage = %q, want [- -]", got)
	}
	if got := [2]string{textOf(rows["kwok-node-1"], 5), textOf(rows["kwok-node-1"], 6)}; got != [2]string{"240m", "224Mi"} {
		t.Errorf("kwok-node-1 usage = %q, want [240m 224Mi]", got)
	}
	if !strings.Contains(out, "\n- usage unknown on kwok-node-2: no metrics for this node yet\n") {
		t.Errorf("no legend line for kwok-node-2's unknown usage in:\n%s", out)
	}

	hostCols := []column{{title: "HOST OF NODE"}, {title: "CPU %", right: true}, {title: "MEM GiB", right: true},
		{title: "DISKS GiB", right: true}, {title: "LOAD 1/5/15", right: true}, {title: "FROM"}}
	header, rows = tableRows(t, out, "HOST OF NODE ", nodes)
	checkAligned(t, "hosts", hostCols, header, rows)
	want := []string{"kwok-node-1", "37.5", "3.0 / 8.0", "40.5 / 120.0", "2.74 1.22 1.28", "proc"}
	for i, w := range want {
		if got := textOf(rows["kwok-node-1"], i); got != w {
			t.Errorf("host of kwok-node-1, %s = %q, want %q", hostCols[i].title, got, w)
		}
	}
	if got := textOf(rows["kwok-node-2"], 1); got != "-" {
		t.Errorf("host CPU %% of kwok-node-2 (first sample) = %q, want -", got)
	}

	podCols := []column{{title: "POD"}, {title: "WORKLOAD"}, {title: "PHASE"}, {title: "RESTARTS", right: true}, {title: "CPU", right: true},
		{title: "MEM", right: true}, {title: "CHANGED", right: true}, {title: "LAST TERMINATION"}}
	pods := []string{"  catops-system/catops-89hj7", "  shop/web-59688fbb46-lkppp", "  shop/web-59688fbb46-27442",
		"  shop/worker-oom", "  shop/job-fail", "  catops-system/catops-6kdc7", "  shop/api-dd794479f-df6vz"}
	header, rows = tableRows(t, out, "  POD ", pods)
	checkAligned(t, "pods", podCols, header, rows)
	for key, want := range map[string][]string{
		"  shop/worker-oom":            {"shop/worker-oom", "<none>", "Running", "3", "1m", "8Mi", "28s ago", "OOMKilled, exit 137"},
		"  shop/job-fail":              {"shop/job-fail", "<none>", "Failed", "0", "-", "-", "1m20s ago", "Error, exit 1"},
		"  shop/web-59688fbb46-27442":  {"shop/web-59688fbb46-27442", "Deployment/web", "Running", "0", "-", "-", "8s ago"},
		"  catops-system/catops-6kdc7": {"catops-system/catops-6kdc7", "DaemonSet/catops", "Running", "0", "-", "-", "1h02m ago"},
	} {
		var got []string
		for _, c := range rows[key] {
			got = append(got, c.text)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("pod row %s = %q, want %q", strings.TrimSpace(key), got, want)
		}
	}
}

func TestRenderBeforeAnyBatch(t *testing.T) {
	out := renderString(viewState{}, "note one")
	for _, want := range []string{"No node has reported yet", "\nnote one\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

func TestTermination(t *testing.T) {
	for name, tc := range map[string]struct {
		p    wire.Pod
		want string
	}{
		"running, never terminated": {pod("a", "b", "Running", 0), ""},
		"terminated now wins over an earlier termination": {pod("a", "b", "Failed", 1, wire.Container{
			Name: "main", State: wire.StateTerminated, Reason: "Error", ExitCode: ptr(int32(2)),
			LastTermination: &wire.Termination{Reason: "OOMKilled", ExitCode: 137},
		}), "Error, exit 2"},
		"a completed init container is not news": {wire.Pod{Phase: "Running",
			Containers:     []wire.Container{{Name: "app", State: wire.StateRunning}},
			InitContainers: []wire.Container{{Name: "init", State: wire.StateTerminated, Reason: "Completed", ExitCode: ptr(int32(0))}},
		}, ""},
		"several containers are named": {wire.Pod{Phase: "Running", Containers: []wire.Container{
			{Name: "app", State: wire.StateRunning, LastTermination: &wire.Termination{Reason: "OOMKilled", ExitCode: 137}},
			{Name: "side", State: wire.StateRunning, LastTermination: &wire.Termination{Reason: "Error", ExitCode: 1}},
		}}, "app: OOMKilled, exit 137 (+1 more)"},
	} {
		if got := termination(tc.p); got != tc.want {
			t.Errorf("%s: termination = %q, want %q", name, got, tc.want)
		}
	}
}

func TestFrameInPlace(t *testing.T) {
	body := []byte("a\nbb\n")
	if got, want := string(frame(body, true, true)), "\033[H\033[2Ja\033[K\nbb\033[K\n\033[J"; got != want {
		t.Errorf("first frame = %q, want %q", got, want)
	}
	if got, want := string(frame(body, true, false)), "\033[Ha\033[K\nbb\033[K\n\033[J"; got != want {
		t.Errorf("next frame = %q, want %q", got, want)
	}
	if got := string(frame(body, false, true)); !strings.HasPrefix(got, "a\nbb\n---") {
		t.Errorf("appended frame = %q", got)
	}
}

// frames counts the writes of runView, each one frame.
type frames struct {
	mu   sync.Mutex
	list []string
}

func (f *frames) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, string(p))
	return len(p), nil
}

func (f *frames) get() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.list...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunViewDrawsAtOnceThenOnChangeThrottled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan struct{}, 1)
	var out frames
	done := make(chan struct{})
	go func() {
		defer close(done)
		runView(ctx, &out, func() viewState { return viewState{} }, changed, viewOptions{every: 200 * time.Millisecond})
	}()
	defer func() { cancel(); <-done }()

	waitFor(t, "the first frame, before any batch", func() bool { return len(out.get()) == 1 })
	time.Sleep(250 * time.Millisecond)
	changed <- struct{}{}
	waitFor(t, "a frame after a batch", func() bool { return len(out.get()) == 2 })

	// A burst of batches (as OnApply sends them): one more frame, not one
	// per batch.
	for range 20 {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	waitFor(t, "a frame after the burst", func() bool { return len(out.get()) >= 3 })
	time.Sleep(600 * time.Millisecond)
	if n := len(out.get()) - 2; n > 2 {
		t.Errorf("%d frames for a burst of 20 batches, want 1 (2 at most)", n)
	}
}

// TestViewShowsAppliedBatch goes through the receiver: a batch posted to
// its handler wakes the view, which shows the pod's OOMKilled exit.
func TestViewShowsAppliedBatch(t *testing.T) {
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

	p := pod("shop", "worker-oom", "Running", 1, wire.Container{
		Name: "main", State: wire.StateRunning, RestartCount: 1,
		LastTermination: &wire.Termination{Reason: "OOMKilled", ExitCode: 137},
	})
	at := time.Now()
	b := wire.Batch{
		Header: wire.Header{Version: wire.Version, Node: "kwok-node-1", Session: "s1", Seq: 1, BatchID: "s1-1", SentAt: at},
		Events: []wire.Event{
			{Type: wire.EventSnapshotBegin, Time: at, Snapshot: &wire.SnapshotMark{ID: 1, Reason: wire.ReasonStart}},
			{Type: wire.EventPodUpsert, Time: at, Pod: &p},
			{Type: wire.EventSnapshotEnd, Time: at, Snapshot: &wire.SnapshotMark{ID: 1, Reason: wire.ReasonStart}},
		},
	}
	body, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, wire.Path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", wire.ContentTypeDelta)
	rec := httptest.NewRecorder()
	rcv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST batch: %d %s", rec.Code, rec.Body)
	}
	waitFor(t, "a frame with the OOMKilled pod", func() bool {
		f := out.get()
		return strings.Contains(f[len(f)-1], "OOMKilled, exit 137")
	})
}

func TestRenderUnknownUsageReasons(t *testing.T) {
	st := demoState()
	for i := range st.nodes {
		st.nodes[i].Usage = receiver.UsageState{Source: "metrics-api", Reason: "metrics API is not accessible (404)"}
	}
	out := renderString(st)
	if !strings.Contains(out, "\n- usage unknown on every node: metrics API is not accessible (404)\n") {
		t.Errorf("no legend line for every node's unknown usage in:\n%s", out)
	}
	if strings.Contains(out, "scraped it twice") {
		t.Errorf("the start-up hint is shown for a reason that is not a start-up's:\n%s", out)
	}
}

// A pod of several containers gets a row per container with a reading
// under its own; a pod of one does not (its figures are the container's).
func TestRenderPerContainerUsage(t *testing.T) {
	n := nodeState("node-a", 3, time.Second)
	two := pod("shop", "web", "Running", 0,
		wire.Container{Name: "app", State: wire.StateRunning, Ready: true},
		wire.Container{Name: "proxy", State: wire.StateRunning, Ready: true},
		wire.Container{Name: "starting", State: wire.StateRunning, Ready: true})
	u := reading(0.012, 52<<20)
	u.Containers = []wire.ContainerUsage{{Name: "app", CPUCores: 0.01, MemoryBytes: 48 << 20}, {Name: "proxy", CPUCores: 0.002, MemoryBytes: 4 << 20}}
	addPod(&n, two, time.Minute, &u)
	one := reading(0.5, 10<<20)
	one.Containers = []wire.ContainerUsage{{Name: "main", CPUCores: 0.5, MemoryBytes: 10 << 20}}
	addPod(&n, pod("shop", "solo", "Running", 0), time.Minute, &one)
	limited := reading(0.2, 2<<20)
	limited.Containers = []wire.ContainerUsage{{Name: "burn", CPUCores: 0.2, MemoryBytes: 2 << 20,
		Throttling: &wire.CPUThrottling{Periods: 100, ThrottledPeriods: 97, ThrottledSeconds: 7.5, WindowSeconds: 10}}}
	addPod(&n, pod("shop", "burner", "Running", 0), time.Minute, &limited)
	podLimited := reading(0.2, 2<<20)
	podLimited.Containers = []wire.ContainerUsage{{Name: "main", CPUCores: 0.2, MemoryBytes: 2 << 20}}
	podLimited.Throttling = &wire.CPUThrottling{Periods: 200, ThrottledPeriods: 150, ThrottledSeconds: 9, WindowSeconds: 20}
	addPod(&n, pod("shop", "pod-limited", "Running", 0), time.Minute, &podLimited)
	n.Usage.Available = true
	out := renderString(viewState{nodes: []receiver.NodeState{n}})

	_, rows := tableRows(t, out, "  POD ", []string{"    · app", "    · proxy", "    · burn", "  shop/web", "  shop/solo", "    · pod limit"})
	for key, want := range map[string][]string{
		"    · pod limit": {"· pod limit", "throttled 75%"},
		"    · burn":      {"· burn", "throttled 97%", "200m", "2Mi"},
		"    · app":       {"· app", "10m", "48Mi"},
		"    · proxy":     {"· proxy", "2m", "4Mi"},
		"  shop/web":      {"shop/web", "<none>", "Running", "0", "12m", "52Mi", "1m00s ago"},
	} {
		var got []string
		for _, c := range rows[key] {
			got = append(got, c.text)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %q = %q, want %q", key, got, want)
		}
	}
	for _, absent := range []string{"· starting", "· main"} {
		if strings.Contains(out, absent) {
			t.Errorf("row %q shown: a container without a reading, or the only one, gets none:\n%s", absent, out)
		}
	}
}

// A host sample from the kubelet summary shows its source, the kubelet's
// filesystem as its disks, no load (the summary has none) and the figures
// it could not give; an agent's sample without a source is the proc one.
func TestRenderKubeletHost(t *testing.T) {
	n := nodeState("node-k", 3, time.Second)
	n.Host = &wire.HostSample{Source: wire.HostSourceKubelet, Time: now.Add(-3 * time.Second),
		CPU:        wire.CPUSample{LogicalCores: ptr(4), UsagePercent: ptr(12.5)},
		Memory:     &wire.MemorySample{TotalBytes: 16 << 30, AvailableBytes: 12 << 30, UsedBytes: 4 << 30, UsedPercent: 25},
		Filesystem: &wire.FilesystemUsage{UsedBytes: ptr(uint64(10 << 30)), CapacityBytes: ptr(uint64(50 << 30))},
		Errors:     []string{"uptime: the kubelet summary gives no boot time (startTime)"}}
	old := nodeState("node-o", 3, time.Second)
	old.Host = &wire.HostSample{CPU: wire.CPUSample{LogicalCores: ptr(2)}, Memory: &wire.MemorySample{TotalBytes: 8 << 30, UsedBytes: 1 << 30}}
	none := nodeState("node-n", 3, time.Second)
	none.Host = &wire.HostSample{Source: wire.HostSourceKubelet, CPU: wire.CPUSample{LogicalCores: ptr(4)},
		Errors: []string{"summary: the kubelet summary was not read this interval"}}
	out := renderString(viewState{nodes: []receiver.NodeState{n, old, none}})

	hostCols := []column{{title: "HOST OF NODE"}, {title: "CPU %", right: true}, {title: "MEM GiB", right: true},
		{title: "DISKS GiB", right: true}, {title: "LOAD 1/5/15", right: true}, {title: "FROM"}}
	header, rows := tableRows(t, out, "HOST OF NODE ", []string{"node-k", "node-o", "node-n"})
	checkAligned(t, "hosts", hostCols, header, rows)
	for key, want := range map[string][]string{
		"node-k": {"node-k", "12.5", "4.0 / 16.0", "10.0 / 50.0", "-", "kubelet"},
		"node-o": {"node-o", "-", "1.0 / 8.0", "-", "-", "proc"},
		"node-n": {"node-n", "-", "-", "-", "-", "kubelet"},
	} {
		var got []string
		for _, c := range rows[key] {
			got = append(got, c.text)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("host row %s = %q, want %q", key, got, want)
		}
	}
	for _, want := range []string{
		"\nhost reading failed on node-k: uptime: the kubelet summary gives no boot time (startTime)\n",
		"\nhost reading failed on node-n: summary: the kubelet summary was not read this interval\n",
		"\n- host CPU % unknown until the agent's second sample", // node-o's, a proc sample
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// With the kubelet summary's figures, the pods table gains NET IN/OUT and
// DISK; a pod without them shows them unknown, and the legend says what
// they are. Without any such figure (the Metrics API), the columns are not
// shown (TestRenderGolden).
func TestRenderPodNetworkAndDisk(t *testing.T) {
	n := nodeState("node-a", 3, time.Second)
	web := reading(0.012, 52<<20)
	web.Network = &wire.NetworkUsage{RxBytes: 1 << 30, TxBytes: 1 << 20, RxBytesPerSec: ptr(52736.0), TxBytesPerSec: ptr(512.0)}
	web.EphemeralStorage = &wire.FilesystemUsage{UsedBytes: ptr(uint64(99 << 20))}
	addPod(&n, pod("shop", "web", "Running", 0), time.Minute, &web)
	first := reading(0.5, 10<<20) // first summary read: counters, no rates yet
	first.Network = &wire.NetworkUsage{RxBytes: 1, TxBytes: 2}
	addPod(&n, pod("shop", "new", "Running", 0), time.Minute, &first)
	n.Usage.Available = true
	out := renderString(viewState{nodes: []receiver.NodeState{n}})

	_, rows := tableRows(t, out, "  POD ", []string{"  shop/web", "  shop/new"})
	for key, want := range map[string][]string{
		"  shop/web": {"shop/web", "<none>", "Running", "0", "12m", "52Mi", "52Ki/512", "99Mi", "1m00s ago"},
		"  shop/new": {"shop/new", "<none>", "Running", "0", "500m", "10Mi", unknown, unknown, "1m00s ago"},
	} {
		var got []string
		for _, c := range rows[key] {
			got = append(got, c.text)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %q = %q, want %q", key, got, want)
		}
	}
	if !strings.Contains(out, "NET IN/OUT: the pod's traffic received/sent per second") {
		t.Errorf("no legend for NET and DISK:\n%s", out)
	}
	if golden := renderString(demoState()); strings.Contains(golden, "NET IN/OUT") || strings.Contains(golden, "DISK ") {
		t.Errorf("NET or DISK shown without any such figure:\n%s", golden)
	}
}

func TestBinaryShort(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 512: "512", 1023: "1023", 1024: "1.0Ki", 52736: "52Ki", 1.5 * (1 << 20): "1.5Mi", 3 << 30: "3.0Gi", 1 << 50: "1024Ti"} {
		if got := binaryShort(v); got != want {
			t.Errorf("binaryShort(%v) = %q, want %q", v, got, want)
		}
	}
}
