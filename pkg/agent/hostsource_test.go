package agent

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/hostsample/kubeletsample"
	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/kubelet"
	"github.com/catops/cli/pkg/wire"
)

// fakeUsage is a UsageCollector whose every Collect returns a usage event
// and a new NodeStats, remembered in order.
type fakeUsage struct {
	mu     sync.Mutex
	stats  []*usage.NodeStats
	noNode bool // return no NodeStats
}

func (f *fakeUsage) Collect(_ context.Context, _ []usage.PodKey, now time.Time) (wire.Usage, *usage.NodeStats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noNode {
		return wire.Usage{Available: true, Source: usage.KubeletName}, nil
	}
	s := &usage.NodeStats{Read: now}
	f.stats = append(f.stats, s)
	return wire.Usage{Available: true, Source: usage.KubeletName}, s
}
func (f *fakeUsage) Stats() usage.Stats     { return usage.Stats{} }
func (f *fakeUsage) UseNode(usage.NodeFunc) {}

// fakeKubeletHost records what each Sample was given.
type fakeKubeletHost struct {
	mu    sync.Mutex
	stats []*usage.NodeStats
	nodes []*corev1.Node
}

func (f *fakeKubeletHost) Sample(stats *usage.NodeStats, n *corev1.Node, now time.Time) *wire.HostSample {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats = append(f.stats, stats)
	f.nodes = append(f.nodes, n)
	return &wire.HostSample{Source: wire.HostSourceKubelet, Time: now.UTC(), CPU: wire.CPUSample{LogicalCores: new(len(f.stats))}}
}

// procHostMustNotRun fails the test when the gopsutil sampler is used.
type procHostMustNotRun struct{ t *testing.T }

func (h procHostMustNotRun) Sample(context.Context) wire.HostSample {
	h.t.Error("the proc host sampler ran with CATOPS_HOST_SOURCE=kubelet")
	return wire.HostSample{}
}

// kubeletHostMustNotRun fails the test when the kubelet host sampler is
// used.
type kubeletHostMustNotRun struct{ t *testing.T }

func (h kubeletHostMustNotRun) Sample(*usage.NodeStats, *corev1.Node, time.Time) *wire.HostSample {
	h.t.Error("the kubelet host sampler ran with CATOPS_HOST_SOURCE=proc")
	return nil
}

// With the kubelet host source, each host sample is built from the node
// figures of that interval's usage read (the same NodeStats, not a read of
// its own) and the cached Node; the gopsutil sampler never runs.
func TestHostSourceKubeletUsesTheUsageRead(t *testing.T) {
	col, host := &fakeUsage{}, &fakeKubeletHost{}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	e := newEnv(t, func(cfg *config.Config, d *Deps) {
		cfg.PodMetricsSource, cfg.KubeletSummary, cfg.HostSource = config.SourceKubelet, true, config.HostSourceKubelet
		d.Usage, d.KubeletHost, d.Host = col, host, procHostMustNotRun{t}
	}, n)
	e.waitFor("three host samples from the kubelet source", func(st receiver.NodeState) bool {
		return st.Host != nil && st.Host.Source == wire.HostSourceKubelet && *st.Host.CPU.LogicalCores >= 3
	})
	e.stop()
	col.mu.Lock()
	defer col.mu.Unlock()
	host.mu.Lock()
	defer host.mu.Unlock()
	require.GreaterOrEqual(t, len(host.stats), 3)
	assert.Equal(t, col.stats[:len(host.stats)], host.stats, "each sample from the NodeStats of its own interval's usage read, in order")
	for _, got := range host.nodes {
		require.NotNil(t, got, "the cached Node")
		assert.Equal(t, node, got.Name)
	}
	assert.Equal(t, 1, e.logs.FilterField(zap.String("hostSource", "kubelet")).Len(), "the start log names the host source")
}

// The kubelet host sampler is given nil when the usage read brought no
// node figures (the summary failed or was held off): it says so itself.
func TestHostSourceKubeletWithoutNodeFigures(t *testing.T) {
	col, host := &fakeUsage{noNode: true}, &fakeKubeletHost{}
	e := newEnv(t, func(cfg *config.Config, d *Deps) {
		cfg.PodMetricsSource, cfg.KubeletSummary, cfg.HostSource = config.SourceKubelet, true, config.HostSourceKubelet
		d.Usage, d.KubeletHost, d.Host = col, host, procHostMustNotRun{t}
	})
	e.waitFor("a host sample", func(st receiver.NodeState) bool { return st.Host != nil })
	e.stop()
	host.mu.Lock()
	defer host.mu.Unlock()
	for _, s := range host.stats {
		assert.Nil(t, s)
	}
}

