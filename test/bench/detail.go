package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// detailVariant is one agent of the detail scenario.
type detailVariant struct {
	name, key string
	binary    string
	env       []string
	full      bool // reads everything: its receiver must hold every figure
	cgroups   bool // reads throttling from the synthetic cgroup tree (HOST_SYS)
	breakdown bool // the report says where its usage events' bytes go
}

// detailRun is the detail scenario's agents, measured together over one
// window.
type detailRun struct {
	pods              int
	runs              []agentRun // by variant
	variants          []detailVariant
	steady            Counts // API requests of all of them in the window
	summary, cadvisor int64  // bytes of one answer of the synthetic kubelet
	resourceBytes     int64
	// usageBytes and fields: the gzip'd usage events of the variant with
	// breakdown in the window, and each field group's share of them.
	usageBytes, usageEvents int
	fields                  []fieldShare
}

func (b *Runner) detailVariants() []detailVariant {
	vs := []detailVariant{
		{name: "resource metrics only", key: "resource", binary: b.cfg.Agent,
			env: []string{"CATOPS_KUBELET_SUMMARY=false", "CATOPS_THROTTLING_SOURCE=none"}},
		{name: "everything on, throttling from the cgroups (the default)", key: "all", binary: b.cfg.Agent, full: true, cgroups: true, breakdown: true,
			env: []string{"CATOPS_KUBELET_SUMMARY=true", "CATOPS_THROTTLING_SOURCE=cgroup"}},
		{name: "everything on, throttling from /metrics/cadvisor", key: "cadvisor", binary: b.cfg.Agent, full: true,
			env: []string{"CATOPS_KUBELET_SUMMARY=true", "CATOPS_THROTTLING_SOURCE=cadvisor"}},
	}
	if b.cfg.AgentBefore != "" {
		// The earlier binary reads what the first variant reads (settings it
		// does not know are ignored).
		vs = append([]detailVariant{{name: "before (-agent-before), resource metrics only", key: "before", binary: b.cfg.AgentBefore, env: vs[0].env}}, vs...)
	}
	return vs
}

