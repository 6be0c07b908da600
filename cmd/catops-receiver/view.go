package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
)

// unknown is what a figure the receiver does not have shows; a legend line
// under the table says why it is unknown.
const unknown = "-"

// viewOptions configure the live view (--view, --clear, --view-note).
type viewOptions struct {
	// every is the shortest time between two redraws.
	every time.Duration
	// clear redraws in place, for a terminal: the first frame clears the
	// screen, later ones overwrite it.
	clear bool
	// refresh, with clear, redraws at least this often even when no batch
	// arrived, so that the ages ("5s ago") stay current; 0: never.
	refresh time.Duration
	// notes are printed under the view, one a line.
	notes []string
}

// viewState is what one frame shows.
type viewState struct {
	stats    receiver.Stats
	nodes    []receiver.NodeState
	clusters []receiver.ClusterState
	hosts    []receiver.HostState
}

// snapshot reads the receiver's state for one frame.
func snapshot(rcv *receiver.Receiver) viewState {
	st := viewState{stats: rcv.Stats()}
	for _, name := range rcv.Nodes() {
		if n, ok := rcv.Node(name); ok {
			st.nodes = append(st.nodes, n)
		}
	}
	for _, key := range rcv.Clusters() {
		if c, ok := rcv.Cluster(key); ok {
			st.clusters = append(st.clusters, c)
		}
	}
	for _, id := range rcv.Hosts() {
		if h, ok := rcv.Host(id); ok {
			st.hosts = append(st.hosts, h)
		}
	}
	return st
}

// runView draws the view at once, then again after each signal on changed
// (the receiver applied a batch), at most once per opts.every; signals that
// arrive in between are merged into the next frame. It returns when ctx
// ends.
func runView(ctx context.Context, w io.Writer, state func() viewState, changed <-chan struct{}, opts viewOptions) {
	var tick <-chan time.Time
	if opts.clear && opts.refresh > 0 {
		t := time.NewTicker(opts.refresh)
		defer t.Stop()
		tick = t.C
	}
	first := true
	var last time.Time
	for {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-tick:
			}
			if wait := opts.every - time.Since(last); wait > 0 {
				timer := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					timer.Stop()
					return
				case <-timer.C:
				}
				select { // this frame shows it too
				case <-changed:
				default:
				}
			}
		}
		var body bytes.Buffer
		render(&body, state(), time.Now(), opts.notes)
		_, _ = w.Write(frame(body.Bytes(), opts.clear, first))
		first = false
		last = time.Now()
	}
}

// frame wraps a rendered view for the output: in place on a terminal
// (cursor home, each line clearing its rest, the screen below cleared), or
// followed by a rule when frames are appended to a log.
func frame(body []byte, clear, first bool) []byte {
	var b bytes.Buffer
	if !clear {
		b.Write(body)
		b.WriteString(strings.Repeat("-", 72) + "\n")
		return b.Bytes()
	}
	if first {
		b.WriteString("\033[H\033[2J")
	} else {
		b.WriteString("\033[H")
	}
	for line := range strings.Lines(string(body)) {
		b.WriteString(strings.TrimSuffix(line, "\n"))
		b.WriteString("\033[K\n")
	}
	b.WriteString("\033[J")
	return b.Bytes()
}

