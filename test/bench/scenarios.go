package bench

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/test/rig"
)

// requests: API-server read requests per node per hour in steady state,
// ours (Metrics API source, and the kubelet source when the binary has it)
// against the polling baseline; plus CPU and memory of the 110-pod agent.
func (b *Runner) requests(ctx context.Context) error {
	sink, err := NewSink(token)
	if err != nil {
		return err
	}
	defer sink.Close()
	type col struct {
		name                   string
		start, steady, watches Counts
		window                 time.Duration
	}
	var cols []col

	ours, err := b.runAgent(ctx, "requests-metrics-api", "metrics-api", "delta", sink)
	if err != nil {
		return err
	}
	cols = append(cols, col{"ours, Metrics API source", ours.start, ours.steady, ours.watches, ours.window})
	b.small["metrics-api"] = smallFigures{rss: ours.rss, heap: ours.heap, perHour: perHour(ours.steady.Total(), ours.window)}
	if b.kubelet {
		kub, err := b.runAgent(ctx, "requests-kubelet", "kubelet", "delta", sink)
		if err != nil {
			return err
		}
		cols = append(cols, col{"ours, kubelet source", kub.start, kub.steady, kub.watches, kub.window})
		b.small["kubelet"] = smallFigures{rss: kub.rss, heap: kub.heap, perHour: perHour(kub.steady.Total(), kub.window)}
	}
	base, err := b.runBaseline(ctx)
	if err != nil {
		return err
	}
	cols = append(cols, col{"polling baseline", Counts{}, base.steady, Counts{}, base.window})

	all := []Counts{}
	for _, c := range cols {
		all = append(all, c.start, c.steady)
	}
	b.r.Printf("### 1. API-server requests per node per hour (steady state)\n")
	b.r.Printf("Read requests (GET, LIST, WATCH) on pods and nodes of the core group and of metrics.k8s.io, from the API server's `apiserver_request_total`, in a window of %s after start-up, minus the rig's own requests in an idle window of the same length, scaled to one hour. %d pods on the node over %d namespaces, interval %s.",
		b.cfg.Window, b.cfg.Pods, b.cfg.Namespaces, b.cfg.Interval)
	header := []string{"verb resource"}
	for _, c := range cols {
		header = append(header, c.name)
	}
	var rows [][]string
	for _, k := range keysOf(all...) {
		row := []string{k}
		for _, c := range cols {
			row = append(row, num(perHour(c.steady[k], c.window)))
		}
		rows = append(rows, row)
	}
	total := []string{"**total per hour**"}
	ratios := []string{"baseline ÷ ours"}
	baseHour := perHour(base.steady.Total(), base.window)
	for _, c := range cols {
		h := perHour(c.steady.Total(), c.window)
		total = append(total, "**"+num(h)+"**")
		ratios = append(ratios, ratio(baseHour, h))
		b.r.Set("requests_per_hour."+c.name, h)
	}
	rows = append(rows, total, ratios)
	b.r.Table(header, rows)
	intervals := ours.window.Seconds() / b.cfg.Interval.Seconds()
	metricsReads := 0.0
	for k, v := range ours.steady {
		if strings.HasSuffix(k, ".metrics.k8s.io") {
			metricsReads += v
		}
	}
	b.r.Printf("- Metrics API reads per interval, ours: %.1f (target ≤ namespaces with pods on the node + 1 = %d).", metricsReads/intervals, b.cfg.Namespaces+1)
	b.r.Set("metrics_api_reads_per_interval", metricsReads/intervals)
	for _, c := range cols {
		if c.name != "polling baseline" {
			b.r.Printf("- Start-up requests, %s: %s; watches it holds open: %s (kube-apiserver counts a watch when it ends).", c.name, c.start, c.watches)
			b.r.Set("startup_requests."+c.name, c.start)
		}
	}
	b.r.Printf("- Baseline client-side count: %d requests (%d failed) in %s.\n", base.requests, base.errors, base.window.Round(time.Second))

	b.r.Printf("### 3–4. Memory and CPU of one agent, %d pods (Metrics API source)\n", b.cfg.Pods)
	b.r.Table([]string{"RSS", "Go heap in use", "CPU in the window", "millicores", "CPU-s per hour"}, [][]string{{
		mib(ours.rss), mib(ours.heap), fmt.Sprintf("%.2f s in %s", ours.cpu, ours.window.Round(time.Second)),
		fmt.Sprintf("%.2f", ours.cpu/ours.window.Seconds()*1000), fmt.Sprintf("%.1f", perHour(ours.cpu, ours.window)),
	}})
	b.r.Set("rss_bytes.110", ours.rss)
	b.r.Set("heap_bytes.110", ours.heap)
	b.r.Set("cpu_millicores.110", ours.cpu/ours.window.Seconds()*1000)
	return nil
}

