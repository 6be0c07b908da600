//go:build integration

// Package integration runs the connector against a real control plane on
// loopback (test/rig): real list/watch, field selectors, RBAC and
// resourceVersion expiry.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/catops/cli/pkg/agent"
	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/logging"
	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/telemetry/prom"
	"github.com/catops/cli/test/rig"
)

const (
	token   = "integration-token"
	node1   = "kwok-node-1"
	node2   = "kwok-node-2"
	agentUA = "catops-k8s/integration"
)

// auditLog is the shared cluster's audit log (see agentRequests).
var auditLog string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "catops-audit-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	var args []string
	if args, auditLog, err = auditArgs(dir); err != nil {
		panic(err)
	}
	rig.Main(m, rig.Options{Kwok: true, Nodes: 2, APIServerArgs: args})
}

// auditArgs writes an audit policy into dir and returns the kube-apiserver
// flags that log every request's metadata to dir/audit.log (blocking: an
// entry is written before the response), and that log's path.
func auditArgs(dir string) (args []string, logPath string, err error) {
	policy := filepath.Join(dir, "policy.yaml")
	logPath = filepath.Join(dir, "audit.log")
	err = os.WriteFile(policy, []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
`), 0o600)
	return []string{
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + logPath,
		"--audit-log-mode=blocking",
	}, logPath, err
}

type agentRun struct {
	t       *testing.T
	node    string
	cfg     *config.Config
	rcv     *receiver.Receiver
	rec     *receiver.Recorder
	metrics *telemetry.Metrics
	cancel  context.CancelFunc
	done    chan error
	logs    *bytes.Buffer
	mu      *sync.Mutex
}

type syncWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// startAgent runs the connector's real Run entry point for node against the
// rig, through restCfg, shipping to a fresh reference receiver.
func startAgent(t *testing.T, restCfg *rest.Config, node string, tweak func(*config.Config)) *agentRun {
	t.Helper()
	a := &agentRun{t: t, node: node, rec: &receiver.Recorder{}, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	var err error
	a.rcv, err = receiver.New(receiver.Options{Token: token, OnBatch: a.rec.Record})
	require.NoError(t, err)
	srv := httptest.NewServer(a.rcv.Handler())
	t.Cleanup(srv.Close)

	a.cfg = &config.Config{
		BackendURL: srv.URL, AuthToken: token, NodeName: node, Namespace: "catops-system",
		CollectionInterval: time.Second, SnapshotInterval: time.Hour, LogLevel: zapcore.InfoLevel,
		WireFormat: config.FormatDelta, PodMetricsSource: config.SourceNone, MetricsConcurrency: 4,
		QueueMaxBytes: 8 << 20, BatchMaxBytes: 512 << 10, FlushDelay: 100 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second,
	}
	if tweak != nil {
		tweak(a.cfg)
	}
	logger := logging.New(syncWriter{a.mu, a.logs}, zapcore.DebugLevel)
	d, err := agent.NewDeps(a.cfg, restCfg, logger, "integration")
	require.NoError(t, err)
	a.metrics = prom.New(prometheus.NewRegistry(), telemetry.All)
	d.Metrics = a.metrics
	ready := make(chan struct{})
	d.Ready = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() { a.done <- agent.Run(ctx, a.cfg, d) }()
	t.Cleanup(a.stop)
	t0 := time.Now()
	select {
	case <-ready:
		t.Logf("agent for %s: caches synced in %s", node, time.Since(t0).Round(10*time.Millisecond))
	case err := <-a.done:
		t.Fatalf("agent stopped before its caches synced: %v\n%s", err, a.logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("agent caches never synced\n%s", a.logText())
	}
	return a
}

func (a *agentRun) logText() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logs.String()
}

func (a *agentRun) stop() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	select {
	case err := <-a.done:
		require.NoError(a.t, err)
	case <-time.After(30 * time.Second):
		a.t.Error("agent did not stop")
	}
	a.cancel = nil
	if a.t.Failed() {
		a.t.Logf("agent log:\n%s", a.logText())
	}
}

// waitFor waits until cond holds on the receiver's state of the agent's node.
func (a *agentRun) waitFor(what string, timeout time.Duration, cond func(receiver.NodeState) bool) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := a.rcv.Wait(ctx, func() bool {
		st, ok := a.rcv.Node(a.node)
		return ok && cond(st)
	}); err != nil {
		st, _ := a.rcv.Node(a.node)
		keys := make([]string, 0, len(st.Pods))
		for k := range st.Pods {
			keys = append(keys, k)
		}
		a.t.Fatalf("waiting for %s: %v; receiver holds %v", what, err, keys)
	}
}

// truth lists the pods the API server has on node.
func truth(t *testing.T, cs kubernetes.Interface, node string) map[string]corev1.Pod {
	t.Helper()
	list, err := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	require.NoError(t, err)
	out := map[string]corev1.Pod{}
	for _, p := range list.Items {
		out[p.Namespace+"/"+p.Name] = p
	}
	return out
}

// equalsTruth reports whether the receiver holds exactly the API's pods of
// the node, with the same UID, phase and labels.
func equalsTruth(t *testing.T, cs kubernetes.Interface, node string) func(receiver.NodeState) bool {
	return func(st receiver.NodeState) bool {
		want := truth(t, cs, node)
		if len(want) != len(st.Pods) {
			return false
		}
		for k, p := range want {
			got, ok := st.Pods[k]
			if !ok || got.UID != string(p.UID) || got.Phase != string(p.Status.Phase) || fmt.Sprint(got.Labels) != fmt.Sprint(p.Labels) {
				return false
			}
		}
		return true
	}
}

func newPod(ns, name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "main", Image: "example.invalid/app:1"}}},
	}
}

// createPods creates the namespace and n pods named prefix0..prefix(n-1)
// on node1.
func createPods(t *testing.T, cs kubernetes.Interface, ns, prefix string, n int) {
	t.Helper()
	ensureNamespace(t, cs, ns)
	for i := range n {
		_, err := cs.CoreV1().Pods(ns).Create(context.Background(), newPod(ns, fmt.Sprintf("%s%d", prefix, i), node1), metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

func ensureNamespace(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		require.NoError(t, err)
	}
}

// auditEntry is the part of an audit event the tests read.
type auditEntry struct {
	Stage     string                    `json:"stage"`
	Verb      string                    `json:"verb"`
	UserAgent string                    `json:"userAgent"`
	User      struct{ Username string } `json:"user"`
	ObjectRef struct {
		Resource string `json:"resource"`
		APIGroup string `json:"apiGroup"`
	} `json:"objectRef"`
	StageTimestamp time.Time `json:"stageTimestamp"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// agentRequests counts the connector's requests in the shared cluster's
// audit log (by its user agent), by "verb resource", within [from, to).
// Requests the server refused (HTTP 4xx/5xx) count as "verb resource
// refused".
func agentRequests(t *testing.T, from, to time.Time) map[string]int {
	t.Helper()
	return agentRequestsIn(t, auditLog, from, to)
}

// agentRequestsIn is agentRequests for the audit log at path.
func agentRequestsIn(t *testing.T, path string, from, to time.Time) map[string]int {
	t.Helper()
	return agentRequestsAs(t, path, agentUA, from, to)
}

// agentRequestsAs counts as agentRequestsIn does the requests whose user
// agent begins with ua.
func agentRequestsAs(t *testing.T, path, ua string, from, to time.Time) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || !strings.HasPrefix(e.UserAgent, ua) {
			continue
		}
		if e.StageTimestamp.Before(from) || !e.StageTimestamp.Before(to) {
			continue
		}
		// A watch is counted when it starts; everything else when it ends.
		if (e.Verb == "watch" && e.Stage == "ResponseStarted") || (e.Verb != "watch" && e.Stage == "ResponseComplete") {
			res := e.ObjectRef.Resource
			if e.ObjectRef.APIGroup != "" {
				res += "." + e.ObjectRef.APIGroup
			}
			if e.ResponseStatus.Code >= 400 {
				res += " refused"
			}
			out[e.Verb+" "+res]++
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// initialList is how an API server answers a WatchList request (a WATCH
// with sendInitialEvents=true), which decides how the agent's default mode
// (CATOPS_WATCH_LIST=auto) loads its caches.
type initialList string

const (
	// listStreamed: the initial objects arrive as events ending with a
	// bookmark. The agent makes no LIST.
	listStreamed initialList = "streamed"
	// listRefused: the server rejects sendInitialEvents (its WatchList
	// feature gate is off, as by default in Kubernetes 1.33). client-go
	// falls back to LIST + WATCH at once: one LIST per resource.
	listRefused initialList = "refused"
	// listIgnored: the watch runs but never marks the end of the initial
	// events (a server older than WatchList, or a proxy dropping the
	// parameter). The agent falls back to LIST + WATCH after
	// podcache.DefaultFallbackAfter: one LIST and a second WATCH.
	listIgnored initialList = "ignored"
)

// probeInitialList asks c's API server what it does with a WatchList
// request for the pods of node1, and logs its version with the answer.
func probeInitialList(t *testing.T, c *rig.Cluster) initialList {
	t.Helper()
	cs, err := c.Clientset()
	require.NoError(t, err)
	v, err := cs.Discovery().ServerVersion()
	require.NoError(t, err)
	mode, detail := watchListAnswer(t, c)
	t.Logf("API server %s: WatchList %s (%s)", v.GitVersion, mode, detail)
	return mode
}

func watchListAnswer(t *testing.T, c *rig.Cluster) (initialList, string) {
	t.Helper()
	const wait = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	q := url.Values{
		"watch":                {"true"},
		"sendInitialEvents":    {"true"},
		"resourceVersionMatch": {string(metav1.ResourceVersionMatchNotOlderThan)},
		"allowWatchBookmarks":  {"true"},
		"fieldSelector":        {"spec.nodeName=" + node1},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.APIServerURL+"/api/v1/pods?"+q.Encode(), nil)
	require.NoError(t, err)
	resp, err := c.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var st metav1.Status
		if json.Unmarshal(body, &st) == nil && st.Message != "" {
			body = []byte(st.Message)
		}
		return listRefused, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	dec := json.NewDecoder(resp.Body)
	events := 0
	for {
		var ev struct {
			Type   string `json:"type"`
			Object struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			} `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			return listIgnored, fmt.Sprintf("%d events and no end-of-initial-events bookmark in %s: %v", events, wait, err)
		}
		if ev.Type == "BOOKMARK" && ev.Object.Metadata.Annotations[metav1.InitialEventsAnnotationKey] == "true" {
			return listStreamed, fmt.Sprintf("%d initial events, then the end-of-initial-events bookmark", events)
		}
		events++
	}
}
