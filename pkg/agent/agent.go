// Package agent wires the pipeline together and runs it:
//
//	pod cache ─┐
//	host sampler ─┼─▶ joiner ─▶ sender ─▶ backend           (delta format)
//	usage collector ─┘
//	             └──▶ legacy.Builder ─▶ legacy.Poster ─▶ backend   (snapshot format)
//
// The host sample comes from the host sampler (CATOPS_HOST_SOURCE=proc) or,
// with CATOPS_HOST_SOURCE=kubelet, from what the usage collector read of the
// kubelet summary this interval and the cached Node, built by the kubelet
// host sampler: the summary is read once, for both.
//
// New builds the agent from its collaborators (Deps, made by NewDeps or by
// a test) without talking to anything; Run owns three goroutines besides
// the informers': the loop (the joiner's or the legacy builder's only
// user), the sampler (host sample and usage each interval) and the sender
// or the legacy poster.
package agent

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/health"
	"github.com/catops/cli/pkg/joiner"
	"github.com/catops/cli/pkg/legacy"
	"github.com/catops/cli/pkg/podcache"
	"github.com/catops/cli/pkg/sender"
	"github.com/catops/cli/pkg/spool"
	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/telemetry/clientgo"
	"github.com/catops/cli/pkg/telemetry/prom"
	"github.com/catops/cli/pkg/token"
	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/wire"
)

// HostSampler reads the host figures once per interval.
type HostSampler interface {
	Sample(ctx context.Context) wire.HostSample
}

// KubeletHostSampler builds the host sample from the node's own figures of
// the kubelet summary the usage collector read this interval (nil: none)
// and the cached Node (nil: not cached), for CATOPS_HOST_SOURCE=kubelet
// (kubeletsample.Sampler).
type KubeletHostSampler interface {
	Sample(stats *usage.NodeStats, node *corev1.Node, now time.Time) *wire.HostSample
}

// UsageCollector reads pod and node usage once per interval
// (usage.Collector), and passes on the node's figures of the kubelet
// summary when its source read them.
type UsageCollector interface {
	Collect(ctx context.Context, pods []usage.PodKey, now time.Time) (wire.Usage, *usage.NodeStats)
	// Stats are the running totals behind the usage metrics.
	Stats() usage.Stats
	// UseNode gives it the cached Node object (capacity bounds, and the
	// kubelet's address for the kubelet source); called before Collect.
	UseNode(usage.NodeFunc)
}

// ThrottlingReader puts containers' CPU throttling on the usage event
// Usage collected, from the pods in the cache (their UIDs, containers'
// IDs and CPU limits), for CATOPS_THROTTLING_SOURCE=cgroup
// (cgroup.Throttling).
type ThrottlingReader interface {
	Annotate(u *wire.Usage, pods []*corev1.Pod, now time.Time)
}

// Deps are the agent's connections to the outside, built by main (or a test).
type Deps struct {
	Kube podcache.Client
	// Host reads the host figures with CATOPS_HOST_SOURCE=proc.
	Host HostSampler
	// KubeletHost builds them with CATOPS_HOST_SOURCE=kubelet, from what
	// Usage read (Host is not used then).
	KubeletHost KubeletHostSampler
	Usage       UsageCollector // nil: no pod usage source
	// Throttling adds throttling to what Usage read (nil: none, or the
	// usage source reads it itself: CATOPS_THROTTLING_SOURCE=cadvisor).
	Throttling ThrottlingReader
	Logger     *zap.Logger
	Registry   *prometheus.Registry // nil: metrics are not served
	Metrics    *telemetry.Metrics   // nil: registered on Registry
	Client     *http.Client
	Version    string
	Now        func() time.Time
	// Ready, if set, is called once the caches are synced (tests wait on it).
	Ready func()
}

type tick struct {
	host  *wire.HostSample // nil: none this interval (the receiver keeps the last)
	usage *wire.Usage
	pods  int // pods in the cache when the tick was read
}

// Agent is the node agent, built by New and run by Run.
type Agent struct {
	ran     atomic.Bool
	cfg     *config.Config
	d       Deps
	log     *zap.Logger
	status  *health.Status
	pc      *podcache.Cache
	snd     *sender.Sender // the delta format's; nil with the snapshot format
	post    *legacy.Poster // the snapshot format's; nil with the delta format
	spool   *spool.Spool   // the sender's disk copy; nil without CATOPS_SPOOL_DIR
	session string
}

// shipper delivers what the loop hands it: the sender or the legacy poster.
type shipper interface {
	Run(ctx context.Context)
	Pending() (items, bytes int)
	Flush(ctx context.Context) int
}