// render writes one frame of the view: the nodes, their hosts, their pods,
// a legend, the clusters (when a cluster reporter reported) and the notes.
func render(w io.Writer, st viewState, now time.Time, notes []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "catops-receiver  %s  batches applied %d, duplicates %d, resyncs asked %d, rejected %d\n",
		now.Format("15:04:05"), st.stats.BatchesApplied, st.stats.Duplicates, st.stats.Conflicts, st.stats.Rejected)
	switch {
	case len(st.nodes) == 0 && len(st.hosts) == 0:
		b.WriteString("\nNo node has reported yet: each agent sends a snapshot of its node (or host) when it starts.\n")
	case len(st.nodes) > 0:
		renderNodes(&b, st.nodes, now)
		renderHosts(&b, st.nodes)
		hasNet, hasDisk := detailShown(st.nodes)
		renderPods(&b, st.nodes, now, hasNet, hasDisk)
		b.WriteString("\nUnits: CPU in millicores (1000m = 1 core), MEM in MiB, from the Metrics API. HOST: the agent's\n" +
			"machine: CPU % of all cores; memory and disks (summed) in GiB used / total; load over 1/5/15 min;\n" +
			"FROM: the node's /proc (proc) or the kubelet summary (kubelet: DISKS is the kubelet's filesystem).\n" +
			"· rows: a pod's containers (\"pod limit\": its pod-level CPU limit); \"throttled N%\": the share of CPU\n" +
			"  periods the limit held it back in.\n")
		if hasNet || hasDisk {
			b.WriteString("NET IN/OUT: the pod's traffic received/sent per second; DISK: its ephemeral storage used\n" +
				"(emptyDir, writable layers, logs); both from the kubelet summary, in binary units.\n")
		}
	}
	if len(st.clusters) > 0 {
		renderClusters(&b, st.clusters, now)
	}
	if len(st.hosts) > 0 {
		renderServers(&b, st.hosts, now)
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString(n + "\n")
		}
	}
	_, _ = io.WriteString(w, b.String())
}

