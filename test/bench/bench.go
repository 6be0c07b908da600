package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/catops/cli/test/rig"
)

// Config sizes a run. The defaults (DefaultConfig) are the figures the
// issue asks for; `make bench` runs them.
type Config struct {
	Agent string // the catops-k8s binary
	// Reporter is the catops-k8s-cluster binary (the cluster reporter).
	Reporter string
	// AgentBefore, when set, is an earlier catops-k8s binary the detail
	// scenario runs beside (kubelet source, resource metrics only).
	AgentBefore string
	Interval    time.Duration // COLLECTION_INTERVAL of agents and baseline
	Window      time.Duration // length of each steady-state measurement

	Pods       int // pods on the measured node
	Namespaces int // namespaces they are spread over
	BigPods    int // pods on the node for the large-node memory figure
	ScaleNodes int // other nodes for node scoping
	ScalePods  int // pods on those other nodes
	Events     int // pod events for the latency figure
	ManyNodes  int // agents (one node each) against one API server
	ManyPods   int // pods on each of those nodes
	// The reporter scenario's cluster, besides the scale scenario's nodes
	// and pods: Deployments, pods with no node, Warning events a second.
	Deployments int
	PendingPods int
	WarningRate float64

	// Scenarios to run (all when empty): requests, bytes, detail, latency,
	// memory, scale, reporter, many. detail and memory together also measure the
	// detail at cfg.BigPods pods.
	Scenarios []string
	LogDir    string
	Logf      func(format string, args ...any)
}

// DefaultConfig is what `make bench` runs.
func DefaultConfig() Config {
	return Config{
		Interval: 10 * time.Second, Window: 30 * time.Second,
		Pods: 110, Namespaces: 10, BigPods: 1000,
		ScaleNodes: 200, ScalePods: 10000, Events: 200,
		ManyNodes: 100, ManyPods: 30,
		Deployments: 1000, PendingPods: 100, WarningRate: 10,
	}
}

const (
	token     = "bench-token"
	benchNode = "bench-node"
)

// Runner runs the scenarios.
type Runner struct {
	cfg Config
	r   *Report
	c   *rig.Cluster
	pop *Populator
	req RequestCounter

	idle    Counts                  // read requests per second with no agent running
	kubelet bool                    // the agent binary has the kubelet usage source
	small   map[string]smallFigures // by usage source
	details []detailRun             // the detail scenario's runs, by size
	scaled  bool                    // the scale scenario's nodes and pods exist
}

// smallFigures are the 110-pod figures the scale scenario compares with.
type smallFigures struct {
	rss, heap, perHour float64
}

// New returns a runner writing to r.
func New(cfg Config, r *Report) *Runner {
	return &Runner{cfg: cfg, r: r, small: map[string]smallFigures{}}
}

// sources are the usage sources the agent binary has.
func (b *Runner) sources() []string {
	if b.kubelet {
		return []string{"metrics-api", "kubelet"}
	}
	return []string{"metrics-api"}
}

func (b *Runner) logf(format string, args ...any) {
	if b.cfg.Logf != nil {
		b.cfg.Logf(format, args...)
	}
}

func (b *Runner) want(name string) bool {
	return len(b.cfg.Scenarios) == 0 || slices.Contains(b.cfg.Scenarios, name)
}

// Run runs every chosen scenario: all but "many" on one cluster, "many" on
// a fresh one.
func (b *Runner) Run(ctx context.Context) error {
	help, _ := exec.Command(b.cfg.Agent, "--help").CombinedOutput()
	b.kubelet = strings.Contains(string(help), "kubelet")
	b.r.Printf("Settings: %d pods over %d namespaces on the measured node, interval %s, steady-state windows of %s.",
		b.cfg.Pods, b.cfg.Namespaces, b.cfg.Interval, b.cfg.Window)
	if b.want("requests") || b.want("bytes") || b.want("detail") || b.want("latency") || b.want("memory") || b.want("scale") || b.want("reporter") {
		if err := b.withCluster(ctx, b.single); err != nil {
			return err
		}
	}
	if b.want("many") {
		if err := b.withCluster(ctx, b.many); err != nil {
			return err
		}
	}
	return nil
}

func (b *Runner) withCluster(ctx context.Context, fn func(context.Context) error) (err error) {
	t0 := time.Now()
	c, err := rig.Start(ctx, rig.Options{Kwok: true, MetricsServer: true, Logf: b.cfg.Logf})
	if err != nil {
		return fmt.Errorf("start the control plane: %w", err)
	}
	defer func() { err = errors.Join(err, c.Stop()) }()
	b.c, b.req = c, RequestCounter{C: c}
	if b.pop, err = NewPopulator(c); err != nil {
		return err
	}
	b.logf("control plane up in %s", time.Since(t0).Round(time.Millisecond))
	return fn(ctx)
}

func (b *Runner) nsName(i int) string { return fmt.Sprintf("ns-%d", i%b.cfg.Namespaces) }