// detail: the footprint of the kubelet source with everything on (the
// summary and the cAdvisor throttling series) beside the same source
// reading only /metrics/resource (and, with -agent-before, an earlier
// binary), all against the synthetic kubelet (Kubelet) with the node's
// pods, at once, over one window.
func (b *Runner) detail(ctx context.Context, pods []KubeletPod) (detailRun, error) {
	m := detailRun{pods: len(pods), variants: b.detailVariants()}
	k, err := NewKubelet(benchNode, b.c.PKI.ServingCert, b.c.PKI.ServingKey)
	if err != nil {
		return m, err
	}
	defer k.Close()
	k.SetPods(pods)
	cg, err := NewCgroups(os.TempDir(), k)
	if err != nil {
		return m, err
	}
	defer cg.Close()
	cpods, err := b.cgroupPods(ctx, pods)
	if err != nil {
		return m, err
	}
	if err := cg.SetPods(cpods); err != nil {
		return m, err
	}
	cgCtx, stopCgroups := context.WithCancel(ctx)
	defer stopCgroups()
	go cg.Run(cgCtx)
	sinks := make([]*Sink, len(m.variants))
	opts := make([]AgentOptions, len(m.variants))
	for i, v := range m.variants {
		if sinks[i], err = NewSink(token); err != nil {
			return m, err
		}
		defer sinks[i].Close()
		o := b.agentOptions(fmt.Sprintf("detail-%d-%s", len(pods), v.key), benchNode, "kubelet", "delta", sinks[i].URL)
		o.Binary = v.binary
		o.Env = append(o.Env, "CATOPS_KUBELET_URL="+k.URL)
		o.Env = append(o.Env, v.env...)
		if v.cgroups {
			o.Env = append(o.Env, "HOST_SYS="+cg.Sys)
		}
		opts[i] = o
	}
	agents, err := startAgents(ctx, opts, len(opts))
	if err != nil {
		return m, err
	}
	defer stopAgents(agents)
	// Rates need two reads; the network's need two summaries.
	sleep(ctx, b.cfg.Interval*5/2)
	r0, err := b.req.Reads(ctx)
	if err != nil {
		return m, err
	}
	p0 := make([]Proc, len(agents))
	by0 := make([]uint64, len(agents))
	for i, a := range agents {
		if p0[i], err = a.Proc(); err != nil {
			return m, err
		}
		by0[i] = sinks[i].Bytes(benchNode)
	}
	reads0, _ := k.Counts("/metrics/resource")
	for i, v := range m.variants {
		if v.breakdown {
			sinks[i].KeepUsage()
		}
	}
	ws := time.Now()
	sleep(ctx, 2*b.cfg.Window)
	window := time.Since(ws)
	r1, err := b.req.Reads(ctx)
	if err != nil {
		return m, err
	}
	m.steady = r1.Sub(r0).Sub(b.idle.Scale(window.Seconds()))
	for i, a := range agents {
		p1, err := a.Proc()
		if err != nil {
			return m, err
		}
		run := agentRun{window: window, cpu: CPUBetween(p0[i], p1), rss: float64(p1.RSSBytes),
			rssFile: float64(p1.RSSFileBytes), bytes: float64(sinks[i].Bytes(benchNode) - by0[i])}
		run.heap, _ = a.Metric("go_memstats_heap_inuse_bytes")
		m.runs = append(m.runs, run)
	}
	for path, dst := range map[string]*int64{"/stats/summary": &m.summary, "/metrics/cadvisor": &m.cadvisor, "/metrics/resource": &m.resourceBytes} {
		n, bytes := k.Counts(path)
		if n == 0 {
			return m, fmt.Errorf("the synthetic kubelet served no %s: see the agents' logs in %s", path, b.cfg.LogDir)
		}
		*dst = bytes / n
	}
	// Each agent read /metrics/resource every interval of the window.
	reads1, _ := k.Counts("/metrics/resource")
	if want := int64(len(agents)) * int64(window/b.cfg.Interval-1); reads1-reads0 < want {
		return m, fmt.Errorf("the synthetic kubelet served %d reads of /metrics/resource in %s, fewer than %d agents make every %s: see their logs in %s",
			reads1-reads0, window.Round(time.Second), len(agents), b.cfg.Interval, b.cfg.LogDir)
	}
	for i, v := range m.variants {
		if err := b.checkDetail(sinks[i], v, len(pods)); err != nil {
			return m, err
		}
		if v.breakdown {
			us := sinks[i].Usages()
			m.usageEvents = len(us)
			if m.usageBytes, m.fields, err = bytesByField(us); err != nil {
				return m, err
			}
		}
	}
	return m, ctx.Err()
}

// cgroupPods are pods with their UIDs and containers' IDs, from the API.
func (b *Runner) cgroupPods(ctx context.Context, pods []KubeletPod) ([]CgroupPod, error) {
	list, err := b.pop.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + benchNode, ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	byKey := map[KubeletPod]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		byKey[KubeletPod{Namespace: p.Namespace, Name: p.Name}] = p
	}
	out := make([]CgroupPod, 0, len(pods))
	for _, kp := range pods {
		p := byKey[kp]
		if p == nil {
			return nil, fmt.Errorf("pod %s/%s is not in the API server", kp.Namespace, kp.Name)
		}
		cp := CgroupPod{KubeletPod: kp, UID: string(p.UID), IDs: map[string]string{}}
		for _, st := range p.Status.ContainerStatuses {
			if _, id, ok := strings.Cut(st.ContainerID, "://"); ok {
				cp.IDs[st.Name] = id
			}
		}
		out = append(out, cp)
	}
	return out, nil
}

// checkDetail: the agent's usage of every pod arrived, with the summary's
// and cAdvisor's figures when it reads them.
func (b *Runner) checkDetail(sink *Sink, v detailVariant, pods int) error {
	ns, ok := sink.R.Node(benchNode)
	if !ok || !ns.Usage.Available || len(ns.Usage.Pods) != pods {
		return fmt.Errorf("agent %q has not shipped the usage of the node's %d pods: see its log in %s", v.name, pods, b.cfg.LogDir)
	}
	if !v.full {
		return nil
	}
	for key, p := range ns.Usage.Pods {
		if p.Network == nil || len(p.Containers) != len(kubeletContainers) || p.Containers[1].Throttling == nil {
			return fmt.Errorf("pod %s's usage at the receiver lacks the summary's figures or throttling: see the log in %s", key, b.cfg.LogDir)
		}
	}
	return nil
}

