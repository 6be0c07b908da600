package bench

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kubelet is a synthetic kubelet for one node, for the footprint of the
// kubelet usage source with everything on: it serves /metrics/resource,
// /stats/summary and /metrics/cadvisor over TLS for the pods it is given.
// kwok serves only the resource metrics (its Metric resource writes
// Prometheus text, not the Summary API's JSON).
//
// The answers have the real kubelet's shape and size, after captures from
// the real node of test/node (kubelet v1.37, containerd, cgroup v1): per
// two-container pod ≈ 3.8 KB of summary (each container's cpu, memory, io,
// rootfs, logs and swap, the pod's network, volumes, ephemeral storage,
// process stats; the real pod's was 3.6 KB) and ≈ 58 KB of cAdvisor text
// (the real pod's was 53 KB): 50 families for each of the pod's cgroups
// (the pod, its sandbox and each container), grouped by family as the
// kubelet writes them. Every figure moves as a real one does: CPU,
// network and CFS counters grow at rates that wander by a third, working
// sets change by a few pages between reads, logs grow.
type Kubelet struct {
	// URL is the resource metrics URL (CATOPS_KUBELET_URL); the other two
	// endpoints are its siblings.
	URL string

	srv   *http.Server
	start time.Time
	node  string
	now   func() time.Time

	mu   sync.Mutex
	pods []KubeletPod

	// Reads and Bytes count the answers per path.
	reads, bytes sync.Map // path → *atomic.Int64
}

// KubeletPod is one pod the synthetic kubelet reports: two containers, web
// (with a CPU limit, so cAdvisor writes its CFS series) and sidecar, as
// TestPod's.
type KubeletPod struct {
	Namespace, Name string
}

// kubeletContainers are every KubeletPod's containers, sorted.
var kubeletContainers = []string{"sidecar", "web"}

// NewKubelet serves a synthetic kubelet for node on 127.0.0.1 with the
// given serving certificate (the rig's, signed by its CA).
func NewKubelet(node, certFile, keyFile string) (*Kubelet, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	k := newKubelet(node)
	k.URL = "https://" + l.Addr().String() + "/metrics/resource"
	k.srv = &http.Server{Handler: k.handler(), ReadHeaderTimeout: 10 * time.Second,
		// The agent authenticates as its kubeconfig says: the rig's has a
		// client certificate, a pod's a bearer token.
		TLSConfig: &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}}
	go func() { _ = k.srv.ServeTLS(l, certFile, keyFile) }()
	return k, nil
}

func newKubelet(node string) *Kubelet {
	return &Kubelet{node: node, start: time.Now().Add(-time.Hour), now: time.Now}
}

func (k *Kubelet) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics/resource", k.serve(k.writeResource))
	mux.HandleFunc("GET /stats/summary", k.serve(k.writeSummary))
	mux.HandleFunc("GET /metrics/cadvisor", k.serve(k.writeCadvisor))
	return mux
}

// Close stops the server.
func (k *Kubelet) Close() {
	if k.srv != nil {
		_ = k.srv.Close()
	}
}

// SetPods replaces the pods reported.
func (k *Kubelet) SetPods(pods []KubeletPod) {
	k.mu.Lock()
	k.pods = append([]KubeletPod(nil), pods...)
	k.mu.Unlock()
}

// Counts returns the answers served on path and their bytes.
func (k *Kubelet) Counts(path string) (reads, bytes int64) {
	if v, ok := k.reads.Load(path); ok {
		reads = v.(*atomic.Int64).Load()
	}
	if v, ok := k.bytes.Load(path); ok {
		bytes = v.(*atomic.Int64).Load()
	}
	return reads, bytes
}

