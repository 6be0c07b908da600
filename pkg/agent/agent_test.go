package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/podcache/podcachetest"
	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/telemetry/prom"
	"github.com/catops/cli/pkg/telemetry/prom/promtest"
	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/metricsapi"
	"github.com/catops/cli/pkg/wire"
)

const (
	node      = "node-a"
	testToken = "agent-test-token"
)

type fakeHost struct{ n int }

func (h *fakeHost) Sample(context.Context) wire.HostSample {
	h.n++
	return wire.HostSample{Time: time.Now().UTC(), Source: wire.HostSourceProc, UptimeSeconds: new(uint64(h.n)), CPU: wire.CPUSample{LogicalCores: new(2)}}
}

type env struct {
	t       *testing.T
	client  *fake.Clientset
	rcv     *receiver.Receiver
	rec     *receiver.Recorder
	srv     *httptest.Server
	metrics *telemetry.Metrics
	logs    *observer.ObservedLogs
	cancel  context.CancelFunc
	done    chan error
	cfg     *config.Config
}

func testConfig(url string) *config.Config {
	return &config.Config{
		BackendURL: url, AuthToken: testToken, NodeName: node, Namespace: "catops-system",
		CollectionInterval: 50 * time.Millisecond, SnapshotInterval: time.Hour,
		WireFormat: config.FormatDelta, QueueMaxBytes: 8 << 20, BatchMaxBytes: 64 << 10,
		FlushDelay: 10 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
	}
}

func newEnv(t *testing.T, tweak func(*config.Config, *Deps), objs ...runtime.Object) *env {
	t.Helper()
	return newEnvWith(t, backendOpts{}, tweak, objs...)
}

// backendOpts shape the reference receiver an env runs against.
type backendOpts struct {
	// receiver adjusts the receiver's options (Token and OnBatch are set).
	receiver func(*receiver.Options)
	// wrap puts a handler in front of the receiver, for answers it never
	// gives by itself (redirects, dropped connections, stalls).
	wrap func(http.Handler) http.Handler
}

func newEnvWith(t *testing.T, bo backendOpts, tweak func(*config.Config, *Deps), objs ...runtime.Object) *env {
	t.Helper()
	e := &env{t: t, client: fake.NewClientset(objs...), rec: &receiver.Recorder{}}
	ro := receiver.Options{Token: testToken, OnBatch: e.rec.Record}
	if bo.receiver != nil {
		bo.receiver(&ro)
	}
	var err error
	e.rcv, err = receiver.New(ro)
	require.NoError(t, err)
	h := e.rcv.Handler()
	if bo.wrap != nil {
		h = bo.wrap(h)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	e.cfg = testConfig(e.srv.URL)
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	e.metrics = prom.New(prometheus.NewRegistry(), telemetry.All)
	ready := make(chan struct{})
	d := Deps{Kube: podcachetest.Clientset{Interface: e.client}, Host: &fakeHost{}, Logger: zap.New(core), Metrics: e.metrics,
		Client: e.srv.Client(), Version: "test", Ready: func() { close(ready) }}
	if tweak != nil {
		tweak(e.cfg, &d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- Run(ctx, e.cfg, d) }()
	t.Cleanup(func() { e.stop() })
	select {
	case <-ready:
	case err := <-e.done:
		t.Fatalf("agent stopped before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("caches never synced")
	}
	return e
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case err := <-e.done:
		require.NoError(e.t, err)
	case <-time.After(15 * time.Second):
		e.t.Fatal("agent did not stop")
	}
	e.cancel = nil
}

// waitFor waits until cond holds on the receiver's state of the node.
func (e *env) waitFor(what string, cond func(receiver.NodeState) bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := e.rcv.Wait(ctx, func() bool {
		st, ok := e.rcv.Node(node)
		return ok && cond(st)
	})
	if err != nil {
		st, _ := e.rcv.Node(node)
		e.t.Fatalf("waiting for %s: %v (receiver has %d pods, seq %d)", what, err, len(st.Pods), st.LastSeq)
	}
}

// matchesTruth reports whether the receiver holds exactly the API's pods,
// with the same phase, labels and restarts.
func (e *env) matchesTruth(st receiver.NodeState) bool {
	list, err := e.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	require.NoError(e.t, err)
	if len(list.Items) != len(st.Pods) {
		return false
	}
	for _, p := range list.Items {
		got, ok := st.Pods[receiver.PodKey(p.Namespace, p.Name)]
		if !ok || got.Phase != string(p.Status.Phase) || got.UID != string(p.UID) || fmt.Sprint(got.Labels) != fmt.Sprint(p.Labels) {
			return false
		}
		var restarts int32
		for _, c := range p.Status.ContainerStatuses {
			restarts += c.RestartCount
		}
		if got.RestartCount != restarts {
			return false
		}
	}
	return true
}

func newPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name), Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "img"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c"}}},
	}
}

