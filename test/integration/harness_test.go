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
	"net/http/httptest"
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
	"github.com/catops/cli/test/rig"
)

const (
	token   = "integration-token"
	node1   = "kwok-node-1"
	node2   = "kwok-node-2"
	agentUA = "catops-k8s/integration"
)

var auditLog string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "catops-audit-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	policy := filepath.Join(dir, "policy.yaml")
	auditLog = filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policy, []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
`), 0o600); err != nil {
		panic(err)
	}
	rig.Main(m, rig.Options{Kwok: true, Nodes: 2, APIServerArgs: []string{
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + auditLog,
		"--audit-log-mode=blocking",
	}})
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
	a.metrics = telemetry.New(prometheus.NewRegistry())
	d.Metrics = a.metrics
	ready := make(chan struct{})
	d.Ready = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() { a.done <- agent.Run(ctx, a.cfg, d) }()
	t.Cleanup(a.stop)
	select {
	case <-ready:
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
}

// agentRequests counts the connector's requests in the audit log (by its
// user agent), by "verb resource", within [from, to).
func agentRequests(t *testing.T, from, to time.Time) map[string]int {
	t.Helper()
	f, err := os.Open(auditLog)
	require.NoError(t, err)
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || !strings.HasPrefix(e.UserAgent, agentUA) {
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
			out[e.Verb+" "+res]++
		}
	}
	require.NoError(t, sc.Err())
	return out
}
