package kubelet

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/usagetest"
	"github.com/catops/cli/pkg/wire"
)

const kubeletToken = "kubelet-test-token-7c1d"

// fakeKubelet serves the kubelet's /metrics/resource text over TLS on
// 127.0.0.1 and records what it was asked.
type fakeKubelet struct {
	srv *httptest.Server

	mu     sync.Mutex
	body   string
	status int
	auth   []string
	paths  []string
	// The summary (SummaryPath) and its status.
	summary       string
	summaryStatus int
	// cAdvisor's metrics (CadvisorPath) and their status.
	cadvisor       string
	cadvisorStatus int
}

func newFakeKubelet(t *testing.T) *fakeKubelet {
	t.Helper()
	f := &fakeKubelet{status: http.StatusOK, summaryStatus: http.StatusNotFound, cadvisorStatus: http.StatusNotFound}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.paths = append(f.paths, r.URL.Path)
		if r.URL.Path == CadvisorPath {
			if f.cadvisorStatus != http.StatusOK {
				http.Error(w, "not found", f.cadvisorStatus)
				return
			}
			_, _ = w.Write([]byte(f.cadvisor))
			return
		}
		if r.URL.Path == SummaryPath {
			if f.summaryStatus != http.StatusOK {
				http.Error(w, "Forbidden (user=system:serviceaccount:catops-system:catops, verb=get, resource=nodes, subresource(s)=[stats])", f.summaryStatus)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(f.summary))
			return
		}
		if f.status != http.StatusOK {
			http.Error(w, "Forbidden (user=system:serviceaccount:catops-system:catops, verb=get, resource=nodes, subresource(s)=[metrics])", f.status)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write([]byte(f.body))
	}))
	// The bad-CA tests make the server log failed handshakes.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeKubelet) serve(body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body, f.status = body, http.StatusOK
}

func (f *fakeKubelet) serveSummary(body string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.summary, f.summaryStatus = body, status
}

func (f *fakeKubelet) serveCadvisor(body string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cadvisor, f.cadvisorStatus = body, status
}

func (f *fakeKubelet) fail(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = status
}

func (f *fakeKubelet) seen() (auth, paths []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...), append([]string(nil), f.paths...)
}

func (f *fakeKubelet) url() string { return f.srv.URL + DefaultPath }

// caPEM is the PEM of the server's (self-signed) certificate.
func (f *fakeKubelet) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
}

// restConfig is the agent's API server config: its CA (here the fake
// kubelet's) and bearer token.
func (f *fakeKubelet) restConfig() *rest.Config {
	return &rest.Config{Host: "https://apiserver.invalid:6443", BearerToken: kubeletToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: f.caPEM(), ServerName: "kubernetes.default.svc"}}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// otherCA is a CA that signed nothing the fake kubelet serves.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "not-the-kubelet-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// ctr is one container's series in a kubelet answer.
type ctr struct {
	ns, pod, name string
	cpu, mem      float64
	start         float64 // 0: no container_start_time_seconds
}