func (e *env) update(ns, name string, mutate func(*corev1.Pod)) {
	e.t.Helper()
	p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(e.t, err)
	mutate(p)
	_, err = e.client.CoreV1().Pods(ns).Update(context.Background(), p, metav1.UpdateOptions{})
	require.NoError(e.t, err)
}

func TestShipsPodLifecycleEndToEnd(t *testing.T) {
	e := newEnv(t, nil, newPod("default", "existing"), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}})
	e.waitFor("the start snapshot", func(st receiver.NodeState) bool {
		_, ok := st.Pods["default/existing"]
		return ok && st.Node != nil && st.Host != nil
	})
	ctx := context.Background()

	_, err := e.client.CoreV1().Pods("shop").Create(ctx, newPod("shop", "web"), metav1.CreateOptions{})
	require.NoError(t, err)
	e.waitFor("the new pod", func(st receiver.NodeState) bool { _, ok := st.Pods["shop/web"]; return ok })

	e.update("shop", "web", func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses[0].RestartCount = 2
		p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}
	})
	e.waitFor("the OOMKilled restart", func(st receiver.NodeState) bool {
		p := st.Pods["shop/web"]
		return p.Phase == "Running" && p.RestartCount == 2 && p.Containers[0].LastTermination != nil &&
			p.Containers[0].LastTermination.Reason == "OOMKilled"
	})

	require.NoError(t, e.client.CoreV1().Pods("shop").Delete(ctx, "web", metav1.DeleteOptions{}))
	e.waitFor("the delete", func(st receiver.NodeState) bool { _, ok := st.Pods["shop/web"]; return !ok })
	e.waitFor("state equal to the API", e.matchesTruth)

	st, _ := e.rcv.Node(node)
	assert.Equal(t, "catops-system", st.Namespace)
	assert.Equal(t, "test", st.AgentVersion)
}

func TestBackendOutageDeliversEveryChangeExactlyOnce(t *testing.T) {
	// One sample at start and none after, so the queue grows only by the
	// pod changes below.
	e := newEnv(t, func(c *config.Config, _ *Deps) { c.CollectionInterval = time.Hour }, newPod("default", "api"))
	e.waitFor("the start snapshot", func(st receiver.NodeState) bool { return len(st.Pods) == 1 && st.Host != nil })

	require.Eventually(t, func() bool { return promtest.Value(e.metrics.QueueEvents) == 0 }, 10*time.Second, 5*time.Millisecond, "queue drained")
	e.rcv.SetDown(true)
	const base = 0.0
	const steps = 8
	for i := 1; i <= steps; i++ {
		before := promtest.Value(e.metrics.EventsDropped.WithLabelValues(string(wire.EventPodUpsert), "overflow"))
		e.update("default", "api", func(p *corev1.Pod) { p.Labels["step"] = strconv.Itoa(i) })
		// Wait until the joiner queued this step, so no two steps coalesce.
		require.Eventually(t, func() bool {
			return promtest.Value(e.metrics.QueueEvents) >= base+float64(i)
		}, 10*time.Second, 5*time.Millisecond, "step %d queued", i)
		require.Equal(t, before, promtest.Value(e.metrics.EventsDropped.WithLabelValues(string(wire.EventPodUpsert), "overflow")))
	}
	require.Eventually(t, func() bool { return promtest.Value(e.metrics.BatchesFailed.WithLabelValues("status_5xx")) > 0 },
		10*time.Second, 5*time.Millisecond, "the agent hit the outage")
	e.rcv.SetDown(false)
	e.waitFor("the last step", func(st receiver.NodeState) bool { return st.Pods["default/api"].Labels["step"] == strconv.Itoa(steps) })

	var want []string
	for i := 1; i <= steps; i++ {
		want = append(want, strconv.Itoa(i))
	}
	var got []string
	for _, p := range e.rec.Upserts("default", "api") {
		if step := p.Labels["step"]; step != "" {
			got = append(got, step)
		}
	}
	assert.Equal(t, want, got, "every change made during the outage arrives once, in order")
}