func (k *Kubelet) add(m *sync.Map, path string, n int64) {
	v, _ := m.LoadOrStore(path, new(atomic.Int64))
	v.(*atomic.Int64).Add(n)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (k *Kubelet) serve(write func(w io.Writer, now time.Time, pods []KubeletPod)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") && (r.TLS == nil || len(r.TLS.PeerCertificates) == 0) {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		k.mu.Lock()
		pods := k.pods
		k.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/stats/") {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		}
		bw := bufio.NewWriterSize(w, 64<<10)
		cw := &countWriter{w: bw}
		write(cw, k.now(), pods)
		_ = bw.Flush()
		k.add(&k.reads, r.URL.Path, 1)
		k.add(&k.bytes, r.URL.Path, cw.n)
	}
}

// figures of one container (or pod) at one time, from a seed of its name.
type figures struct {
	seed uint64
	secs float64 // since the synthetic node started
}

func seedOf(parts ...string) uint64 {
	h := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return binary.LittleEndian.Uint64(h[:8])
}

// frac is a number in [0, 1) drawn from the seed and a salt.
func (f figures) frac(salt uint64) float64 {
	x := f.seed ^ (salt * 0x9e3779b97f4a7c15)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return float64(x>>11) / (1 << 53)
}

// counter grows at rate per second on average, by between 2/3 and 4/3 of
// it at any time, and never goes down.
func (f figures) counter(salt uint64, rate float64) float64 {
	phase := f.frac(salt+1) * 2 * math.Pi
	return rate * (f.secs + 20*(math.Cos(phase)-math.Cos(f.secs/60+phase)))
}

// gauge is base plus a few 4 KiB pages that change every 10 s.
func (f figures) gauge(salt uint64, base float64) uint64 {
	step := uint64(f.secs / 10)
	g := figures{seed: f.seed ^ step*0x2545f4914f6cdd1d}
	return uint64(base)/4096*4096 + 4096*uint64(g.frac(salt)*64)
}

func (k *Kubelet) container(p KubeletPod, c string, now time.Time) figures {
	return figures{seed: seedOf(p.Namespace, p.Name, c), secs: now.Sub(k.start).Seconds()}
}

// cores is a container's average CPU use: 1–200 millicores.
func (f figures) cores() float64 { return 0.001 + f.frac(10)*0.2 }

// cfs are a CPU-limited container's CFS counters: about 8 periods a
// second, a share of them throttled (up to 30%), 50 ms throttled in each;
// cAdvisor's text and the synthetic cgroup tree give the same.
func (f figures) cfs() (periods, throttled, seconds float64) {
	n := f.counter(30, 8)
	return math.Floor(n), math.Floor(n * f.frac(31) * 0.3), n * f.frac(31) * 0.3 * 0.05
}

// workingSet is 8–200 MiB.
func (f figures) workingSet() uint64 { return f.gauge(11, (8+f.frac(12)*192)*(1<<20)) }