// kubeletText renders an answer as the kubelet writes it, every sample
// stamped ts (zero: no timestamps). pods are pod_* series {ns, pod, cpu, mem}.
func kubeletText(ts time.Time, nodeCPU, nodeMem float64, ctrs []ctr, pods ...[4]any) string {
	stamp := ""
	if !ts.IsZero() {
		stamp = fmt.Sprintf(" %d", ts.UnixMilli())
	}
	var b strings.Builder
	family := func(name, typ string) { fmt.Fprintf(&b, "# HELP %s [STABLE] test\n# TYPE %s %s\n", name, name, typ) }
	family("container_cpu_usage_seconds_total", "counter")
	for _, c := range ctrs {
		fmt.Fprintf(&b, "container_cpu_usage_seconds_total{container=%q,namespace=%q,pod=%q} %g%s\n", c.name, c.ns, c.pod, c.cpu, stamp)
	}
	family("container_memory_working_set_bytes", "gauge")
	for _, c := range ctrs {
		fmt.Fprintf(&b, "container_memory_working_set_bytes{container=%q,namespace=%q,pod=%q} %g%s\n", c.name, c.ns, c.pod, c.mem, stamp)
	}
	family("container_start_time_seconds", "gauge")
	for _, c := range ctrs {
		if c.start != 0 {
			fmt.Fprintf(&b, "container_start_time_seconds{container=%q,namespace=%q,pod=%q} %g%s\n", c.name, c.ns, c.pod, c.start, stamp)
		}
	}
	family("node_cpu_usage_seconds_total", "counter")
	fmt.Fprintf(&b, "node_cpu_usage_seconds_total %g%s\n", nodeCPU, stamp)
	family("node_memory_working_set_bytes", "gauge")
	fmt.Fprintf(&b, "node_memory_working_set_bytes %g%s\n", nodeMem, stamp)
	if len(pods) > 0 {
		family("pod_cpu_usage_seconds_total", "counter")
		for _, p := range pods {
			fmt.Fprintf(&b, "pod_cpu_usage_seconds_total{namespace=%q,pod=%q} %g%s\n", p[0], p[1], p[2], stamp)
		}
		family("pod_memory_working_set_bytes", "gauge")
		for _, p := range pods {
			fmt.Fprintf(&b, "pod_memory_working_set_bytes{namespace=%q,pod=%q} %g%s\n", p[0], p[1], p[3], stamp)
		}
	}
	family("scrape_error", "gauge")
	b.WriteString("scrape_error 0\n")
	return b.String()
}

var (
	podA     = usage.PodKey{Namespace: "ns", Name: "a"}
	podB     = usage.PodKey{Namespace: "ns", Name: "b"}
	podGone  = usage.PodKey{Namespace: "ns", Name: "gone"}
	wantPods = []usage.PodKey{podA, podB, podGone}
	// start of pod a's containers, well before t0.
	ctrStart = float64(t0.Add(-time.Hour).Unix())
)

// scrapeAt is the kubelet at t0+offset: pod a as two containers, pod b with
// pod_* series (and containers the reader must not add), pod other/x that
// nobody asked for.
func scrapeAt(offset time.Duration, nodeCPU, c1CPU, c2CPU, bCPU float64) string {
	return kubeletText(t0.Add(offset), nodeCPU, 2e9+float64(offset/time.Second)*1e7, []ctr{
		{"ns", "a", "c1", c1CPU, 100e6, ctrStart},
		{"ns", "a", "c2", c2CPU, 50e6, ctrStart},
		{"ns", "b", "main", 999, 999e6, ctrStart},
		{"other", "x", "main", 1, 1e6, ctrStart},
	}, [4]any{"ns", "b", bCPU, 300e6})
}

func newTestKubelet(t *testing.T, f *fakeKubelet, opts Options) *Source {
	t.Helper()
	if opts.URL == "" {
		opts.URL = f.url()
	}
	k, err := New(f.restConfig(), opts)
	require.NoError(t, err)
	return k
}

func fetch(t *testing.T, k *Source, pods ...usage.PodKey) usage.Reading {
	t.Helper()
	r, err := k.Fetch(context.Background(), pods)
	require.NoError(t, err)
	return r
}