// reportDetail writes the detail scenario's rows.
func (b *Runner) reportDetail(runs []detailRun) {
	b.r.Printf("### 8. The kubelet source with everything on\n")
	b.r.Printf("Agents at once on the measured node, all with the kubelet source against a synthetic kubelet (`test/bench/kubelet.go`: answers shaped and sized like the real node's, every figure moving): one reading only `/metrics/resource` (`CATOPS_KUBELET_SUMMARY=false`), two also reading `/stats/summary` (`CATOPS_KUBELET_SUMMARY=true`: per-container usage and RSS, pod network, ephemeral storage and volumes, the node's filesystems) and each CPU-limited container's throttling, one from a synthetic cgroup tree of the node (`CATOPS_THROTTLING_SOURCE=cgroup`, `test/bench/cgroups.go`: cgroup v1, cgroupfs, the counters rewritten every 5 s) and one from `/metrics/cadvisor` (`CATOPS_THROTTLING_SOURCE=cadvisor`)%s. Interval %s, window %s, two containers per pod, one of them CPU-limited.",
		map[bool]string{true: ", and the earlier binary given with `-agent-before`", false: ""}[b.cfg.AgentBefore != ""], b.cfg.Interval, 2*b.cfg.Window)
	var rows [][]string
	for _, m := range runs {
		for i, v := range m.variants {
			r := m.runs[i]
			rows = append(rows, []string{fmt.Sprint(m.pods), v.name, mib(r.rss), mib(r.rssFile), mib(r.heap),
				fmt.Sprintf("%.2f", r.cpu/r.window.Seconds()*1000), kib(perHour(r.bytes, r.window))})
			key := fmt.Sprintf("detail.%d.%s.", m.pods, v.key)
			b.r.Set(key+"rss_bytes", r.rss)
			b.r.Set(key+"heap_bytes", r.heap)
			b.r.Set(key+"rss_file_bytes", r.rssFile)
			b.r.Set(key+"cpu_millicores", r.cpu/r.window.Seconds()*1000)
			b.r.Set(key+"bytes_per_hour", perHour(r.bytes, r.window))
		}
	}
	b.r.Table([]string{"pods", "agent", "RSS", "of which file pages (the binary)", "Go heap in use", "millicores", "bytes per hour (gzip)"}, rows)
	for _, m := range runs {
		b.r.Printf("- %d pods: one answer of the synthetic kubelet is %s of resource metrics, %s of summary, %s of cAdvisor text; API requests of the agents in the window: %s.",
			m.pods, kib(float64(m.resourceBytes)), kib(float64(m.summary)), kib(float64(m.cadvisor)), m.steady)
		b.r.Set(fmt.Sprintf("detail.%d.steady_requests", m.pods), m.steady.Total())
	}
	for _, m := range runs {
		if len(m.fields) == 0 {
			continue
		}
		b.r.Printf("Where the bytes go, %d pods, everything on (cgroup throttling): the %d usage events the receiver got in the window, %s gzip'd one by one, and the share of that each part of the pod readings takes (the events' size without it in any pod, against their whole size):",
			m.pods, m.usageEvents, kib(float64(m.usageBytes)))
		var rows [][]string
		for _, f := range m.fields {
			rows = append(rows, []string{f.name, fmt.Sprintf("%.1f%%", 100*f.share)})
			b.r.Set(fmt.Sprintf("detail.%d.all.bytes_share.%s", m.pods, f.name), f.share)
		}
		b.r.Table([]string{"part of the pod readings", "share of the usage events' bytes"}, rows)
	}
}

// kubeletPods are the pods name gives for i in [0, n).
func kubeletPods(n int, name func(int) (string, string, string)) []KubeletPod {
	pods := make([]KubeletPod, n)
	for i := range pods {
		ns, pod, _ := name(i)
		pods[i] = KubeletPod{Namespace: ns, Name: pod}
	}
	return pods
}

// detailSmall runs the detail scenario with the node's cfg.Pods pods.
func (b *Runner) detailSmall(ctx context.Context) error {
	if !b.kubelet {
		return nil // a binary without the kubelet source
	}
	m, err := b.detail(ctx, kubeletPods(b.cfg.Pods, b.webPod))
	if err != nil {
		return err
	}
	b.details = append(b.details, m)
	return nil
}