type baselineRun struct {
	steady           Counts
	window           time.Duration
	requests, errors int64
}

// runBaseline runs the polling baseline for node for one interval of warm
// up and a window.
func (b *Runner) runBaseline(ctx context.Context) (baselineRun, error) {
	var m baselineRun
	bl, err := NewBaseline(b.c.RESTConfig(), benchNode, b.cfg.Interval)
	if err != nil {
		return m, err
	}
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { bl.Run(bctx); close(done) }()
	defer func() { cancel(); <-done }()
	// The window starts half an interval after a poll and spans whole
	// intervals, so it holds exactly window/interval polls.
	sleep(ctx, b.cfg.Interval/2)
	r0, err := b.req.Reads(ctx)
	if err != nil {
		return m, err
	}
	q0 := bl.Requests()
	w0 := time.Now()
	sleep(ctx, b.cfg.Window)
	m.window = time.Since(w0)
	r1, err := b.req.Reads(ctx)
	if err != nil {
		return m, err
	}
	m.steady = r1.Sub(r0).Sub(b.idle.Scale(m.window.Seconds()))
	m.requests, m.errors = bl.Requests()-q0, bl.Errors()
	return m, ctx.Err()
}

// bytes: bytes on the wire per hour, delta+gzip against the snapshot
// format, with no pod changes and with churn; both agents run at once.
func (b *Runner) bytes(ctx context.Context) error {
	delta, err := NewSink(token)
	if err != nil {
		return err
	}
	defer delta.Close()
	snap, err := NewSink(token)
	if err != nil {
		return err
	}
	defer snap.Close()
	agents, err := startAgents(ctx, []AgentOptions{
		b.agentOptions("bytes-delta", benchNode, "metrics-api", "delta", delta.URL),
		b.agentOptions("bytes-snapshot", benchNode, "metrics-api", "snapshot", snap.URL),
	}, 2)
	if err != nil {
		return err
	}
	defer stopAgents(agents)
	sleep(ctx, b.cfg.Interval*3/2)

	measure := func(churn bool) (float64, float64, int) {
		d0, s0 := delta.Bytes(benchNode), snap.Bytes(benchNode)
		w0 := time.Now()
		replaced := 0
		if churn {
			// One pod replaced (deleted, and a new one created) every
			// interval: a rolling update's pace, 360 pods an hour.
			t := time.NewTicker(b.cfg.Interval)
			for time.Since(w0) < b.cfg.Window-b.cfg.Interval/2 && ctx.Err() == nil {
				ns, name, node := b.webPod(replaced)
				_ = b.pop.Kube.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
				_, _ = b.pop.Kube.CoreV1().Pods(ns).Create(ctx, TestPod(ns, fmt.Sprintf("churn-%d", replaced), node), metav1.CreateOptions{})
				replaced++
				<-t.C
			}
			t.Stop()
		}
		sleep(ctx, b.cfg.Window-time.Since(w0))
		w := time.Since(w0)
		return perHour(float64(delta.Bytes(benchNode)-d0), w), perHour(float64(snap.Bytes(benchNode)-s0), w), replaced
	}
	idleD, idleS, _ := measure(false)
	churnD, churnS, replaced := measure(true)
	// Put the node back as it was.
	if err := b.pop.DeletePods(ctx, replaced, func(i int) (string, string, string) {
		return b.nsName(i), fmt.Sprintf("churn-%d", i), benchNode
	}); err != nil {
		return err
	}
	if err := b.pop.Pods(ctx, replaced, b.webPod); err != nil {
		return err
	}

	b.r.Printf("### 5. Bytes on the wire per node per hour\n")
	b.r.Printf("Request bodies as sent (gzip), counted by the receiver, %d pods, interval %s, both formats at once over windows of %s. Churn: one pod replaced every interval (%d in the window).",
		b.cfg.Pods, b.cfg.Interval, b.cfg.Window, replaced)
	b.r.Table([]string{"", "delta + gzip (ours)", "snapshot format", "snapshot ÷ delta"}, [][]string{
		{"no pod changes", kib(idleD), kib(idleS), ratio(idleS, idleD)},
		{"churn", kib(churnD), kib(churnS), ratio(churnS, churnD)},
	})
	b.r.Set("bytes_per_hour.idle.delta", idleD)
	b.r.Set("bytes_per_hour.idle.snapshot", idleS)
	b.r.Set("bytes_per_hour.churn.delta", churnD)
	b.r.Set("bytes_per_hour.churn.snapshot", churnS)
	return nil
}