// single runs the one-node scenarios on one cluster, in an order that
// keeps the node at cfg.Pods pods except while the memory scenario runs.
func (b *Runner) single(ctx context.Context) error {
	b.logf("creating node %s with %d pods", benchNode, b.cfg.Pods)
	if err := b.pop.Nodes(ctx, 1, b.cfg.BigPods+100, func(int) string { return benchNode }); err != nil {
		return err
	}
	if err := b.pop.Namespaces(ctx, b.cfg.Namespaces, b.nsName); err != nil {
		return err
	}
	if err := b.pop.Pods(ctx, b.cfg.Pods, b.webPod); err != nil {
		return err
	}
	if err := b.pop.WaitRunning(ctx, b.cfg.Pods, 2*time.Minute); err != nil {
		return err
	}
	if err := b.pop.WaitPodMetrics(ctx, b.cfg.Pods, 2*time.Minute); err != nil {
		return err
	}
	idle, err := b.measureIdle(ctx)
	if err != nil {
		return err
	}
	b.idle = idle
	for _, s := range []struct {
		name string
		fn   func(context.Context) error
	}{{"requests", b.requests}, {"bytes", b.bytes}, {"detail", b.detailSmall}, {"latency", b.latency}, {"memory", b.memory}, {"scale", b.scale}, {"reporter", b.reporter}} {
		if !b.want(s.name) {
			continue
		}
		b.logf("scenario %s", s.name)
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("scenario %s: %w", s.name, err)
		}
	}
	if len(b.details) > 0 {
		b.reportDetail(b.details)
	}
	return nil
}

func (b *Runner) webPod(i int) (string, string, string) {
	return b.nsName(i), fmt.Sprintf("web-%d", i), benchNode
}

// measureIdle measures the read requests of the rig itself (kwok,
// metrics-server) per second, to subtract from the windows.
func (b *Runner) measureIdle(ctx context.Context) (Counts, error) {
	b.logf("idle window (%s)", b.cfg.Window)
	return b.measureRate(ctx, b.req.Reads)
}

// measureRate is what read counts in a window of cfg.Window, per second.
func (b *Runner) measureRate(ctx context.Context, read func(context.Context) (Counts, error)) (Counts, error) {
	before, err := read(ctx)
	if err != nil {
		return nil, err
	}
	sleep(ctx, b.cfg.Window)
	after, err := read(ctx)
	if err != nil {
		return nil, err
	}
	return after.Sub(before).Scale(1 / b.cfg.Window.Seconds()), nil
}

// agentRun is one agent measured over a window.
type agentRun struct {
	start, steady Counts // read requests at start-up and in the window
	watches       Counts // watches the agent holds open
	cpu           float64
	rss, heap     float64
	rssFile       float64 // of rss, file pages (the binary)
	bytes         float64
	window        time.Duration
}

func (b *Runner) agentOptions(name, node, source, format, url string) AgentOptions {
	o := AgentOptions{
		Binary: b.cfg.Agent, Kubeconfig: b.c.Kubeconfig, Node: node, BackendURL: url, Token: token,
		Interval: b.cfg.Interval, Source: source, Format: format, LogDir: b.cfg.LogDir, Name: name,
	}
	if source == "kubelet" {
		// kwok serves the kubelet endpoints with a certificate of the rig's
		// CA, the same CA as the API server's in the kubeconfig.
		o.Env = append(o.Env, "CATOPS_KUBELET_CA_FILE="+b.c.PKI.CACert)
	}
	return o
}

// runAgent starts one agent on node, lets it settle for 1.5 intervals,
// then measures a window.
func (b *Runner) runAgent(ctx context.Context, name, source, format string, sink *Sink) (agentRun, error) {
	var m agentRun
	r0, err := b.req.Reads(ctx)
	if err != nil {
		return m, err
	}
	w0, err := b.req.OpenWatches(ctx)
	if err != nil {
		return m, err
	}
	t0 := time.Now()
	a, err := StartAgent(ctx, b.agentOptions(name, benchNode, source, format, sink.URL), time.Minute)
	if err != nil {
		return m, err
	}
	defer a.Stop()
	sleep(ctx, b.cfg.Interval*3/2)
	r1, err := b.req.Reads(ctx)
	if err != nil {
		return m, err
	}
	m.start = r1.Sub(r0).Sub(b.idle.Scale(time.Since(t0).Seconds()))
	w1, err := b.req.OpenWatches(ctx)
	if err != nil {
		return m, err
	}
	m.watches = w1.Sub(w0)
	p0, err := a.Proc()
	if err != nil {
		return m, err
	}
	by0 := sink.Bytes(benchNode)
	ws := time.Now()
	sleep(ctx, b.cfg.Window)
	m.window = time.Since(ws)
	r2, err := b.req.Reads(ctx)
	if err != nil {
		return m, err
	}
	p1, err := a.Proc()
	if err != nil {
		return m, err
	}
	m.steady = r2.Sub(r1).Sub(b.idle.Scale(m.window.Seconds()))
	m.cpu = CPUBetween(p0, p1)
	m.rss = float64(p1.RSSBytes)
	m.heap, _ = a.Metric("go_memstats_heap_inuse_bytes")
	m.bytes = float64(sink.Bytes(benchNode) - by0)
	return m, ctx.Err()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// perHour scales a count over d to one hour.
func perHour(v float64, d time.Duration) float64 { return v * float64(time.Hour) / float64(d) }

// keysOf is the union of the keys of several Counts, in order.
func keysOf(cs ...Counts) []string {
	seen := map[string]bool{}
	for _, c := range cs {
		for k := range c {
			if c[k] >= 0.5 {
				seen[k] = true
			}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// startAgents starts n agents at once, k at a time.
func startAgents(ctx context.Context, opts []AgentOptions, k int) ([]*Agent, error) {
	agents := make([]*Agent, len(opts))
	errs := make([]error, len(opts))
	sem := make(chan struct{}, k)
	var wg sync.WaitGroup
	for i := range opts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			agents[i], errs[i] = StartAgent(ctx, opts[i], 3*time.Minute)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		stopAgents(agents)
		return nil, err
	}
	return agents, nil
}

func stopAgents(agents []*Agent) {
	var wg sync.WaitGroup
	for _, a := range agents {
		if a != nil {
			wg.Go(a.Stop)
		}
	}
	wg.Wait()
}
