package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/cgroup"
	"github.com/catops/cli/pkg/usage/kubelet"
	"github.com/catops/cli/pkg/wire"
)

// The synthetic kubelet's answers are read by the agent's own kubelet
// source as a real kubelet's are: every figure of the summary and of the
// CFS series arrives, and moves between two reads.
func TestSyntheticKubeletFeedsTheKubeletSource(t *testing.T) {
	f := newKubeletFixture(20, 3)
	defer f.srv.Close()

	src, err := kubelet.New(&rest.Config{BearerToken: "t"}, kubelet.Options{
		URL: f.srv.URL + kubelet.DefaultPath, InsecureSkipVerify: true, Summary: true, Throttling: true,
		Now: f.now,
	})
	require.NoError(t, err)
	_, err = src.Fetch(context.Background(), f.keys)
	require.NoError(t, err)
	f.clock = f.clock.Add(10 * time.Second)
	r, err := src.Fetch(context.Background(), f.keys)
	require.NoError(t, err)
	assert.Zero(t, r.Errors)
	assert.Empty(t, r.Rejected)
	require.NotNil(t, r.Node)
	require.NotNil(t, r.Node.Filesystem)
	require.Len(t, r.Pods, len(f.keys))
	for _, key := range f.keys {
		p := r.Pods[key]
		require.Len(t, p.Containers, 2, key)
		assert.Greater(t, p.CPUCores, 0.0, key)
		require.NotNil(t, p.Network, key)
		assert.NotNil(t, p.Network.RxBytesPerSec, key)
		assert.NotNil(t, p.EphemeralStorage, key)
		assert.Len(t, p.Volumes, 2, key)
		for _, c := range p.Containers {
			assert.NotNil(t, c.MemoryRSSBytes, key)
			if c.Name == "web" {
				require.NotNil(t, c.Throttling, "%s web", key)
				assert.Greater(t, c.Throttling.Periods, uint64(0))
			} else {
				assert.Nil(t, c.Throttling, "no CPU limit, no CFS series")
			}
		}
	}
}

// The answers are the size of a real kubelet's (captured on test/node's
// node: 3.6 KB of summary and 53 KB of cAdvisor text for a two-container
// pod) and well formed.
func TestSyntheticKubeletAnswers(t *testing.T) {
	k := newKubelet("bench-node")
	pods := []KubeletPod{}
	for i := range 110 {
		pods = append(pods, KubeletPod{Namespace: fmt.Sprintf("ns-%d", i%10), Name: fmt.Sprintf("web-%d", i)})
	}
	k.SetPods(pods)
	srv := httptest.NewServer(k.handler())
	defer srv.Close()
	get := func(path string) []byte {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer t")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return b
	}
	summary := get("/stats/summary")
	var s struct {
		Pods []json.RawMessage `json:"pods"`
	}
	require.NoError(t, json.Unmarshal(summary, &s))
	assert.Len(t, s.Pods, 110)
	perPod := len(summary) / 110
	assert.True(t, perPod > 3000 && perPod < 4500, "summary: %d bytes per pod", perPod)

	cadvisor := get("/metrics/cadvisor")
	perPod = len(cadvisor) / 110
	assert.True(t, perPod > 40000 && perPod < 65000, "cadvisor: %d bytes per pod", perPod)
	for _, body := range [][]byte{cadvisor, get("/metrics/resource")} {
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
		require.NoError(t, err)
		assert.NotEmpty(t, fams)
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/stats/summary", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a request without a token is refused, as the kubelet's webhook does")
}