func TestKubeletTwoScrapesGiveExactRates(t *testing.T) {
	f := newFakeKubelet(t)
	k := newTestKubelet(t, f, Options{})

	f.serve(scrapeAt(0, 100, 10, 5, 20))
	r := fetch(t, k, wantPods...)
	assert.Nil(t, r.Node, "CPU is a counter: no node reading from one scrape")
	assert.Empty(t, r.Pods, "nor pod readings")
	assert.Zero(t, r.Requests, "no API server request")
	assert.Equal(t, 1, r.KubeletRequests)

	f.serve(scrapeAt(10*time.Second, 115, 12.5, 6.25, 22.5))
	r = fetch(t, k, wantPods...)
	ts := t0.Add(10 * time.Second)
	assert.Equal(t, &wire.ResourceUsage{Timestamp: ts, WindowSeconds: 10, CPUCores: 1.5, MemoryBytes: 2_100_000_000}, r.Node)
	assert.Equal(t, map[usage.PodKey]wire.ResourceUsage{
		// (2.5 + 1.25) core-seconds over 10 s = 375 millicores; 100 + 50 MB.
		podA: {Timestamp: ts, WindowSeconds: 10, CPUCores: 0.375, MemoryBytes: 150_000_000, Containers: []wire.ContainerUsage{
			{Name: "c1", CPUCores: 0.25, MemoryBytes: 100_000_000}, {Name: "c2", CPUCores: 0.125, MemoryBytes: 50_000_000},
		}},
		// pod_* series win over the containers: 2.5 / 10 s; each
		// container keeps its own figures (main's counter stood still).
		podB: {Timestamp: ts, WindowSeconds: 10, CPUCores: 0.25, MemoryBytes: 300_000_000, Containers: []wire.ContainerUsage{
			{Name: "main", CPUCores: 0, MemoryBytes: 999_000_000},
		}},
	}, r.Pods, "only the pods asked for; ns/gone has no series, other/x was not asked for")
	assert.Equal(t, 0, r.Requests)

	auth, paths := f.seen()
	assert.Equal(t, []string{"Bearer " + kubeletToken, "Bearer " + kubeletToken}, auth, "the rest.Config's bearer token")
	assert.Equal(t, []string{DefaultPath, DefaultPath}, paths)

	// The kubelet has not refreshed its stats: the same readings, with the
	// same timestamps, which the Collector does not send twice.
	again := fetch(t, k, wantPods...)
	assert.Equal(t, r.Node, again.Node)
	assert.Equal(t, r.Pods, again.Pods)
}

func TestKubeletCounterResetsGiveNoRateThatInterval(t *testing.T) {
	f := newFakeKubelet(t)
	k := newTestKubelet(t, f, Options{})
	f.serve(scrapeAt(0, 100, 10, 5, 20))
	fetch(t, k, wantPods...)
	f.serve(scrapeAt(10*time.Second, 115, 12.5, 6.25, 22.5))
	require.Len(t, fetch(t, k, wantPods...).Pods, 2)

	// c1's counter goes down; pod b's pod counter too; the node's as well
	// (a kubelet restart).
	f.serve(scrapeAt(20*time.Second, 3, 1, 7.5, 2))
	r := fetch(t, k, wantPods...)
	assert.Nil(t, r.Node, "node counter went down")
	assert.Empty(t, r.Pods, "a reset gives no rate this interval")

	f.serve(scrapeAt(30*time.Second, 8, 2.25, 8.75, 4.5))
	r = fetch(t, k, wantPods...)
	require.NotNil(t, r.Node)
	assert.Equal(t, 0.5, r.Node.CPUCores, "rates again from the sample after the reset")
	assert.Equal(t, 0.25, r.Pods[podA].CPUCores, "(1.25 + 1.25) / 10 s")
	assert.Equal(t, 0.25, r.Pods[podB].CPUCores)

	// c2 restarted between two scrapes: a new start time, and a counter
	// that (by chance) is still higher. No rate for pod a this interval.
	restarted := kubeletText(t0.Add(40*time.Second), 10, 2e9, []ctr{
		{"ns", "a", "c1", 3.5, 100e6, ctrStart},
		{"ns", "a", "c2", 9, 50e6, float64(t0.Add(35 * time.Second).Unix())},
	})
	f.serve(restarted)
	r = fetch(t, k, podA)
	assert.NotContains(t, r.Pods, podA, "a container started after the previous scrape")
	assert.NotNil(t, r.Node)
}

func TestKubeletNewContainerWaitsForItsSecondSample(t *testing.T) {
	f := newFakeKubelet(t)
	k := newTestKubelet(t, f, Options{})
	one := []ctr{{"ns", "a", "c1", 10, 100e6, ctrStart}}
	f.serve(kubeletText(t0, 1, 1e9, one))
	fetch(t, k, podA)
	// A second container appears: summing c1 alone would understate pod a.
	two := []ctr{{"ns", "a", "c1", 11, 100e6, ctrStart}, {"ns", "a", "c2", 1, 1e6, ctrStart}}
	f.serve(kubeletText(t0.Add(10*time.Second), 2, 1e9, two))
	assert.NotContains(t, fetch(t, k, podA).Pods, podA)
	two = []ctr{{"ns", "a", "c1", 12, 100e6, ctrStart}, {"ns", "a", "c2", 2, 1e6, ctrStart}}
	f.serve(kubeletText(t0.Add(20*time.Second), 3, 1e9, two))
	assert.Equal(t, 0.2, fetch(t, k, podA).Pods[podA].CPUCores)
}