func TestBackendRestartTriggersResync(t *testing.T) {
	e := newEnv(t, nil, newPod("a", "one"), newPod("b", "two"))
	e.waitFor("the start snapshot", func(st receiver.NodeState) bool { return len(st.Pods) == 2 })

	e.rcv.Reset() // the backend lost its state
	require.NoError(t, e.client.CoreV1().Pods("a").Delete(context.Background(), "one", metav1.DeleteOptions{}))
	e.waitFor("a resync after the 409", e.matchesTruth)
	st, _ := e.rcv.Node(node)
	assert.Len(t, st.Pods, 1)
	assert.Positive(t, promtest.Value(e.metrics.Snapshots.WithLabelValues(wire.ReasonRequested)), "the 409 asked for it")
}

func TestRandomChurnWithOutagesConverges(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	e := newEnv(t, nil)
	ctx := context.Background()
	live := map[string]bool{}
	for round := 0; round < 6; round++ {
		switch rng.IntN(3) {
		case 0:
			e.rcv.SetDown(true)
		case 1:
			e.rcv.Reset()
		}
		for op := 0; op < 25; op++ {
			name := fmt.Sprintf("p%d", rng.IntN(12))
			ns := []string{"x", "y", "z"}[rng.IntN(3)]
			key := ns + "/" + name
			switch {
			case !live[key]:
				_, err := e.client.CoreV1().Pods(ns).Create(ctx, newPod(ns, name), metav1.CreateOptions{})
				require.NoError(t, err)
				live[key] = true
			case rng.IntN(4) == 0:
				require.NoError(t, e.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}))
				delete(live, key)
			default:
				e.update(ns, name, func(p *corev1.Pod) {
					p.Status.Phase = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodFailed}[rng.IntN(3)]
					p.Labels["rev"] = strconv.Itoa(rng.IntN(1000))
					p.Status.ContainerStatuses[0].RestartCount += int32(rng.IntN(2))
				})
			}
			if rng.IntN(5) == 0 {
				time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
			}
		}
		e.rcv.SetDown(false)
	}
	e.waitFor("the receiver's state to equal the API's", e.matchesTruth)
	keys := make([]string, 0, len(live))
	for k := range live {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	st, _ := e.rcv.Node(node)
	got := make([]string, 0, len(st.Pods))
	for k := range st.Pods {
		got = append(got, k)
	}
	sort.Strings(got)
	assert.Equal(t, keys, got)
}

func TestMetricsAPIMissingKeepsShippingWithUsageUnknown(t *testing.T) {
	// metrics.k8s.io not registered: the API server answers every request
	// with a plain "404 page not found".
	apiServer := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(apiServer.Close)
	mc, err := metricsapi.NewClient(&rest.Config{Host: apiServer.URL})
	require.NoError(t, err)
	var col *usage.Collector
	e := newEnv(t, func(_ *config.Config, d *Deps) {
		col = usage.NewCollector(metricsapi.New(mc, node), d.Logger, usage.CollectorOptions{Interval: time.Hour})
		d.Usage = col
	}, newPod("default", "app"))
	e.waitFor("pods shipped with usage unknown", func(st receiver.NodeState) bool {
		return len(st.Pods) == 1 && !st.Usage.Available && st.Usage.Reason != "" && st.Host != nil
	})
	_, err = e.client.CoreV1().Pods("default").Create(context.Background(), newPod("default", "later"), metav1.CreateOptions{})
	require.NoError(t, err)
	e.waitFor("changes still shipped", func(st receiver.NodeState) bool { return len(st.Pods) == 2 })
	st, _ := e.rcv.Node(node)
	assert.Empty(t, st.Usage.Pods, "unknown usage is absent, never zero")
	assert.Equal(t, 1, e.logs.FilterMessage("metrics API is not accessible (is metrics-server installed?)").Len(), "logged once")
}

