package agent

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/kubelet"
)

// TestKubeletSourceFindsItsKubeletThroughTheCachedNode: with the kubelet
// source and no URL set, Run hands the cached Node to the source, which
// scrapes the address, port and path the Node names, and pod usage reaches
// the backend.
func TestKubeletSourceFindsItsKubeletThroughTheCachedNode(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var scrapes atomic.Int64
	path := "/metrics/nodes/" + node + "/metrics/resource"
	kubeletSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path || r.Header.Get("Authorization") != "Bearer kube-token" {
			http.Error(w, "unexpected request", http.StatusForbidden)
			return
		}
		// Every scrape is 10 s after the previous one; the container uses
		// 2.5 core-seconds in each: 250 millicores.
		n := scrapes.Add(1)
		ts := t0.Add(time.Duration(n) * 10 * time.Second).UnixMilli()
		_, _ = fmt.Fprintf(w, "node_cpu_usage_seconds_total %d %d\nnode_memory_working_set_bytes 1e9 %d\n"+
			"container_cpu_usage_seconds_total{container=\"main\",namespace=\"default\",pod=\"app\"} %g %d\n"+
			"container_memory_working_set_bytes{container=\"main\",namespace=\"default\",pod=\"app\"} 6.7108864e+07 %d\n",
			n*10, ts, ts, float64(n)*2.5, ts, ts)
	}))
	t.Cleanup(kubeletSrv.Close)
	host, port, err := net.SplitHostPort(kubeletSrv.Listener.Addr().String())
	require.NoError(t, err)
	portNum, err := strconv.Atoi(port)
	require.NoError(t, err)

	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Annotations: map[string]string{kubelet.ResourceMetricsPathAnnotation: path}}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(portNum)
	restCfg := &rest.Config{Host: "https://apiserver.invalid", BearerToken: "kube-token", TLSClientConfig: rest.TLSClientConfig{
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kubeletSrv.Certificate().Raw})}}

	e := newEnv(t, func(cfg *config.Config, d *Deps) {
		cfg.PodMetricsSource = config.SourceKubelet
		src, err := kubelet.New(restCfg, kubelet.Options{Logger: d.Logger})
		require.NoError(t, err)
		d.Usage = usage.NewCollector(src, d.Logger, usage.CollectorOptions{Interval: cfg.CollectionInterval})
	}, n, newPod("default", "app"))
	e.waitFor("pod usage from the kubelet", func(st receiver.NodeState) bool {
		_, ok := st.Usage.Pods["default/app"]
		return st.Usage.Available && ok
	})
	st, _ := e.rcv.Node(node)
	assert.Equal(t, 0.25, st.Usage.Pods["default/app"].CPUCores)
	assert.Equal(t, int64(64<<20), st.Usage.Pods["default/app"].MemoryBytes)
	assert.Equal(t, "kubelet", st.Usage.Source)
	assert.Equal(t, 1, e.logs.FilterMessage("Reading usage from the kubelet").Len())
}