func TestKubeletSamplesWithoutTimestampsUseTheScrapeTime(t *testing.T) {
	f := newFakeKubelet(t)
	now := t0
	k := newTestKubelet(t, f, Options{Now: func() time.Time { return now }})
	f.serve(kubeletText(time.Time{}, 100, 1e9, []ctr{{"ns", "a", "c1", 10, 100e6, 0}}))
	fetch(t, k, podA)
	now = t0.Add(20 * time.Second)
	f.serve(kubeletText(time.Time{}, 110, 1e9, []ctr{{"ns", "a", "c1", 15, 100e6, 0}}))
	r := fetch(t, k, podA)
	assert.Equal(t, wire.ResourceUsage{Timestamp: now, WindowSeconds: 20, CPUCores: 0.25, MemoryBytes: 100e6,
		Containers: []wire.ContainerUsage{{Name: "c1", CPUCores: 0.25, MemoryBytes: 100e6}}}, r.Pods[podA])
	assert.Equal(t, 0.5, r.Node.CPUCores)
}

func TestKubeletURLFromTheNode(t *testing.T) {
	node := func(port int32, annotations map[string]string, addrs ...corev1.NodeAddress) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode, Annotations: annotations}}
		n.Status.Addresses = addrs
		n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
		return n
	}
	internal := corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.7"}
	hostname := corev1.NodeAddress{Type: corev1.NodeHostName, Address: testNode}
	tests := []struct {
		name   string
		node   *corev1.Node
		hostIP string
		want   string
	}{
		{"internal IP and kubelet port", node(10250, nil, hostname, internal), "", "https://10.0.0.7:10250/metrics/resource"},
		{"InternalIP wins over HOST_IP", node(12345, nil, internal), "10.9.9.9", "https://10.0.0.7:12345/metrics/resource"},
		{"no InternalIP: HOST_IP", node(10250, nil, hostname), "10.9.9.9", "https://10.9.9.9:10250/metrics/resource"},
		{"no port: 10250", node(0, nil, internal), "", "https://10.0.0.7:10250/metrics/resource"},
		{"node not cached: HOST_IP and defaults", nil, "10.9.9.9", "https://10.9.9.9:10250/metrics/resource"},
		{"IPv6", node(10250, nil, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "fd00::7"}), "", "https://[fd00::7]:10250/metrics/resource"},
		{"path annotation (metrics-server v0.8, kwok)", node(4443, map[string]string{ResourceMetricsPathAnnotation: "/metrics/nodes/node-a/metrics/resource"}, internal), "",
			"https://10.0.0.7:4443/metrics/nodes/node-a/metrics/resource"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := URL(tc.node, tc.hostIP)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	_, err := URL(node(10250, nil, hostname), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set HOST_IP from the downward API (status.hostIP) or CATOPS_KUBELET_URL")
	assert.Equal(t, "kubelet address unknown", usage.Reason(err))
}

// TestKubeletEndpointFromTheCachedNode: without CATOPS_KUBELET_URL the
// source scrapes what the Node object says, as kwok's nodes say it.
func TestKubeletEndpointFromTheCachedNode(t *testing.T) {
	f := newFakeKubelet(t)
	f.serve(kubeletText(t0, 1, 1e9, nil))
	host, port, err := net.SplitHostPort(strings.TrimPrefix(f.srv.URL, "https://"))
	require.NoError(t, err)
	var portNum int32
	_, err = fmt.Sscan(port, &portNum)
	require.NoError(t, err)
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode, Annotations: map[string]string{
		ResourceMetricsPathAnnotation: "/metrics/nodes/" + testNode + "/metrics/resource"}}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = portNum

	logger, logs := usagetest.ObservedLogger()
	k, err := New(f.restConfig(), Options{Logger: logger})
	require.NoError(t, err)
	c := usage.NewCollector(k, logger, usagetest.Options)
	c.UseNode(func() (*corev1.Node, bool) { return n, true })
	c.Collect(context.Background(), nil, t0)
	c.Collect(context.Background(), nil, t0.Add(time.Minute))

	_, paths := f.seen()
	assert.Equal(t, []string{"/metrics/nodes/node-a/metrics/resource", "/metrics/nodes/node-a/metrics/resource"}, paths)
	assert.Equal(t, 1, logs.FilterMessage("Reading usage from the kubelet").Len(), "the endpoint is logged when it changes, not every time")
}