func TestShutdownFlushesPendingChanges(t *testing.T) {
	// Nothing leaves before shutdown; one host sample only.
	e := newEnv(t, func(c *config.Config, _ *Deps) { c.FlushDelay = time.Hour; c.CollectionInterval = time.Hour })
	for i := range 5 {
		_, err := e.client.CoreV1().Pods("default").Create(context.Background(), newPod("default", fmt.Sprintf("p%d", i)), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	// Queued: snapshot_begin, snapshot_end, one host sample and the 5 pods.
	require.Eventually(t, func() bool { return promtest.Value(e.metrics.QueueEvents) == 8 }, 10*time.Second, 5*time.Millisecond)
	_, ok := e.rcv.Node(node)
	require.False(t, ok, "nothing delivered before shutdown")
	e.stop()
	st, ok := e.rcv.Node(node)
	require.True(t, ok)
	assert.Len(t, st.Pods, 5, "shutdown flushed every pending change")
}

func TestLegacySnapshotFormat(t *testing.T) {
	e := newEnv(t, func(c *config.Config, _ *Deps) { c.WireFormat = config.FormatSnapshot }, newPod("default", "app"))
	e.waitFor("a legacy snapshot", func(st receiver.NodeState) bool {
		return st.Legacy != nil && len(st.Legacy.Snapshot.Pods) == 1
	})
	st, _ := e.rcv.Node(node)
	p := st.Legacy.Snapshot.Pods[0]
	assert.Equal(t, "app", p.Name)
	assert.Nil(t, p.CPUUsageCores, "no usage source: unknown, not zero")
	assert.Equal(t, 1, p.ContainerCount)
	assert.Empty(t, st.Pods, "no delta batches in snapshot format")
}

// At shutdown the snapshot not yet delivered (here: its request cut short)
// goes out once more.
func TestLegacySnapshotGoesOutWithTheFinalFlush(t *testing.T) {
	var stall atomic.Bool
	stall.Store(true)
	stalled := make(chan struct{})
	testDone := make(chan struct{})
	e := newEnvWith(t, backendOpts{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if stall.CompareAndSwap(true, false) {
				close(stalled)
				select { // never answers; the agent gives up
				case <-r.Context().Done():
				case <-testDone:
				}
				return
			}
			h.ServeHTTP(w, r)
		})
	}}, func(c *config.Config, _ *Deps) { c.WireFormat, c.CollectionInterval = config.FormatSnapshot, time.Hour }, newPod("default", "app"))
	t.Cleanup(func() { close(testDone) })
	select {
	case <-stalled:
	case <-time.After(15 * time.Second):
		t.Fatal("the snapshot was never posted")
	}
	e.stop() // SIGTERM while the request hangs
	st, ok := e.rcv.Node(node)
	require.True(t, ok)
	require.NotNil(t, st.Legacy, "the interrupted snapshot went out with the final flush")
	assert.Len(t, st.Legacy.Snapshot.Pods, 1)
	assert.Equal(t, 1, e.logs.FilterMessage("Flushed pending events").Len())
}

// stuckHost blocks after its first sample, like statfs on a hung mount.
type stuckHost struct {
	calls   atomic.Int32
	release chan struct{}
}

func (h *stuckHost) Sample(context.Context) wire.HostSample {
	if h.calls.Add(1) > 1 {
		<-h.release
	}
	return wire.HostSample{Time: time.Now().UTC()}
}

func TestShutdownFlushDoesNotWaitForAStuckSampler(t *testing.T) {
	host := &stuckHost{release: make(chan struct{})}
	t.Cleanup(func() { close(host.release) })
	e := newEnv(t, func(c *config.Config, d *Deps) { c.FlushDelay = time.Hour; d.Host = host })
	require.Eventually(t, func() bool { return host.calls.Load() > 1 }, 5*time.Second, 5*time.Millisecond, "the sampler is stuck")
	for i := range 3 {
		_, err := e.client.CoreV1().Pods("default").Create(context.Background(), newPod("default", fmt.Sprintf("p%d", i)), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	// snapshot_begin, snapshot_end, the first host sample and the 3 pods.
	require.Eventually(t, func() bool { return promtest.Value(e.metrics.QueueEvents) == 6 }, 10*time.Second, 5*time.Millisecond)
	e.stop()
	st, ok := e.rcv.Node(node)
	require.True(t, ok)
	assert.Len(t, st.Pods, 3, "the flush did not wait for the stuck sampler")
}

func TestBackToBackResyncsAreSpaced(t *testing.T) {
	e := newEnv(t, nil, newPod("default", "a"))
	e.waitFor("the start snapshot", func(st receiver.NodeState) bool { return len(st.Pods) == 1 })
	// A backend that forgets its state again and again answers 409 to
	// every batch that is not a snapshot.
	for range 8 {
		e.rcv.Reset()
		e.update("default", "a", func(p *corev1.Pod) { p.Labels["n"] = strconv.Itoa(rand.IntN(1 << 30)) })
		time.Sleep(100 * time.Millisecond)
	}
	during := promtest.Value(e.metrics.Snapshots.WithLabelValues(wire.ReasonRequested))
	t.Logf("requested snapshots during 8 backend resets in 0.8 s: %v", during)
	assert.GreaterOrEqual(t, during, 1.0)
	assert.LessOrEqual(t, during, 2.0, "resyncs asked back to back are spaced by a backoff, not sent each time")
	e.waitFor("state restored once the spaced resync goes out", e.matchesTruth)
}