func kib(b float64) string {
	if b >= 10<<20 {
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	}
	return fmt.Sprintf("%s KiB", num(b/1024))
}

// latency: pod created / deleted on the node → applied at the receiver,
// ours against the polling baseline (which sees a change at its next poll).
func (b *Runner) latency(ctx context.Context) error {
	sink, err := NewSink(token)
	if err != nil {
		return err
	}
	defer sink.Close()
	a, err := StartAgent(ctx, b.agentOptions("latency", benchNode, "metrics-api", "delta", sink.URL), time.Minute)
	if err != nil {
		return err
	}
	defer a.Stop()
	bl, err := NewBaseline(b.c.RESTConfig(), benchNode, b.cfg.Interval)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	seen := map[string]time.Time{} // "-" prefixes the keys of deletions
	bl.OnSeen = func(key string, present bool, at time.Time) {
		if !present {
			key = "-" + key
		}
		mu.Lock()
		if _, ok := seen[key]; !ok {
			seen[key] = at
		}
		mu.Unlock()
	}
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { bl.Run(bctx); close(done) }()
	defer func() { cancel(); <-done }()
	sleep(ctx, b.cfg.Interval*3/2)

	// Half the events are creations, half deletions of the same pods, one
	// every 100 ms.
	n := b.cfg.Events / 2
	type ev struct {
		key     string
		deleted bool
		at      time.Time
	}
	var evs []ev
	name := func(i int) (string, string, string) { return b.nsName(i), fmt.Sprintf("lat-%d", i), benchNode }
	for i := range n {
		ns, nm, node := name(i)
		if _, err := b.pop.Kube.CoreV1().Pods(ns).Create(ctx, TestPod(ns, nm, node), metav1.CreateOptions{}); err != nil {
			return err
		}
		evs = append(evs, ev{ns + "/" + nm, false, time.Now()})
		sleep(ctx, 100*time.Millisecond)
	}
	for i := range n {
		ns, nm, _ := name(i)
		if err := b.pop.Kube.CoreV1().Pods(ns).Delete(ctx, nm, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			return err
		}
		evs = append(evs, ev{ns + "/" + nm, true, time.Now()})
		sleep(ctx, 100*time.Millisecond)
	}
	sleep(ctx, b.cfg.Interval+5*time.Second) // the baseline's next poll, and a margin
	// Ours are counted once every event has reached the receiver, or after
	// a bound: on a busy machine the last deletions can take longer than
	// the margin above, and a fixed wait would report them missing.
	arrivedAll := func() bool {
		for _, e := range evs {
			if _, ok := sink.Arrived(e.key, e.deleted); !ok {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(time.Minute); !arrivedAll() && time.Now().Before(deadline) && ctx.Err() == nil; {
		sleep(ctx, 100*time.Millisecond)
	}
	var ours, base []float64
	missing := 0
	for _, e := range evs {
		if t, ok := sink.Arrived(e.key, e.deleted); ok {
			ours = append(ours, t.Sub(e.at).Seconds())
		} else {
			missing++
		}
		k := e.key
		if e.deleted {
			k = "-" + k
		}
		mu.Lock()
		t, ok := seen[k]
		mu.Unlock()
		if ok {
			base = append(base, max(0, t.Sub(e.at).Seconds()))
		}
	}
	sort.Float64s(ours)
	sort.Float64s(base)
	b.r.Printf("### 6. Event latency\n")
	b.r.Printf("%d events (%d pods created, then deleted, one event every 100 ms) on the node: from the API call's return to the event applied at the receiver (ours), or to the poll that first saw the change (baseline, interval %s).", len(evs), n, b.cfg.Interval)
	b.r.Table([]string{"", "events seen", "p50", "p99", "max"}, [][]string{
		latencyRow("ours (delta, flush delay 1 s)", ours, len(evs)),
		latencyRow("polling baseline (a pod created and deleted between two polls is never seen)", base, len(evs)),
	})
	b.r.Set("latency_p50_seconds", percentile(ours, .5))
	b.r.Set("latency_p99_seconds", percentile(ours, .99))
	b.r.Set("latency_missing", missing)
	if missing > 0 {
		return fmt.Errorf("%d of %d events never reached the receiver (waited the margin and up to a minute more)", missing, len(evs))
	}
	return nil
}

// latencyRow is a row of the latency table; sorted are the latencies of
// the events seen, of all events.
func latencyRow(name string, sorted []float64, all int) []string {
	if len(sorted) == 0 {
		return []string{name, fmt.Sprintf("0 of %d", all), "–", "–", "–"}
	}
	secs := func(s float64) string { return fmt.Sprintf("%.2f s", s) }
	return []string{name, fmt.Sprintf("%d of %d", len(sorted), all),
		secs(percentile(sorted, .5)), secs(percentile(sorted, .99)), secs(sorted[len(sorted)-1])}
}

// memory: RSS and heap with cfg.BigPods pods on the node.
func (b *Runner) memory(ctx context.Context) error {
	extra := b.cfg.BigPods - b.cfg.Pods
	big := func(i int) (string, string, string) { return b.nsName(i), fmt.Sprintf("big-%d", i), benchNode }
	b.logf("adding %d pods to %s", extra, benchNode)
	if err := b.pop.Pods(ctx, extra, big); err != nil {
		return err
	}
	if err := b.pop.WaitRunning(ctx, b.cfg.BigPods, 3*time.Minute); err != nil {
		return err
	}
	sink, err := NewSink(token)
	if err != nil {
		return err
	}
	defer sink.Close()
	m, err := b.runAgent(ctx, "memory-1000", "metrics-api", "delta", sink)
	if err != nil {
		return err
	}
	if b.want("detail") && b.kubelet {
		pods := append(kubeletPods(b.cfg.Pods, b.webPod), kubeletPods(extra, big)...)
		d, err := b.detail(ctx, pods)
		if err != nil {
			return err
		}
		b.details = append(b.details, d)
	}
	if err := b.pop.DeletePods(ctx, extra, big); err != nil {
		return err
	}
	b.r.Printf("### 3. Memory with %d pods on the node\n", b.cfg.BigPods)
	b.r.Table([]string{"pods", "RSS", "Go heap in use", "millicores"}, [][]string{
		{fmt.Sprint(b.cfg.Pods), mib(b.small["metrics-api"].rss), mib(b.small["metrics-api"].heap), "(above)"},
		{fmt.Sprint(b.cfg.BigPods), mib(m.rss), mib(m.heap), fmt.Sprintf("%.2f", m.cpu/m.window.Seconds()*1000)},
	})
	b.r.Set("rss_bytes.1000", m.rss)
	b.r.Set("heap_bytes.1000", m.heap)
	return nil
}

// scale: the 110-pod agent while the cluster holds cfg.ScalePods more
// pods on cfg.ScaleNodes other nodes.
func (b *Runner) scale(ctx context.Context) error {
	if err := b.populateScale(ctx); err != nil {
		return err
	}
	idle, err := b.measureIdle(ctx)
	if err != nil {
		return err
	}
	b.idle = idle
	sink, err := NewSink(token)
	if err != nil {
		return err
	}
	defer sink.Close()
	runs := map[string]agentRun{}
	for _, source := range b.sources() {
		m, err := b.runAgent(ctx, "scale-"+source, source, "delta", sink)
		if err != nil {
			return err
		}
		runs[source] = m
	}
	list, err := b.pop.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return err
	}
	running := 0
	for i := range list.Items {
		if list.Items[i].Status.Phase == corev1.PodRunning {
			running++
		}
	}
	nodes, err := b.pop.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return err
	}
	b.r.Printf("### 2. Node scoping at cluster scale\n")
	b.r.Printf("The same agent (%d pods on its node, over the same %d namespaces) while the cluster holds %d pods (%d of them Running when measured) on %d kwok nodes; the other pods share the node's namespaces.", b.cfg.Pods, b.cfg.Namespaces, len(list.Items), running, len(nodes.Items))
	var rows [][]string
	for _, source := range b.sources() {
		m, small := runs[source], b.small[source]
		h := perHour(m.steady.Total(), m.window)
		rows = append(rows,
			[]string{source, fmt.Sprintf("1 node, %d pods", b.cfg.Pods), mib(small.rss), mib(small.heap), num(small.perHour)},
			[]string{source, fmt.Sprintf("%d nodes, %d pods", len(nodes.Items), len(list.Items)), mib(m.rss), mib(m.heap), num(h)},
			[]string{source, "change", pct(m.rss, small.rss), pct(m.heap, small.heap), pct(h, small.perHour)})
		b.r.Set("scale."+source+".rss_bytes", m.rss)
		b.r.Set("scale."+source+".heap_bytes", m.heap)
		b.r.Set("scale."+source+".requests_per_hour", h)
	}
	b.r.Table([]string{"usage source", "cluster", "RSS", "Go heap in use", "requests per hour"}, rows)
	return nil
}

// scaleNode names the scale scenario's nodes.
func scaleNode(i int) string { return fmt.Sprintf("scale-node-%d", i) }

// populateScale creates the scale scenario's nodes and pods, once per run:
// the reporter scenario runs on the same cluster.
func (b *Runner) populateScale(ctx context.Context) error {
	if b.scaled {
		return nil
	}
	t0 := time.Now()
	perNode := (b.cfg.ScalePods + b.cfg.ScaleNodes - 1) / b.cfg.ScaleNodes
	if err := b.pop.Nodes(ctx, b.cfg.ScaleNodes, perNode+10, scaleNode); err != nil {
		return err
	}
	if err := b.pop.Pods(ctx, b.cfg.ScalePods, func(i int) (string, string, string) {
		return b.nsName(i), fmt.Sprintf("scale-%d", i), scaleNode(i % b.cfg.ScaleNodes)
	}); err != nil {
		return err
	}
	b.logf("created %d nodes and %d pods in %s", b.cfg.ScaleNodes, b.cfg.ScalePods, time.Since(t0).Round(time.Second))
	// kwok takes the new pods to Running at its own pace (tens to hundreds
	// a second, by machine); the agents' figures do not depend on it, so
	// the wait is bounded and the report says how far kwok got.
	if err := b.pop.WaitRunning(ctx, b.cfg.ScalePods+b.cfg.Pods, 3*time.Minute); err != nil {
		b.logf("going on: %v", err)
	}
	b.scaled = true
	return nil
}

func pct(v, ref float64) string {
	if ref == 0 {
		return "–"
	}
	return fmt.Sprintf("%+.1f%%", (v/ref-1)*100)
}

// many: cfg.ManyNodes agents (one process each) against one API server,
// against as many baselines.
func (b *Runner) many(ctx context.Context) error {
	t0 := time.Now()
	nodeName := func(i int) string { return fmt.Sprintf("many-node-%d", i) }
	const namespaces = 3
	if err := b.pop.Nodes(ctx, b.cfg.ManyNodes, b.cfg.ManyPods+10, nodeName); err != nil {
		return err
	}
	if err := b.pop.Namespaces(ctx, namespaces, func(i int) string { return fmt.Sprintf("many-%d", i) }); err != nil {
		return err
	}
	total := b.cfg.ManyNodes * b.cfg.ManyPods
	if err := b.pop.Pods(ctx, total, func(i int) (string, string, string) {
		return fmt.Sprintf("many-%d", i%namespaces), fmt.Sprintf("p-%d", i), nodeName(i % b.cfg.ManyNodes)
	}); err != nil {
		return err
	}
	if err := b.pop.WaitRunning(ctx, total, 5*time.Minute); err != nil {
		return err
	}
	if err := b.pop.WaitPodMetrics(ctx, total, 3*time.Minute); err != nil {
		return err
	}
	b.logf("%d nodes × %d pods ready in %s", b.cfg.ManyNodes, b.cfg.ManyPods, time.Since(t0).Round(time.Second))

	type load struct {
		rate, apiCPU, msCPU float64
		byKey               Counts
		window              time.Duration
	}
	measure := func() (load, error) {
		var l load
		apiPID, msPID := b.c.PID(rig.CompAPIServer), b.c.PID(rig.CompMetricsServer)
		r0, err := b.req.All(ctx)
		if err != nil {
			return l, err
		}
		a0, _ := ReadProc(apiPID)
		m0, _ := ReadProc(msPID)
		w0 := time.Now()
		sleep(ctx, b.cfg.Window)
		l.window = time.Since(w0)
		r1, err := b.req.All(ctx)
		if err != nil {
			return l, err
		}
		a1, _ := ReadProc(apiPID)
		m1, _ := ReadProc(msPID)
		l.byKey = r1.Sub(r0)
		l.rate = l.byKey.Total() / l.window.Seconds()
		l.apiCPU = CPUBetween(a0, a1) / l.window.Seconds()
		l.msCPU = CPUBetween(m0, m1) / l.window.Seconds()
		return l, ctx.Err()
	}
	idle, err := measure()
	if err != nil {
		return err
	}

	sink, err := NewSink(token)
	if err != nil {
		return err
	}
	defer sink.Close()
	sources := []string{"metrics-api"}
	if b.kubelet {
		sources = append(sources, "kubelet")
	}
	type oursRun struct {
		source      string
		l           load
		cpu, rss    float64
		n           int
		startup     time.Duration
		byKeyNoIdle Counts
	}
	var runs []oursRun
	for _, source := range sources {
		opts := make([]AgentOptions, b.cfg.ManyNodes)
		for i := range opts {
			opts[i] = b.agentOptions(fmt.Sprintf("many-%s-%d", source, i), nodeName(i), source, "delta", sink.URL)
			opts[i].Env = append(opts[i].Env, "CATOPS_LOG_LEVEL=warn")
		}
		b.logf("starting %d agents (%s source)", len(opts), source)
		s0 := time.Now()
		agents, err := startAgents(ctx, opts, 10)
		if err != nil {
			return err
		}
		run := oursRun{source: source, n: len(agents), startup: time.Since(s0)}
		sleep(ctx, b.cfg.Interval*3/2)
		var cpu0 []Proc
		for _, a := range agents {
			p, _ := a.Proc()
			cpu0 = append(cpu0, p)
		}
		run.l, err = measure()
		for i, a := range agents {
			p, _ := a.Proc()
			run.cpu += CPUBetween(cpu0[i], p)
			run.rss += float64(p.RSSBytes)
		}
		stopAgents(agents)
		if err != nil {
			return err
		}
		run.byKeyNoIdle = run.l.byKey.Sub(idle.byKey.Scale(run.l.window.Seconds() / idle.window.Seconds()))
		runs = append(runs, run)
	}

	bls := make([]*Baseline, b.cfg.ManyNodes)
	for i := range bls {
		if bls[i], err = NewBaseline(b.c.RESTConfig(), nodeName(i), b.cfg.Interval); err != nil {
			return err
		}
	}
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var bReq, bErr, bPolls int64
	b0 := time.Now()
	go func() { bReq, bErr, bPolls = RunBaselines(bctx, bls); close(done) }()
	sleep(ctx, b.cfg.Interval)
	base, err := measure()
	cancel()
	<-done
	// Polls each baseline would have made on time over the run.
	onTime := float64(len(bls)) * (1 + time.Since(b0).Seconds()/b.cfg.Interval.Seconds())
	if err != nil {
		return err
	}

	b.r.Printf("### 7. Many nodes, one API server\n")
	b.r.Printf("%d agents (separate processes, one node each) against one API server with %d kwok nodes × %d pods (%d namespaces), windows of %s; the rig's own load (kwok's heartbeats, metrics-server's scrapes) is the idle row. Requests: kube-apiserver's `apiserver_request_total` plus metrics-server's for the metrics.k8s.io requests proxied to it.",
		b.cfg.ManyNodes, b.cfg.ManyNodes, b.cfg.ManyPods, namespaces, b.cfg.Window)
	row := func(name string, l load) []string {
		return []string{name, fmt.Sprintf("%.1f", l.rate), fmt.Sprintf("%.2f", max(0, l.rate-idle.rate)),
			fmt.Sprintf("%.0f", l.apiCPU*1000), fmt.Sprintf("%.0f", l.msCPU*1000)}
	}
	rows := [][]string{row("idle (rig only)", idle)}
	for _, r := range runs {
		rows = append(rows, row(fmt.Sprintf("%d agents (ours, %s source)", r.n, r.source), r.l))
	}
	rows = append(rows, row(fmt.Sprintf("%d polling baselines", b.cfg.ManyNodes), base))
	b.r.Table([]string{"", "API requests/s", "minus idle", "kube-apiserver millicores", "metrics-server millicores"}, rows)
	for _, r := range runs {
		b.r.Printf("- Ours, %s source: all %d agents ready (caches synced) %s after the first started; requests in the window minus idle: %s; the agents used %.0f millicores together (%.2f each) and %s RSS together (%s each).",
			r.source, r.n, r.startup.Round(time.Second), r.byKeyNoIdle, r.cpu/r.l.window.Seconds()*1000, r.cpu/r.l.window.Seconds()*1000/float64(r.n), mib(r.rss), mib(r.rss/float64(r.n)))
		b.r.Set("many.ours."+r.source+".requests_per_second", r.l.rate-idle.rate)
		b.r.Set("many.ours."+r.source+".apiserver_millicores", r.l.apiCPU*1000)
	}
	b.r.Printf("- Baseline, requests in the window minus idle: %s.", base.byKey.Sub(idle.byKey.Scale(base.window.Seconds()/idle.window.Seconds())))
	b.r.Printf("- Baseline client-side: %d requests, %d failed; %d polls completed of the %.0f a %s interval asks for (%.0f%%): where it falls short, the API server could not keep up.\n",
		bReq, bErr, bPolls, onTime, b.cfg.Interval, float64(bPolls)/onTime*100)
	b.r.Set("many.baseline.requests_per_second", base.rate-idle.rate)
	b.r.Set("many.baseline.apiserver_millicores", base.apiCPU*1000)
	b.r.Set("many.idle.apiserver_millicores", idle.apiCPU*1000)
	return nil
}