func TestKubeletErrorsSayWhatToFix(t *testing.T) {
	f := newFakeKubelet(t)
	f.serve(kubeletText(t0, 1, 1e9, nil))
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		return "https://" + addr + DefaultPath
	}()
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)

	tests := []struct {
		name   string
		status int
		cfg    func(*rest.Config)
		opts   Options
		reason string
		want   []string
	}{
		{name: "403", status: http.StatusForbidden, reason: "kubelet access denied",
			want: []string{"HTTP 403", "get on nodes/metrics", "nodes/proxy is not needed"}},
		{name: "401", status: http.StatusUnauthorized, reason: "kubelet access denied",
			want: []string{"HTTP 401", "nodes/metrics"}},
		{name: "404", status: http.StatusNotFound, reason: "kubelet request failed",
			want: []string{"HTTP 404", "CATOPS_KUBELET_URL", ResourceMetricsPathAnnotation}},
		{name: "CA file that did not sign the kubelet's certificate", opts: Options{CAFile: writeFile(t, "ca.crt", otherCA(t))},
			reason: "kubelet TLS verification failed",
			want:   []string{"certificate signed by an unknown authority", "set CATOPS_KUBELET_CA_FILE", "CATOPS_KUBELET_INSECURE_SKIP_VERIFY=true"}},
		{name: "API server CA is not the kubelet's", cfg: func(c *rest.Config) { c.CAData = otherCA(t) },
			reason: "kubelet TLS verification failed", want: []string{"set CATOPS_KUBELET_CA_FILE"}},
		{name: "connection refused", opts: Options{URL: refused}, reason: "kubelet unreachable",
			want: []string{"connection refused", "kubelet port", "CATOPS_KUBELET_URL"}},
		{name: "not TLS", opts: Options{URL: "https://" + plain.Listener.Addr().String() + DefaultPath}, reason: "kubelet unreachable",
			want: []string{"does not speak TLS", "CATOPS_KUBELET_URL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.fail(cmp.Or(tc.status, http.StatusOK))
			cfg := f.restConfig()
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			opts := tc.opts
			if opts.URL == "" {
				opts.URL = f.url()
			}
			k, err := New(cfg, opts)
			require.NoError(t, err)
			r, err := k.Fetch(context.Background(), wantPods)
			require.Error(t, err)
			msg := err.Error()
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
			assert.NotContains(t, msg, "\n", "one line")
			assert.NotContains(t, msg, kubeletToken)
			assert.Equal(t, tc.reason, usage.Reason(err))
			assert.False(t, usage.IsUnavailable(err), "not the Metrics API's 'is metrics-server installed?'")
			assert.Zero(t, r.Requests)
			assert.Equal(t, 1, r.KubeletRequests)
		})
	}
}

func TestKubeletCAFileAndSkipVerify(t *testing.T) {
	f := newFakeKubelet(t)
	f.serve(kubeletText(t0, 1, 1e9, nil))

	// The API server's CA is another one; the CA file is the kubelet's.
	cfg := f.restConfig()
	cfg.CAData = otherCA(t)
	k, err := New(cfg, Options{URL: f.url(), CAFile: writeFile(t, "kubelet-ca.crt", f.caPEM())})
	require.NoError(t, err)
	fetch(t, k)

	// No CA at all: skip-verify works, and says so once, at start.
	logger, logs := usagetest.ObservedLogger()
	k, err = New(&rest.Config{BearerToken: kubeletToken}, Options{URL: f.url(), InsecureSkipVerify: true, Logger: logger})
	require.NoError(t, err)
	fetch(t, k)
	fetch(t, k)
	assert.Equal(t, 1, logs.FilterMessageSnippet("TLS verification of the kubelet is off").Len())

	// A token file, as in a pod (client-go re-reads it).
	tokenFile := writeFile(t, "token", []byte("from-the-file\n"))
	k, err = New(&rest.Config{BearerTokenFile: tokenFile, TLSClientConfig: rest.TLSClientConfig{CAData: f.caPEM()}}, Options{URL: f.url()})
	require.NoError(t, err)
	fetch(t, k)
	auth, _ := f.seen()
	assert.Equal(t, "Bearer from-the-file", auth[len(auth)-1])
}