// BenchmarkKubeletFetch is one interval's read of the kubelet source from
// the synthetic kubelet over TLS: 110 pods with the resource metrics only
// and with everything on (summary, cAdvisor's CFS series), 1,000 pods with
// the resource metrics only (everything on reads 56 MiB of text a time).
// The synthetic kubelet writes its answers in the same process: its time
// and allocations are part of each op.
func BenchmarkKubeletFetch(b *testing.B) {
	for _, n := range []int{110, 1000} {
		f := newKubeletFixture(n, 10)
		for _, full := range []bool{false, true} {
			if full && n > 110 {
				continue
			}
			b.Run(fmt.Sprintf("%dpods/%s", n, map[bool]string{false: "resource", true: "all"}[full]), func(b *testing.B) {
				src, err := kubelet.New(&rest.Config{BearerToken: "t"}, kubelet.Options{
					URL: f.srv.URL + kubelet.DefaultPath, InsecureSkipVerify: true, Summary: full, Throttling: full,
					Now: f.now,
				})
				require.NoError(b, err)
				b.ReportAllocs()
				for b.Loop() {
					f.clock = f.clock.Add(10 * time.Second)
					if _, err := src.Fetch(context.Background(), f.keys); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		f.srv.Close()
	}
}

// BenchmarkUsageEvent110 is the usage event of one interval, through the
// Collector, for 110 pods of the synthetic kubelet (every figure moving),
// with the resource metrics only and with everything on: its JSON and its
// gzip'd size, as the sender compresses a batch holding it.
func BenchmarkUsageEvent110(b *testing.B) {
	f := newKubeletFixture(110, 10)
	defer f.srv.Close()
	for _, full := range []bool{false, true} {
		b.Run(map[bool]string{false: "resource", true: "all"}[full], func(b *testing.B) {
			src, err := kubelet.New(&rest.Config{BearerToken: "t"}, kubelet.Options{
				URL: f.srv.URL + kubelet.DefaultPath, InsecureSkipVerify: true, Summary: full, Throttling: full,
				Now: f.now,
			})
			require.NoError(b, err)
			col := usage.NewCollector(src, nil, usage.CollectorOptions{})
			for range 3 { // rates need two reads
				f.clock = f.clock.Add(10 * time.Second)
				col.Collect(context.Background(), f.keys, f.clock)
			}
			var raw, gz, n int
			for b.Loop() {
				f.clock = f.clock.Add(10 * time.Second)
				u, _ := col.Collect(context.Background(), f.keys, f.clock)
				require.Len(b, u.Pods, len(f.keys))
				ev, err := wire.Encode(wire.Event{Type: wire.EventUsage, Time: f.clock, Usage: &u})
				require.NoError(b, err)
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				_, _ = zw.Write(ev.Data)
				require.NoError(b, zw.Close())
				raw += len(ev.Data)
				gz += buf.Len()
				n++
			}
			b.ReportMetric(float64(raw)/float64(n), "json-bytes")
			b.ReportMetric(float64(gz)/float64(n), "gzip-bytes")
		})
	}
}

// kubeletFixture is a synthetic kubelet of n pods (over ns namespaces) on
// TLS, on a clock the test moves.
type kubeletFixture struct {
	srv   *httptest.Server
	keys  []usage.PodKey
	clock time.Time
}

func newKubeletFixture(n, ns int) *kubeletFixture {
	f := &kubeletFixture{clock: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
	k := newKubelet("bench-node")
	k.start = f.clock.Add(-time.Hour)
	k.now = f.now
	pods := make([]KubeletPod, n)
	for i := range pods {
		pods[i] = KubeletPod{Namespace: fmt.Sprintf("ns-%d", i%ns), Name: fmt.Sprintf("web-%d", i)}
		f.keys = append(f.keys, usage.PodKey{Namespace: pods[i].Namespace, Name: pods[i].Name})
	}
	k.SetPods(pods)
	f.srv = httptest.NewTLSServer(k.handler())
	return f
}

func (f *kubeletFixture) now() time.Time { return f.clock }

// The synthetic cgroup tree feeds the agent's cgroup throttling source:
// every pod's CPU-limited container (web) gets throttling, the other none.
func TestSyntheticCgroupsFeedTheCgroupSource(t *testing.T) {
	k := newKubelet("bench-node")
	cg, err := NewCgroups(t.TempDir(), k)
	require.NoError(t, err)
	defer cg.Close()
	var cpods []CgroupPod
	var pods []*corev1.Pod
	for i := range 3 {
		p := TestPod("ns", fmt.Sprintf("web-%d", i), "bench-node")
		p.UID = types.UID(fmt.Sprintf("0b5c1f3e-2d4a-4d7e-9a8b-1c2d3e4f5a6%d", i))
		cp := CgroupPod{KubeletPod: KubeletPod{Namespace: p.Namespace, Name: p.Name}, UID: string(p.UID), IDs: map[string]string{}}
		for _, c := range p.Spec.Containers {
			id := string(p.UID) + "-" + c.Name // as kwok names them
			cp.IDs[c.Name] = id
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name,
				ContainerID: "kwok://" + id, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
		}
		cpods, pods = append(cpods, cp), append(pods, p)
	}
	now := time.Now()
	require.NoError(t, cg.SetPods(cpods))
	entries, err := os.ReadDir(filepath.Join(cg.Sys, "class"))
	require.NoError(t, err, "the machine's /sys/class through a link")
	assert.NotEmpty(t, entries)

	th := cgroup.New(filepath.Join(cg.Sys, "fs", "cgroup"), zap.NewNop())
	event := func() *wire.Usage {
		u := &wire.Usage{Available: true}
		for _, p := range pods {
			u.Pods = append(u.Pods, wire.PodUsage{Namespace: p.Namespace, Name: p.Name, ResourceUsage: wire.ResourceUsage{
				Containers: []wire.ContainerUsage{{Name: "sidecar"}, {Name: "web"}}}})
		}
		return u
	}
	th.Annotate(event(), pods, now)
	require.NoError(t, cg.write(now.Add(10*time.Second)))
	u := event()
	th.Annotate(u, pods, now.Add(10*time.Second))
	for _, p := range u.Pods {
		assert.Nil(t, p.Containers[0].Throttling, "%s sidecar: no CPU limit", p.Name)
		require.NotNil(t, p.Containers[1].Throttling, "%s web", p.Name)
		assert.Greater(t, p.Containers[1].Throttling.Periods, uint64(40), "%s web: about 8 periods a second", p.Name)
		assert.Equal(t, 10.0, p.Containers[1].Throttling.WindowSeconds)
	}
}