// With the proc host source (the default) the kubelet host sampler, even
// if given, is not used.
func TestHostSourceProcIgnoresTheKubeletSampler(t *testing.T) {
	e := newEnv(t, func(cfg *config.Config, d *Deps) {
		d.Usage, d.KubeletHost = &fakeUsage{}, kubeletHostMustNotRun{t}
	})
	e.waitFor("a host sample from /proc", func(st receiver.NodeState) bool {
		return st.Host != nil && st.Host.Source == wire.HostSourceProc
	})
}

// New refuses the kubelet host source without what it takes its figures
// from.
func TestNewRefusesKubeletHostSourceWithoutItsCollaborators(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1")
	cfg.HostSource = config.HostSourceKubelet
	for name, d := range map[string]Deps{
		"no usage collector":      {KubeletHost: &fakeKubeletHost{}},
		"no kubelet host sampler": {Usage: &fakeUsage{}},
	} {
		t.Run(name, func(t *testing.T) {
			d.Logger = zap.NewNop()
			_, err := New(cfg, d)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "CATOPS_HOST_SOURCE=kubelet: the agent needs the kubelet usage source")
		})
	}
}

// TestHostSourceKubeletEndToEnd: the real kubelet source, collector and
// kubelet host sampler against a fake kubelet. The host event carries the
// summary's node figures and the Node's capacity, and the kubelet serves
// one summary per interval: the host figures cost no request of their own.
func TestHostSourceKubeletEndToEnd(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var resourceReads, summaryReads atomic.Int64
	kubeletSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case kubelet.DefaultPath:
			n := resourceReads.Add(1)
			ts := t0.Add(time.Duration(n) * 10 * time.Second).UnixMilli()
			_, _ = fmt.Fprintf(w, "node_cpu_usage_seconds_total %d %d\nnode_memory_working_set_bytes 6.442450944e+09 %d\n", n*13, ts, ts)
		case kubelet.SummaryPath:
			n := summaryReads.Add(1)
			at := t0.Add(time.Duration(n) * 10 * time.Second).Format(time.RFC3339)
			_, _ = fmt.Fprintf(w, `{"node":{"nodeName":%q,"startTime":"2026-02-28T12:00:00Z",
 "cpu":{"time":%q,"usageNanoCores":1300000000},
 "memory":{"time":%q,"availableBytes":10737418240,"workingSetBytes":6442450944},
 "network":{"time":%q,"interfaces":[{"name":"eth0","rxBytes":%d,"txBytes":%d,"rxErrors":0,"txErrors":0},{"name":"cni0","rxBytes":1,"txBytes":1}]},
 "fs":{"availableBytes":60,"capacityBytes":100,"usedBytes":40}},"pods":[]}`, node, at, at, at, n*100000, n*50000)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(kubeletSrv.Close)
	host, port, err := net.SplitHostPort(kubeletSrv.Listener.Addr().String())
	require.NoError(t, err)
	portNum, err := strconv.Atoi(port)
	require.NoError(t, err)
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(portNum)
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")}
	restCfg := &rest.Config{Host: "https://apiserver.invalid", BearerToken: "kube-token", TLSClientConfig: rest.TLSClientConfig{
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kubeletSrv.Certificate().Raw})}}

	e := newEnv(t, func(cfg *config.Config, d *Deps) {
		cfg.PodMetricsSource, cfg.KubeletSummary, cfg.HostSource = config.SourceKubelet, true, config.HostSourceKubelet
		src, err := kubelet.New(restCfg, kubelet.Options{Summary: true, NodeStats: true, Logger: d.Logger})
		require.NoError(t, err)
		d.Usage = usage.NewCollector(src, d.Logger, usage.CollectorOptions{Interval: cfg.CollectionInterval})
		d.KubeletHost = kubeletsample.New(kubeletsample.Options{}, d.Logger)
		d.Host = procHostMustNotRun{t}
	}, n)
	e.waitFor("a host sample from the kubelet summary with network rates", func(st receiver.NodeState) bool {
		return st.Host != nil && len(st.Host.Network) == 1 && st.Host.Network[0].RxBytesPerSec != nil
	})
	e.stop()
	st, _ := e.rcv.Node(node)
	h := st.Host
	assert.Equal(t, wire.HostSourceKubelet, h.Source)
	assert.Empty(t, h.Errors)
	assert.Equal(t, new(4), h.CPU.LogicalCores)
	assert.Equal(t, new(32.5), h.CPU.UsagePercent)
	require.NotNil(t, h.Memory)
	assert.Equal(t, uint64(16<<30), h.Memory.TotalBytes)
	assert.Equal(t, uint64(6<<30), h.Memory.UsedBytes)
	assert.Nil(t, h.Memory.SwapTotalBytes, "the summary gave no swap")
	assert.Equal(t, &wire.FilesystemUsage{UsedBytes: new(uint64(40)), CapacityBytes: new(uint64(100)), AvailableBytes: new(uint64(60))}, h.Filesystem)
	assert.Equal(t, "eth0", h.Network[0].Name, "cni0, a bridge, left out")
	assert.Equal(t, new(10000.0), h.Network[0].RxBytesPerSec, "100,000 bytes over 10 s")
	assert.Nil(t, h.Load)
	assert.Empty(t, h.Disks)
	assert.Equal(t, resourceReads.Load(), summaryReads.Load(), "one summary read per usage read: the host figures add none")
}