// TestCollectorWithKubelet: the Collector's degrade and recovery work for
// the kubelet source, with kubelet wording and honest request counts.
func TestCollectorWithKubelet(t *testing.T) {
	f := newFakeKubelet(t)
	logger, logs := usagetest.ObservedLogger()
	k, err := New(f.restConfig(), Options{URL: f.url(), Logger: logger})
	require.NoError(t, err)
	c := usage.NewCollector(k, logger, usagetest.Options)
	ctx := context.Background()

	f.serve(scrapeAt(0, 100, 10, 5, 20))
	u, _ := c.Collect(ctx, wantPods, t0)
	assert.Equal(t, wire.Usage{Available: true, Source: usage.KubeletName}, u, "available, nothing known yet")
	f.serve(scrapeAt(10*time.Second, 115, 12.5, 6.25, 22.5))
	u, _ = c.Collect(ctx, wantPods, t0.Add(10*time.Second))
	assert.Equal(t, []string{"ns/a", "ns/b"}, usagetest.PodNames(u))
	require.NotNil(t, u.Node)

	f.fail(http.StatusForbidden)
	u, _ = c.Collect(ctx, wantPods, t0.Add(20*time.Second))
	assert.Equal(t, wire.Usage{Available: false, Source: usage.KubeletName, Reason: "kubelet access denied"}, u)
	failed := logs.FilterMessage(msgFailed).All()
	require.Len(t, failed, 1)
	assert.Contains(t, fmt.Sprint(failed[0].ContextMap()["err"]), "nodes/metrics")
	assert.Zero(t, logs.FilterMessage(msgNotAccessible).Len(), "no metrics-server advice for the kubelet")

	u, _ = c.Collect(ctx, wantPods, t0.Add(25*time.Second))
	assert.False(t, u.Available, "backing off")
	f.serve(scrapeAt(40*time.Second, 130, 15, 7.5, 25))
	u, _ = c.Collect(ctx, wantPods, t0.Add(40*time.Second))
	assert.True(t, u.Available)
	assert.Equal(t, 1, logs.FilterMessage(msgKubeletBack).Len())
	assert.Equal(t, []string{"ns/a", "ns/b"}, usagetest.PodNames(u), "rates across the outage, over the longer window")
	assert.Equal(t, 30.0, u.Pods[0].WindowSeconds)

	st := c.Stats()
	assert.Zero(t, st.Requests, "no API server requests")
	assert.Equal(t, uint64(4), st.KubeletRequests, "the skipped Collect asked nothing")
	assert.Equal(t, uint64(1), st.Skipped)
}

// Per container: a container whose rate is not known yet (it just
// started) has no figure, not zero; its pod keeps the reading of its
// pod_* series, and the container appears once it has two samples.
func TestKubeletContainersWithoutARateAreLeftOut(t *testing.T) {
	f := newFakeKubelet(t)
	k := newTestKubelet(t, f, Options{})
	main := func(cpu float64) ctr { return ctr{"ns", "b", "main", cpu, 80e6, ctrStart} }
	side := func(cpu float64) ctr { return ctr{"ns", "b", "side", cpu, 20e6, ctrStart} }

	f.serve(kubeletText(t0, 100, 1e9, []ctr{main(10)}, [4]any{"ns", "b", 11.0, 110e6}))
	fetch(t, k, podB)
	f.serve(kubeletText(t0.Add(10*time.Second), 101, 1e9, []ctr{main(12), side(1)}, [4]any{"ns", "b", 14.0, 110e6}))
	r := fetch(t, k, podB)
	require.Contains(t, r.Pods, podB)
	assert.InDelta(t, 0.3, r.Pods[podB].CPUCores, 1e-9, "the pod_* series")
	assert.Equal(t, []wire.ContainerUsage{{Name: "main", CPUCores: 0.2, MemoryBytes: 80e6}}, r.Pods[podB].Containers,
		"side has one sample: unknown, absent")

	f.serve(kubeletText(t0.Add(20*time.Second), 102, 1e9, []ctr{main(13), side(1.5)}, [4]any{"ns", "b", 15.5, 110e6}))
	r = fetch(t, k, podB)
	assert.Equal(t, []wire.ContainerUsage{{Name: "main", CPUCores: 0.1, MemoryBytes: 80e6}, {Name: "side", CPUCores: 0.05, MemoryBytes: 20e6}},
		r.Pods[podB].Containers, "sorted by name")
	assert.Empty(t, r.Rejected)
}