func podUID(p KubeletPod) string {
	h := sha256.Sum256([]byte(p.Namespace + "/" + p.Name))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

func containerID(p KubeletPod, c string) string {
	h := sha256.Sum256([]byte(p.Namespace + "/" + p.Name + "/" + c))
	return hex.EncodeToString(h[:])
}

func (k *Kubelet) writeResource(w io.Writer, now time.Time, pods []KubeletPod) {
	ms := now.UnixMilli()
	node := figures{seed: seedOf(k.node), secs: now.Sub(k.start).Seconds()}
	fmt.Fprintf(w, "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds\n# TYPE container_cpu_usage_seconds_total counter\n")
	for _, p := range pods {
		for _, c := range kubeletContainers {
			f := k.container(p, c, now)
			fmt.Fprintf(w, "container_cpu_usage_seconds_total{container=%q,namespace=%q,pod=%q} %g %d\n", c, p.Namespace, p.Name, f.counter(1, f.cores()), ms)
		}
	}
	fmt.Fprintf(w, "# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes\n# TYPE container_memory_working_set_bytes gauge\n")
	for _, p := range pods {
		for _, c := range kubeletContainers {
			f := k.container(p, c, now)
			fmt.Fprintf(w, "container_memory_working_set_bytes{container=%q,namespace=%q,pod=%q} %d %d\n", c, p.Namespace, p.Name, f.workingSet(), ms)
		}
	}
	fmt.Fprintf(w, "# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds\n# TYPE container_start_time_seconds gauge\n")
	for _, p := range pods {
		for _, c := range kubeletContainers {
			fmt.Fprintf(w, "container_start_time_seconds{container=%q,namespace=%q,pod=%q} %d\n", c, p.Namespace, p.Name, k.start.Unix())
		}
	}
	fmt.Fprintf(w, "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds\n# TYPE node_cpu_usage_seconds_total counter\nnode_cpu_usage_seconds_total %g %d\n", node.counter(1, 0.4+0.01*float64(len(pods))), ms)
	fmt.Fprintf(w, "# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes\n# TYPE node_memory_working_set_bytes gauge\nnode_memory_working_set_bytes %d %d\n", node.gauge(1, 2<<30), ms)
	fmt.Fprintf(w, "# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds\n# TYPE pod_cpu_usage_seconds_total counter\n")
	for _, p := range pods {
		var sum float64
		for _, c := range kubeletContainers {
			f := k.container(p, c, now)
			sum += f.counter(1, f.cores())
		}
		fmt.Fprintf(w, "pod_cpu_usage_seconds_total{namespace=%q,pod=%q} %g %d\n", p.Namespace, p.Name, sum, ms)
	}
	fmt.Fprintf(w, "# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes\n# TYPE pod_memory_working_set_bytes gauge\n")
	for _, p := range pods {
		var sum uint64
		for _, c := range kubeletContainers {
			sum += k.container(p, c, now).workingSet()
		}
		fmt.Fprintf(w, "pod_memory_working_set_bytes{namespace=%q,pod=%q} %d %d\n", p.Namespace, p.Name, sum+1<<20, ms)
	}
}

const psi = `"psi":{"full":{"total":0,"avg10":0,"avg60":0,"avg300":0},"some":{"total":0,"avg10":0,"avg60":0,"avg300":0}}`

func fsJSON(t string, avail, capacity, used, inodesFree, inodes, inodesUsed uint64) string {
	return fmt.Sprintf(`{"time":%q,"availableBytes":%d,"capacityBytes":%d,"usedBytes":%d,"inodesFree":%d,"inodes":%d,"inodesUsed":%d}`,
		t, avail, capacity, used, inodesFree, inodes, inodesUsed)
}

func (k *Kubelet) writeSummary(w io.Writer, now time.Time, pods []KubeletPod) {
	t := now.UTC().Truncate(time.Second).Format(time.RFC3339)
	started := k.start.UTC().Format(time.RFC3339)
	const capacity, avail = 270553174016, 49376636928
	node := figures{seed: seedOf(k.node), secs: now.Sub(k.start).Seconds()}
	fmt.Fprintf(w, `{"node":{"nodeName":%q,"startTime":%q,"cpu":{"time":%q,"usageNanoCores":%d,"usageCoreNanoSeconds":%d,%s},`,
		k.node, started, t, uint64(4e8+1e7*float64(len(pods))), uint64(node.counter(1, 0.4)*1e9), psi)
	fmt.Fprintf(w, `"memory":{"time":%q,"availableBytes":%d,"usageBytes":%d,"workingSetBytes":%d,"rssBytes":%d,"pageFaults":225052,"majorPageFaults":0,%s},`,
		t, 22678081536-node.gauge(2, 0), 4160356352+node.gauge(3, 0), 2597945344+node.gauge(4, 0), 315199488+node.gauge(5, 0), psi)
	fmt.Fprintf(w, `"network":{"time":%q,"name":"eth0","rxBytes":%d,"rxErrors":0,"txBytes":%d,"txErrors":0,"interfaces":[{"name":"eth0","rxBytes":%d,"rxErrors":0,"txBytes":%d,"txErrors":0}]},`,
		t, uint64(node.counter(6, 2e5)), uint64(node.counter(7, 1e5)), uint64(node.counter(6, 2e5)), uint64(node.counter(7, 1e5)))
	fmt.Fprintf(w, `"fs":%s,"runtime":{"imageFs":%s,"containerFs":%s},"rlimit":{"time":%q,"maxpid":32768,"curproc":%d},"swap":{"time":%q,"swapAvailableBytes":0,"swapUsageBytes":0}},"pods":[`,
		fsJSON(t, avail, capacity, capacity-avail, 15838425, 16777216, 938791),
		fsJSON(t, avail, capacity, 2308096000, 15838425, 16777216, 5000),
		fsJSON(t, avail, capacity, 2308096000, 15838425, 16777216, 5000), t, 160+3*len(pods), t)
	for i, p := range pods {
		if i > 0 {
			_, _ = io.WriteString(w, ",")
		}
		fmt.Fprintf(w, `{"podRef":{"name":%q,"namespace":%q,"uid":%q},"startTime":%q,"containers":[`, p.Name, p.Namespace, podUID(p), started)
		var podCPU, podCPUTotal float64
		var podWS, podRSS uint64
		for j, c := range kubeletContainers {
			f := k.container(p, c, now)
			ws := f.workingSet()
			rss := ws / 4096 * 6 / 10 * 4096
			podCPU += f.cores()
			podCPUTotal += f.counter(1, f.cores())
			podWS += ws
			podRSS += rss
			if j > 0 {
				_, _ = io.WriteString(w, ",")
			}
			logs := 4096 + 4096*uint64(f.secs/60)
			fmt.Fprintf(w, `{"name":%q,"startTime":%q,"cpu":{"time":%q,"usageNanoCores":%d,"usageCoreNanoSeconds":%d,%s},`,
				c, started, t, uint64(f.cores()*1e9), uint64(f.counter(1, f.cores())*1e9), psi)
			fmt.Fprintf(w, `"memory":{"time":%q,"availableBytes":%d,"usageBytes":%d,"workingSetBytes":%d,"rssBytes":%d,"pageFaults":%d,"majorPageFaults":0,%s},`,
				t, 512<<20-ws, ws+1<<20, ws, rss, uint64(f.counter(13, 10)), psi)
			fmt.Fprintf(w, `"io":{"time":%q,%s},"rootfs":%s,"logs":%s,"swap":{"time":%q,"swapUsageBytes":0}}`,
				t, psi, fsJSON(t, avail, capacity, 40960, 15838425, 16777216, 13), fsJSON(t, avail, capacity, logs, 15838425, 16777216, 1), t)
		}
		pf := figures{seed: seedOf(p.Namespace, p.Name), secs: now.Sub(k.start).Seconds()}
		rx, tx := uint64(pf.counter(20, 1e3+pf.frac(21)*1e5)), uint64(pf.counter(22, 1e3+pf.frac(23)*5e4))
		fmt.Fprintf(w, `],"cpu":{"time":%q,"usageNanoCores":%d,"usageCoreNanoSeconds":%d,%s},"memory":{"time":%q,"usageBytes":%d,"workingSetBytes":%d,"rssBytes":%d,"pageFaults":0,"majorPageFaults":0,%s},"io":{"time":%q,%s},`,
			t, uint64(podCPU*1e9), uint64(podCPUTotal*1e9), psi, t, podWS+3<<20, podWS+1<<20, podRSS, psi, t, psi)
		fmt.Fprintf(w, `"network":{"time":%q,"name":"eth0","rxBytes":%d,"rxErrors":0,"txBytes":%d,"txErrors":0,"interfaces":[{"name":"eth0","rxBytes":%d,"rxErrors":0,"txBytes":%d,"txErrors":0}]},`,
			t, rx, tx, rx, tx)
		scratch := 4096 * uint64(pf.frac(24)*25600)
		fmt.Fprintf(w, `"volume":[{"time":%q,"availableBytes":25223585792,"capacityBytes":25223598080,"usedBytes":12288,"inodesFree":3085443,"inodes":3085452,"inodesUsed":9,"name":"kube-api-access-%s"},{"time":%q,"availableBytes":%d,"capacityBytes":%d,"usedBytes":%d,"inodesFree":15838425,"inodes":16777216,"inodesUsed":12,"name":"scratch"}],`,
			t, podUID(p)[:5], t, avail, capacity, scratch)
		fmt.Fprintf(w, `"ephemeral-storage":%s,"process_stats":{"process_count":%d},"swap":{"time":%q,"swapUsageBytes":0}}`,
			fsJSON(t, avail, capacity, scratch+94208+8192*uint64(pf.secs/60), 15838425, 16777216, 29), 2+int(pf.frac(25)*8), t)
	}
	_, _ = io.WriteString(w, "]}\n")
}

// cadvisorFamilies are /metrics/cadvisor's families of one cgroup, in the
// kubelet's order, with the extra labels of each of their series.
var cadvisorFamilies = []struct {
	name, typ string
	labels    []string // one series per entry; "" for none
}{
	{"container_cpu_cfs_burst_periods_total", "counter", []string{""}},
	{"container_cpu_cfs_burst_seconds_total", "counter", []string{""}},
	{"container_cpu_cfs_periods_total", "counter", []string{""}},
	{"container_cpu_cfs_throttled_periods_total", "counter", []string{""}},
	{"container_cpu_cfs_throttled_seconds_total", "counter", []string{""}},
	{"container_cpu_load_average_10s", "gauge", []string{""}},
	{"container_cpu_system_seconds_total", "counter", []string{""}},
	{"container_cpu_usage_seconds_total", "counter", []string{`cpu="total",`}},
	{"container_cpu_user_seconds_total", "counter", []string{""}},
	{"container_creation_time_seconds", "gauge", []string{""}},
	{"container_file_descriptors", "gauge", []string{""}},
	{"container_fs_inodes_free", "gauge", []string{`device="/dev/vda1",`}},
	{"container_fs_inodes_total", "gauge", []string{`device="/dev/vda1",`}},
	{"container_fs_limit_bytes", "gauge", []string{`device="/dev/vda1",`}},
	{"container_fs_usage_bytes", "gauge", []string{`device="/dev/vda1",`}},
	{"container_health_state", "gauge", []string{""}},
	{"container_last_seen", "gauge", []string{""}},
	{"container_memory_cache", "gauge", []string{""}},
	{"container_memory_events_high_total", "counter", []string{""}},
	{"container_memory_events_max_total", "counter", []string{""}},
	{"container_memory_failcnt", "counter", []string{""}},
	{"container_memory_failures_total", "counter", []string{
		`failure_type="pgfault",scope="container",`, `failure_type="pgfault",scope="hierarchy",`,
		`failure_type="pgmajfault",scope="container",`, `failure_type="pgmajfault",scope="hierarchy",`}},
	{"container_memory_file_dirty_bytes", "gauge", []string{""}},
	{"container_memory_file_writeback_bytes", "gauge", []string{""}},
	{"container_memory_kernel_usage", "gauge", []string{""}},
	{"container_memory_mapped_file", "gauge", []string{""}},
	{"container_memory_max_usage_bytes", "gauge", []string{""}},
	{"container_memory_pgscan_total", "counter", []string{""}},
	{"container_memory_pgsteal_total", "counter", []string{""}},
	{"container_memory_rss", "gauge", []string{""}},
	{"container_memory_swap", "gauge", []string{""}},
	{"container_memory_total_active_file_bytes", "gauge", []string{""}},
	{"container_memory_total_inactive_file_bytes", "gauge", []string{""}},
	{"container_memory_usage_bytes", "gauge", []string{""}},
	{"container_memory_working_set_bytes", "gauge", []string{""}},
	{"container_memory_workingset_refault_anon_total", "counter", []string{""}},
	{"container_memory_workingset_refault_file_total", "counter", []string{""}},
	{"container_oom_events_total", "counter", []string{""}},
	{"container_processes", "gauge", []string{""}},
	{"container_sockets", "gauge", []string{""}},
	{"container_spec_cpu_period", "gauge", []string{""}},
	{"container_spec_cpu_quota", "gauge", []string{""}},
	{"container_spec_cpu_shares", "gauge", []string{""}},
	{"container_spec_memory_limit_bytes", "gauge", []string{""}},
	{"container_spec_memory_reservation_limit_bytes", "gauge", []string{""}},
	{"container_spec_memory_swap_limit_bytes", "gauge", []string{""}},
	{"container_start_time_seconds", "gauge", []string{""}},
	{"container_threads", "gauge", []string{""}},
	{"container_threads_max", "gauge", []string{""}},
	{"container_ulimits_soft", "gauge", []string{`ulimit="max_open_files",`}},
}

func (k *Kubelet) writeCadvisor(w io.Writer, now time.Time, pods []KubeletPod) {
	ms := now.UnixMilli()
	// One cgroup per pod, its sandbox and each container.
	type cgroup struct {
		pod                        KubeletPod
		container, id, image, name string
		f                          figures
		limited                    bool
	}
	secs := now.Sub(k.start).Seconds()
	var cgroups []cgroup
	for _, p := range pods {
		base := "/kubepods/burstable/pod" + podUID(p)
		cgroups = append(cgroups, cgroup{pod: p, id: base, f: figures{seed: seedOf(p.Namespace, p.Name), secs: secs}})
		sandbox := containerID(p, "")
		cgroups = append(cgroups, cgroup{pod: p, id: base + "/" + sandbox, image: "registry.k8s.io/pause:3.10", name: sandbox,
			f: figures{seed: seedOf(p.Namespace, p.Name, ""), secs: secs}})
		for _, c := range kubeletContainers {
			id := containerID(p, c)
			cgroups = append(cgroups, cgroup{pod: p, container: c, id: base + "/" + id, image: "registry.example/" + c + ":1.27", name: id,
				f: k.container(p, c, now), limited: c == "web"})
		}
	}
	for _, fam := range cadvisorFamilies {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", fam.name, strings.ReplaceAll(fam.name, "_", " "), fam.name, fam.typ)
		cfs := strings.HasPrefix(fam.name, "container_cpu_cfs_") || fam.name == "container_spec_cpu_quota"
		for _, cg := range cgroups {
			if cfs && !cg.limited {
				continue // cAdvisor writes CFS series only under a CPU quota
			}
			var v float64
			switch fam.name {
			case "container_cpu_cfs_periods_total":
				v, _, _ = cg.f.cfs()
			case "container_cpu_cfs_throttled_periods_total":
				_, v, _ = cg.f.cfs()
			case "container_cpu_cfs_throttled_seconds_total":
				_, _, v = cg.f.cfs()
			case "container_cpu_usage_seconds_total":
				v = cg.f.counter(1, cg.f.cores())
			case "container_memory_working_set_bytes", "container_memory_usage_bytes":
				v = float64(cg.f.workingSet())
			case "container_spec_cpu_quota":
				v = 50000
			default:
				v = math.Floor(cg.f.frac(uint64(len(fam.name))) * 1000)
			}
			for _, extra := range fam.labels {
				fmt.Fprintf(w, "%s{container=%q,%sid=%q,image=%q,name=%q,namespace=%q,pod=%q} %g %d\n",
					fam.name, cg.container, extra, cg.id, cg.image, cg.name, cg.pod.Namespace, cg.pod.Name, v, ms)
			}
		}
	}
}