func renderNodes(b *strings.Builder, nodes []receiver.NodeState, now time.Time) {
	t := table{cols: []column{
		{title: "NODE"}, {title: "STATUS"}, {title: "PODS", right: true}, {title: "SEQ", right: true},
		{title: "LAST BATCH", right: true}, {title: "CPU", right: true}, {title: "MEM", right: true},
	}}
	unknownWhy := map[string][]string{} // reason → nodes
	var notes []string
	for _, n := range nodes {
		cpu, mem := unknown, unknown
		if n.Usage.Available && n.Usage.Node != nil {
			cpu, mem = millicores(n.Usage.Node.CPUCores), mebibytes(n.Usage.Node.MemoryBytes)
		} else {
			reason := n.Usage.Reason
			switch {
			case n.Usage.Available:
				reason = "no reading for the node yet"
			case reason == "":
				reason = "no usage event received yet"
			}
			unknownWhy[reason] = append(unknownWhy[reason], n.Name)
		}
		t.add(n.Name, nodeStatus(n.Node), fmt.Sprint(len(n.Pods)), fmt.Sprint(n.LastSeq), ago(now, n.LastBatchAt), cpu, mem)
		if n.Snapshot != nil {
			notes = append(notes, fmt.Sprintf("%s: snapshot %d (%s) in progress", n.Name, n.Snapshot.ID, n.Snapshot.Reason))
		}
		if n.Legacy != nil {
			notes = append(notes, fmt.Sprintf("%s: legacy snapshot %s, %d pods (not shown: a separate view)",
				n.Name, ago(now, n.Legacy.ReceivedAt), len(n.Legacy.Snapshot.Pods)))
		}
	}
	b.WriteString("\n")
	t.write(b)
	reasons := make([]string, 0, len(unknownWhy))
	for r := range unknownWhy {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	notYet := false
	for _, r := range reasons {
		on := strings.Join(unknownWhy[r], ", ")
		if len(unknownWhy[r]) == len(nodes) && len(nodes) > 1 {
			on = "every node"
		}
		fmt.Fprintf(b, "%s usage unknown on %s: %s\n", unknown, on, r)
		// The reasons of a start-up ("no metrics for this node yet" from
		// pkg/usage, and the two above) end in "yet".
		notYet = notYet || strings.HasSuffix(r, "yet")
	}
	if notYet {
		b.WriteString("  (metrics-server has a node's usage once it scraped it twice, CPU being a rate: ~1 min after start)\n")
	}
	for _, n := range notes {
		b.WriteString(n + "\n")
	}
}

func renderHosts(b *strings.Builder, nodes []receiver.NodeState) {
	t := table{cols: []column{
		{title: "HOST OF NODE"}, {title: "CPU %", right: true}, {title: "MEM GiB", right: true},
		{title: "DISKS GiB", right: true}, {title: "LOAD 1/5/15", right: true}, {title: "FROM"},
	}}
	var noHost []string
	noCPU := false
	var errs []string
	for _, n := range nodes {
		h := n.Host
		if h == nil {
			noHost = append(noHost, n.Name)
			t.add(n.Name, unknown, unknown, unknown, unknown, unknown)
			continue
		}
		// Agents before the field are the proc source.
		source := cmp.Or(h.Source, wire.HostSourceProc)
		cpu := unknown
		if h.CPU.UsagePercent != nil {
			cpu = fmt.Sprintf("%.1f", *h.CPU.UsagePercent)
		} else if source == wire.HostSourceProc {
			noCPU = true // the kubelet source says why in its errors
		}
		mem := unknown
		if h.Memory != nil && h.Memory.TotalBytes > 0 {
			mem = usedOfTotal(h.Memory.UsedBytes, h.Memory.TotalBytes)
		}
		disks := unknown
		if used, total := filesystems(h.Filesystems); total > 0 {
			disks = usedOfTotal(used, total)
		} else if fs := h.Filesystem; fs != nil && fs.UsedBytes != nil && fs.CapacityBytes != nil && *fs.CapacityBytes > 0 {
			disks = usedOfTotal(*fs.UsedBytes, *fs.CapacityBytes) // the kubelet's nodefs
		}
		load := unknown
		if h.Load != nil {
			load = fmt.Sprintf("%.2f %.2f %.2f", h.Load.Load1, h.Load.Load5, h.Load.Load15)
		}
		t.add(n.Name, cpu, mem, disks, load, source)
		for _, e := range h.Errors {
			errs = append(errs, n.Name+": "+e)
		}
	}
	b.WriteString("\n")
	t.write(b)
	if len(noHost) > 0 {
		fmt.Fprintf(b, "%s no host sample yet from %s\n", unknown, strings.Join(noHost, ", "))
	}
	if noCPU {
		fmt.Fprintf(b, "%s host CPU %% unknown until the agent's second sample: it is measured between two\n", unknown)
	}
	for _, e := range errs {
		b.WriteString("host reading failed on " + e + "\n")
	}
}

// renderPods lists every pod with its usage; the NET and DISK columns
// appear when some reading has those figures (hasNet, hasDisk: see
// detailShown).
func renderPods(b *strings.Builder, nodes []receiver.NodeState, now time.Time, hasNet, hasDisk bool) {
	cols := []column{{title: "  POD"}, {title: "WORKLOAD"}, {title: "PHASE"}, {title: "RESTARTS", right: true},
		{title: "CPU", right: true}, {title: "MEM", right: true}}
	if hasNet {
		cols = append(cols, column{title: "NET IN/OUT", right: true})
	}
	if hasDisk {
		cols = append(cols, column{title: "DISK", right: true})
	}
	t := table{cols: append(cols, column{title: "CHANGED", right: true}, column{title: "LAST TERMINATION"})}
	// row is a table row with the NET and DISK cells only where shown.
	row := func(name, workload, phase, restarts, cpu, mem, net, disk, changed, term string) {
		cells := []string{name, workload, phase, restarts, cpu, mem}
		if hasNet {
			cells = append(cells, net)
		}
		if hasDisk {
			cells = append(cells, disk)
		}
		t.add(append(cells, changed, term)...)
	}
	podWithout := false
	for _, n := range nodes {
		t.section(fmt.Sprintf("%s (%s)", n.Name, plural(len(n.Pods), "pod")))
		keys := make([]string, 0, len(n.Pods))
		for k := range n.Pods {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := n.Pods[k]
			cpu, mem, net, disk := unknown, unknown, unknown, unknown
			u, hasUsage := n.Usage.Pods[k]
			if hasUsage {
				cpu, mem, net, disk = millicores(u.CPUCores), mebibytes(u.MemoryBytes), traffic(u.Network), ephemeral(u.EphemeralStorage)
			} else if n.Usage.Available {
				podWithout = true
			}
			changed := unknown
			if at, ok := n.PodChangedAt[k]; ok {
				changed = ago(now, at)
			}
			phase := p.Phase
			if p.DeletingSince != nil {
				phase = "Terminating"
			}
			workload := "<none>" // no controller, or an agent that does not name it (kubectl's word)
			if p.Workload != nil {
				workload = p.Workload.Kind + "/" + p.Workload.Name
			}
			row("  "+k, workload, phase, fmt.Sprint(p.RestartCount), cpu, mem, net, disk, changed, termination(p))
			// Per container, for pods of several or a throttled one (one
			// container's figures are the pod's); a container without a
			// reading is not listed. Its PHASE cell says how throttled it was.
			if hasUsage && (len(u.Containers) > 1 || (len(u.Containers) == 1 && u.Containers[0].Throttling != nil)) {
				for _, c := range u.Containers {
					row("    · "+c.Name, "", throttled(c.Throttling), "", millicores(c.CPUCores), mebibytes(c.MemoryBytes), "", "", "", "")
				}
			}
			// A pod-level CPU limit's throttling (the pod's cgroup).
			if hasUsage && u.Throttling != nil {
				row("    · pod limit", "", throttled(u.Throttling), "", "", "", "", "", "", "")
			}
		}
	}
	b.WriteString("\n")
	t.write(b)
	if podWithout {
		fmt.Fprintf(b, "%s no reading for the pod yet: a new pod gets one at metrics-server's next scrape of it;\n"+
			"  pods that are not running get none\n", unknown)
	}
}

// detailShown says whether any pod reading has network rates, and whether
// any has ephemeral storage.
func detailShown(nodes []receiver.NodeState) (net, disk bool) {
	for _, n := range nodes {
		for _, u := range n.Usage.Pods {
			net = net || (u.Network != nil && u.Network.RxBytesPerSec != nil)
			disk = disk || (u.EphemeralStorage != nil && u.EphemeralStorage.UsedBytes != nil)
		}
	}
	return net, disk
}

// traffic is a pod's receive/send rates ("51Ki/6Ki", bytes per second),
// unknown without them.
func traffic(n *wire.NetworkUsage) string {
	if n == nil || n.RxBytesPerSec == nil || n.TxBytesPerSec == nil {
		return unknown
	}
	return binaryShort(*n.RxBytesPerSec) + "/" + binaryShort(*n.TxBytesPerSec)
}

// ephemeral is a pod's ephemeral storage used ("95Mi"), unknown without it.
func ephemeral(f *wire.FilesystemUsage) string {
	if f == nil || f.UsedBytes == nil {
		return unknown
	}
	return binaryShort(float64(*f.UsedBytes))
}

// binaryShort is v in binary units, two or three digits: "512", "51Ki",
// "1.2Mi", "3.4Gi".
func binaryShort(v float64) string {
	units := []string{"", "Ki", "Mi", "Gi", "Ti"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i > 0 && v < 10 {
		return fmt.Sprintf("%.1f%s", v, units[i])
	}
	return fmt.Sprintf("%.0f%s", v, units[i])
}

// throttled is the share of CFS periods the container was throttled in
// ("throttled 97%"), "" without a figure or periods.
func throttled(th *wire.CPUThrottling) string {
	if th == nil || th.Periods == 0 {
		return ""
	}
	return fmt.Sprintf("throttled %d%%", th.ThrottledPeriods*100/th.Periods)
}

// termination says how the pod's most telling container ended: a container
// terminated now first, else the last termination of a restarted one, as
// "reason, exit code" (with the container's name when the pod has several).
func termination(p wire.Pod) string {
	var found []string
	containers := slices.Concat(p.Containers, p.InitContainers)
	// An init container that ran to completion is how a pod starts, not
	// news.
	normal := func(i int, code *int32) bool {
		return i >= len(p.Containers) && !containers[i].Sidecar && code != nil && *code == 0
	}
	for i, c := range containers {
		if c.State == wire.StateTerminated && (c.Reason != "" || c.ExitCode != nil) && !normal(i, c.ExitCode) {
			found = append(found, describeExit(c.Name, c.Reason, c.ExitCode, len(containers)))
		}
	}
	for i, c := range containers {
		if c.State != wire.StateTerminated && c.LastTermination != nil {
			code := c.LastTermination.ExitCode
			if !normal(i, &code) {
				found = append(found, describeExit(c.Name, c.LastTermination.Reason, &code, len(containers)))
			}
		}
	}
	switch len(found) {
	case 0:
		return ""
	case 1:
		return found[0]
	default:
		return fmt.Sprintf("%s (+%d more)", found[0], len(found)-1)
	}
}

func describeExit(container, reason string, code *int32, containers int) string {
	var s string
	switch {
	case reason != "" && code != nil:
		s = fmt.Sprintf("%s, exit %d", reason, *code)
	case code != nil:
		s = fmt.Sprintf("exit %d", *code)
	default:
		s = reason
	}
	if containers > 1 {
		s = container + ": " + s
	}
	return s
}

func nodeStatus(n *wire.Node) string {
	if n == nil {
		return unknown
	}
	s := "NotReady"
	for _, c := range n.Conditions {
		if c.Type == "Ready" && c.Status == "True" {
			s = "Ready"
		}
	}
	if n.Unschedulable {
		s += ",SchedulingDisabled"
	}
	return s
}

// filesystems sums the filesystems of a host sample, each device once.
func filesystems(fss []wire.Filesystem) (used, total uint64) {
	seen := map[string]bool{}
	for _, fs := range fss {
		if fs.Device != "" && seen[fs.Device] {
			continue
		}
		seen[fs.Device] = true
		used += fs.UsedBytes
		total += fs.TotalBytes
	}
	return used, total
}

func usedOfTotal(used, total uint64) string {
	const gib = 1 << 30
	return fmt.Sprintf("%.1f / %.1f", float64(used)/gib, float64(total)/gib)
}

func millicores(cores float64) string {
	return fmt.Sprintf("%dm", int64(math.Round(cores*1000)))
}

func mebibytes(b int64) string {
	return fmt.Sprintf("%dMi", (b+(1<<19))>>20)
}

// ago is the age of t at now, to the second ("1m05s ago"), or unknown for
// a zero t.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return unknown
	}
	d := max(now.Sub(t).Round(time.Second), 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
}

// table lays out rows in columns two spaces apart, padded to the widest
// cell of each column (in characters), left- or right-aligned. Section
// lines between rows are printed as they are and do not widen a column.
type table struct {
	cols []column
	rows []tableRow
}

type column struct {
	title string
	right bool
}

type tableRow struct {
	cells   []string
	section string
}

func (t *table) add(cells ...string) {
	if len(cells) != len(t.cols) {
		panic(fmt.Sprintf("view: row of %d cells in a table of %d columns", len(cells), len(t.cols)))
	}
	t.rows = append(t.rows, tableRow{cells: cells})
}

func (t *table) section(line string) { t.rows = append(t.rows, tableRow{section: line}) }

func (t *table) write(b *strings.Builder) {
	width := make([]int, len(t.cols))
	header := make([]string, len(t.cols))
	for i, c := range t.cols {
		header[i] = c.title
		width[i] = utf8.RuneCountInString(c.title)
	}
	for _, r := range t.rows {
		for i, c := range r.cells {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var l strings.Builder
		for i, c := range cells {
			if i > 0 {
				l.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if t.cols[i].right {
				l.WriteString(pad + c)
			} else {
				l.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	line(header)
	for _, r := range t.rows {
		if r.cells == nil {
			b.WriteString(r.section + "\n")
			continue
		}
		line(r.cells)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