// podUsage is a UsageCollector that reads one container of each pod asked
// for.
type podUsage struct{}

func (podUsage) Collect(_ context.Context, pods []usage.PodKey, now time.Time) (wire.Usage, *usage.NodeStats) {
	u := wire.Usage{Available: true, Source: usage.MetricsAPIName}
	for _, k := range pods {
		u.Pods = append(u.Pods, wire.PodUsage{Namespace: k.Namespace, Name: k.Name, ResourceUsage: wire.ResourceUsage{
			Timestamp: now, WindowSeconds: 10, CPUCores: 0.1, MemoryBytes: 1 << 20,
			Containers: []wire.ContainerUsage{{Name: "c", CPUCores: 0.1, MemoryBytes: 1 << 20}}}})
	}
	return u, nil
}
func (podUsage) Stats() usage.Stats     { return usage.Stats{} }
func (podUsage) UseNode(usage.NodeFunc) {}

// fakeThrottling throttles every container of a pod whose UID it was given.
type fakeThrottling struct {
	mu   sync.Mutex
	uids []string
}

func (f *fakeThrottling) Annotate(u *wire.Usage, pods []*corev1.Pod, _ time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	uid := map[string]string{}
	for _, p := range pods {
		uid[p.Namespace+"/"+p.Name] = string(p.UID)
		f.uids = append(f.uids, string(p.UID))
	}
	for i := range u.Pods {
		if uid[u.Pods[i].Namespace+"/"+u.Pods[i].Name] == "" {
			continue
		}
		for j := range u.Pods[i].Containers {
			u.Pods[i].Containers[j].Throttling = &wire.CPUThrottling{Periods: 100, ThrottledPeriods: 25, ThrottledSeconds: 1.5, WindowSeconds: 10}
		}
	}
}

// The throttling reader gets each interval's usage event with the cached
// pods, and what it adds is shipped with the containers' usage.
func TestThrottlingReaderAnnotatesTheUsageEvent(t *testing.T) {
	th := &fakeThrottling{}
	e := newEnv(t, func(_ *config.Config, d *Deps) {
		d.Usage, d.Throttling = podUsage{}, th
	}, newPod("shop", "web"))
	e.waitFor("web's container throttled", func(st receiver.NodeState) bool {
		u, ok := st.Usage.Pods["shop/web"]
		return ok && len(u.Containers) == 1 && u.Containers[0].Throttling != nil &&
			*u.Containers[0].Throttling == wire.CPUThrottling{Periods: 100, ThrottledPeriods: 25, ThrottledSeconds: 1.5, WindowSeconds: 10}
	})
	e.stop()
	th.mu.Lock()
	defer th.mu.Unlock()
	assert.Contains(t, th.uids, "uid-shop-web", "given the cached pods")
}