// Beside pod_* series, a container whose counter cannot be true (it went
// down within one instance) is left out of the pod's containers and
// counted; the pod's reading stands.
func TestKubeletContainerThatCannotBeTrueBesidePodSeries(t *testing.T) {
	f := newFakeKubelet(t)
	k := newTestKubelet(t, f, Options{})
	f.serve(kubeletText(t0, 100, 1e9, []ctr{{"ns", "b", "main", 10, 80e6, ctrStart}, {"ns", "b", "side", 5, 20e6, ctrStart}}, [4]any{"ns", "b", 16.0, 110e6}))
	fetch(t, k, podB)
	f.serve(kubeletText(t0.Add(10*time.Second), 101, 1e9, []ctr{{"ns", "b", "main", 12, 80e6, ctrStart}, {"ns", "b", "side", 4, 20e6, ctrStart}}, [4]any{"ns", "b", 18.0, 110e6}))
	r := fetch(t, k, podB)
	require.Contains(t, r.Pods, podB)
	assert.Equal(t, []wire.ContainerUsage{{Name: "main", CPUCores: 0.2, MemoryBytes: 80e6}}, r.Pods[podB].Containers)
	assert.Equal(t, map[usage.PodKey]string{podB: usage.RejectCounterBackwards}, usagetest.RejectedAs(r.Rejected))
}

// An answer cut mid-way (the connection ends before its Content-Length) is
// a failure to reach the kubelet, not an answer that was not understood,
// and it changes nothing: the next reading's rate spans from the last whole
// answer.
func TestKubeletAnswerCutMidWay(t *testing.T) {
	var (
		mu   sync.Mutex
		body string
		cut  bool
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		b, c := body, cut
		mu.Unlock()
		if c {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)+100))
			b = b[:len(b)*3/4]
		}
		_, _ = io.WriteString(w, b)
	}))
	t.Cleanup(srv.Close)
	serve := func(b string, c bool) {
		mu.Lock()
		body, cut = b, c
		mu.Unlock()
	}
	now := t0
	k, err := New(&rest.Config{BearerToken: kubeletToken}, Options{URL: srv.URL + DefaultPath, InsecureSkipVerify: true, Now: func() time.Time { return now }})
	require.NoError(t, err)

	serve(kubeletText(t0, 100, 1e9, nil), false)
	fetch(t, k)
	now = t0.Add(10 * time.Second)
	serve(kubeletText(now, 105, 1e9, nil), true)
	_, err = k.Fetch(context.Background(), []usage.PodKey{podA})
	require.Error(t, err)
	assert.Equal(t, "kubelet unreachable", usage.Reason(err), "%v", err)
	assert.Contains(t, err.Error(), "unexpected EOF")

	now = t0.Add(20 * time.Second)
	serve(kubeletText(now, 120, 1e9, nil), false)
	r := fetch(t, k)
	require.NotNil(t, r.Node)
	assert.Equal(t, 20.0, r.Node.WindowSeconds, "from the last whole answer: the cut one was not remembered")
	assert.Equal(t, 1.0, r.Node.CPUCores)
}

// An answer that is not the text format (an HTML page at a wrong URL) says
// where to look.
func TestKubeletAnswerNotTheTextFormat(t *testing.T) {
	f := newFakeKubelet(t)
	k := newTestKubelet(t, f, Options{})
	f.serve("<html><body>Not the kubelet</body></html>\n")
	_, err := k.Fetch(context.Background(), []usage.PodKey{podA})
	require.Error(t, err)
	assert.Equal(t, "kubelet answer not understood", usage.Reason(err))
	assert.Contains(t, err.Error(), "check CATOPS_KUBELET_URL")
}