// Run builds the agent with New and runs it until ctx ends.
func Run(ctx context.Context, cfg *config.Config, d Deps) error {
	a, err := New(cfg, d)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// New builds the agent from cfg and its collaborators without talking to
// anything: the metrics (registered on d.Registry unless d.Metrics is
// given), the probes' status, the pod and node caches, and the sender
// (delta format) or the legacy poster (snapshot format). It returns an
// error for what cannot work (an unreadable token file, a bad WatchList
// mode, the kubelet host source without the usage collector or the kubelet
// host sampler).
func New(cfg *config.Config, d Deps) (*Agent, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if cfg.HostSource == config.HostSourceKubelet && (d.Usage == nil || d.KubeletHost == nil) {
		return nil, errors.New("CATOPS_HOST_SOURCE=kubelet: the agent needs the kubelet usage source (CATOPS_POD_METRICS_SOURCE=kubelet) and a kubelet host sampler")
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.Metrics == nil {
		groups := telemetry.Common | telemetry.Kubernetes
		if cfg.SpoolDir != "" {
			groups |= telemetry.Spool
		}
		d.Metrics = prom.New(d.Registry, groups)
		if s := d.Usage; s != nil {
			target, requests := prom.MetricsAPI, func(st usage.Stats) uint64 { return st.Requests }
			if cfg.PodMetricsSource == config.SourceKubelet {
				target, requests = prom.Kubelet, func(st usage.Stats) uint64 { return st.KubeletRequests }
			}
			prom.RegisterUsage(d.Registry, target, func() (uint64, uint64) { st := s.Stats(); return requests(st), st.Errors })
			prom.RegisterUsageRejected(d.Registry, target, func() map[string]uint64 { return s.Stats().Rejected })
		}
		prom.RegisterBuildInfo(d.Registry, d.Version)
		clientgo.Register(d.Registry)
	}
	initMetrics(cfg, d.Metrics, d.Usage != nil)
	a := &Agent{cfg: cfg, d: d, log: d.Logger.With(zap.String("node", cfg.NodeName)), session: newSession()}

	tok, err := tokenFunc(cfg)
	if err != nil {
		return nil, err
	}
	a.status = health.NewStatus(3*cfg.CollectionInterval+30*time.Second, d.Now)
	a.pc, err = podcache.New(d.Kube, cfg.NodeName, a.log, podcache.Options{
		Hooks: podcache.Hooks{
			WatchError: func(resource string, _ error) { d.Metrics.WatchRestarts.WithLabelValues(resource).Inc() },
			Request:    func(resource, verb string) { d.Metrics.InformerRequests.WithLabelValues(resource, verb).Inc() },
		},
		WatchList: cfg.WatchList,
	})
	if err != nil {
		return nil, err
	}
	// Usage readings are bounded by the cached Node's capacity, and the
	// kubelet source finds its kubelet through it.
	if d.Usage != nil {
		d.Usage.UseNode(a.pc.Node)
	}
	if cfg.WireFormat == config.FormatSnapshot {
		a.post = legacy.New(legacy.Options{
			BackendURL:   cfg.BackendURL,
			Token:        tok,
			AgentVersion: d.Version,
			Client:       d.Client,
			Logger:       a.log.Named("sender"),
			Metrics:      d.Metrics,
			Now:          d.Now,
			Answered:     a.status.BackendAnswered,
		})
		return a, nil
	}
	if cfg.SpoolDir != "" {
		a.spool, err = spool.Open(cfg.SpoolDir, spool.Options{MaxBytes: cfg.SpoolMaxBytes, Logger: a.log.Named("spool"), Metrics: d.Metrics})
		if err != nil {
			return nil, fmt.Errorf("CATOPS_SPOOL_DIR: %w", err)
		}
	}
	a.snd = sender.New(sender.Options{
		BackendURL:    cfg.BackendURL,
		Token:         tok,
		Node:          cfg.NodeName,
		Namespace:     cfg.Namespace,
		AgentVersion:  d.Version,
		Session:       a.session,
		MaxQueueBytes: cfg.QueueMaxBytes,
		MaxBatchBytes: cfg.BatchMaxBytes,
		FlushDelay:    cfg.FlushDelay,
		Client:        d.Client,
		Logger:        a.log.Named("sender"),
		Metrics:       d.Metrics,
		Now:           d.Now,
		Answered:      a.status.BackendAnswered,
		Spool:         a.spool,
	})
	return a, nil
}

// Run serves the probes, starts the caches and, once they synced, ships
// until ctx ends; then it flushes what is pending within
// cfg.ShutdownTimeout. It returns an error only when the agent cannot start
// (the health address is taken) or when called a second time.
func (a *Agent) Run(ctx context.Context) error {
	if a.ran.Swap(true) {
		return errors.New("agent: Run called twice; build another agent with New")
	}
	cfg, d, log, pc := a.cfg, a.d, a.log, a.pc
	if a.spool != nil {
		defer a.spool.Close() // also on the early returns; a second Close is a no-op
	}
	var ship shipper = a.snd
	if a.post != nil {
		ship = a.post
	}
	if cfg.HealthAddr != "" {
		stop, err := health.Serve(cfg.HealthAddr, health.Handler(a.status, prom.Handler(d.Registry)), log)
		if err != nil {
			return err
		}
		defer stop()
	}

	informerCtx, stopInformers := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		stopInformers()
		// Bounded: a reflector backing off from an unreachable API server
		// does not wake for its context, and SIGTERM must end the agent
		// well within the pod's grace period.
		waitCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if !pc.Shutdown(waitCtx) {
			log.Debug("Informers still backing off at shutdown; not waiting for them")
		}
	}()
	pc.Start(informerCtx)
	log.Info("Waiting for the pod and node caches to sync")
	if !pc.WaitForSync(ctx) {
		return nil // stopped before the caches synced: nothing to flush
	}
	a.status.SetReady(true)
	a.status.Tick()
	log.Info("Caches synced", zap.Int("pods", len(pc.Pods())))
	if d.Ready != nil {
		d.Ready()
	}
	throttling := cmp.Or(cfg.ThrottlingSource, config.ThrottlingNone)
	if d.Usage == nil {
		throttling = config.ThrottlingNone // it goes with the containers' usage
	}
	log.Info("Shipping to backend", zap.String("url", cfg.BackendURL+wire.Path),
		zap.String("format", cfg.WireFormat), zap.String("session", a.session),
		zap.Duration("interval", cfg.CollectionInterval), zap.String("hostSource", cmp.Or(cfg.HostSource, config.HostSourceProc)),
		zap.String("throttlingSource", throttling))

	sendCtx, stopSender := context.WithCancel(ctx)
	senderDone := make(chan struct{})
	go func() { defer close(senderDone); ship.Run(sendCtx) }()

	// The sampler is not waited for at shutdown: a reading stuck in the
	// kernel (statfs on a hung mount) must not hold up the flush. It ends
	// with ctx, or when its reading returns.
	ticks := make(chan tick)
	go sample(ctx, cfg, d, pc, ticks)

	var l *loop
	if a.post != nil {
		a.runLegacy(ctx, ticks)
	} else {
		l = &loop{cfg: cfg, d: d, log: log, pc: pc, j: joiner.New(pc, d.Now), snd: a.snd, status: a.status}
		l.run(ctx, ticks)
	}

	// Shutdown: stop the retry loop, take the last changes, and flush with
	// a fresh deadline (ctx is already over).
	stopSender()
	<-senderDone
	if l != nil {
		l.changes()
	}
	// With the chart's emptyDir, what stays in the spool is sent only if
	// this container restarts in the same pod; a pod that is replaced
	// loses it.
	sender.FinalFlush(ship, a.spool, cfg.ShutdownTimeout, cfg.SpoolDir, log)
	return nil
}

// initMetrics creates the series the agent knows it may count, at 0, so
// that dashboards and alerts see 0 rather than no data.
func initMetrics(cfg *config.Config, m *telemetry.Metrics, hasUsage bool) {
	for _, resource := range []string{"pods", "nodes"} {
		m.WatchRestarts.WithLabelValues(resource)
		for _, verb := range []string{"list", "watch"} {
			m.InformerRequests.WithLabelValues(resource, verb)
		}
	}
	if cfg.WireFormat == config.FormatSnapshot {
		legacy.InitMetrics(m)
	} else {
		for _, reason := range []string{wire.ReasonStart, wire.ReasonPeriodic, wire.ReasonResync, wire.ReasonRequested} {
			m.Snapshots.WithLabelValues(reason)
		}
		sender.InitMetrics(m, deltaEventTypes)
	}
	if hasUsage {
		m.UsageReadDuration.WithLabelValues(cfg.PodMetricsSource)
	}
}

// deltaEventTypes are the event types the delta format sends.
var deltaEventTypes = []wire.EventType{wire.EventSnapshotBegin, wire.EventSnapshotEnd, wire.EventPodUpsert, wire.EventPodDelete,
	wire.EventNode, wire.EventHost, wire.EventUsage}

func tokenFunc(cfg *config.Config) (token.Func, error) {
	return token.Source(cfg.AuthToken, cfg.AuthTokenFile)
}

// newSession names this run of the agent; sequence numbers restart with it.
func newSession() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sample reads the host and usage every interval and hands them to the loop.
// With the kubelet host source, the host sample is built after the usage
// read, from the summary that read took (no read of its own).
func sample(ctx context.Context, cfg *config.Config, d Deps, pc *podcache.Cache, out chan<- tick) {
	t := time.NewTicker(cfg.CollectionInterval)
	defer t.Stop()
	fromKubelet := cfg.HostSource == config.HostSourceKubelet
	for {
		var tk tick
		if !fromKubelet {
			start := time.Now()
			h := d.Host.Sample(ctx)
			tk.host = &h
			d.Metrics.HostSampleDuration.Observe(time.Since(start).Seconds())
		}
		pods := pc.Pods()
		tk.pods = len(pods)
		var stats *usage.NodeStats
		if d.Usage != nil {
			keys := make([]usage.PodKey, len(pods))
			for i, p := range pods {
				keys[i] = usage.PodKey{Namespace: p.Namespace, Name: p.Name}
			}
			start := time.Now()
			u, s := d.Usage.Collect(ctx, keys, d.Now())
			if d.Throttling != nil {
				d.Throttling.Annotate(&u, pods, d.Now())
			}
			d.Metrics.UsageReadDuration.WithLabelValues(cfg.PodMetricsSource).Observe(time.Since(start).Seconds())
			tk.usage, stats = &u, s
		}
		if fromKubelet {
			start := time.Now()
			node, _ := pc.Node()
			tk.host = d.KubeletHost.Sample(stats, node, d.Now())
			d.Metrics.HostSampleDuration.Observe(time.Since(start).Seconds())
		}
		if ctx.Err() != nil {
			return // a reading cut short by shutdown is not news
		}
		select {
		case out <- tk:
		case <-ctx.Done():
			return
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// recordTick records a collection tick for the probes and the metrics.
func recordTick(st *health.Status, m *telemetry.Metrics, now func() time.Time, tk tick) {
	st.Tick()
	m.LastTick.Set(float64(now().Unix()))
	m.CachedPods.Set(float64(tk.pods))
	if tk.usage != nil {
		m.UsageAvailable.Set(boolGauge(tk.usage.Available))
	}
}

// runLegacy is the loop of the snapshot format: every tick, the whole node
// goes to the legacy poster, replacing one not yet sent.
func (a *Agent) runLegacy(ctx context.Context, ticks <-chan tick) {
	b := legacy.NewBuilder(a.cfg.NodeName, a.cfg.Namespace, a.d.Now)
	for {
		select {
		case <-ctx.Done():
			return
		case tk := <-ticks:
			recordTick(a.status, a.d.Metrics, a.d.Now, tk)
			a.pc.TakeDirty() // a snapshot covers every change: the marks must not pile up
			if err := a.post.Offer(b.Build(a.pc.Pods(), tk.host, tk.usage)); err != nil {
				a.log.Error("Cannot encode snapshot", zap.Error(err))
			}
		}
	}
}

// loop is the joiner's goroutine: it turns cache changes, ticks and resync
// requests into queued events.
type loop struct {
	cfg    *config.Config
	d      Deps
	log    *zap.Logger
	pc     *podcache.Cache
	j      *joiner.Joiner
	snd    *sender.Sender
	status *health.Status

	resyncs sender.ResyncSpacer
}

func (l *loop) run(ctx context.Context, ticks <-chan tick) {
	l.snapshot(wire.ReasonStart)
	snapshots := time.NewTicker(l.cfg.SnapshotInterval)
	defer snapshots.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.pc.Changed():
			l.changes()
		case tk := <-ticks:
			recordTick(l.status, l.d.Metrics, l.d.Now, tk)
			l.changes() // changes first: usage may name pods just added
			l.enqueue(l.j.Samples(tk.host, tk.usage))
		case <-snapshots.C:
			l.snapshot(wire.ReasonPeriodic)
		case reason := <-l.snd.ResyncRequested():
			l.resync(reason)
		case <-l.resyncs.Timer():
			l.snapshot(l.resyncs.Due())
		}
	}
}

// resync sends the snapshot the sender asked for, at once unless resyncs
// come back to back: then they are spaced (sender.ResyncSpacer).
func (l *loop) resync(reason string) {
	now, in := l.resyncs.Request(reason, l.d.Now())
	switch {
	case now:
		l.snapshot(reason)
	case in > 0:
		l.log.Info("Resync requested again soon after the last one; spacing them", zap.Duration("in", in))
	}
}

func (l *loop) snapshot(reason string) {
	l.resyncs.Sent(reason, l.d.Now())
	l.d.Metrics.Snapshots.WithLabelValues(reason).Inc()
	l.enqueue(l.j.Snapshot(reason))
}

func (l *loop) changes() { l.enqueue(l.j.Changes()) }

// enqueue queues what the joiner built. An encoding error (our own types:
// a bug) is logged loudly, and the events that could be built still go out.
func (l *loop) enqueue(evs []wire.EncodedEvent, err error) {
	if err != nil {
		l.log.Error("Cannot encode events", zap.Error(err))
	}
	l.snd.Enqueue(evs...)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
