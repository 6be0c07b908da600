// Package cluster is the cluster reporter: what no node agent sees,
// gathered once per cluster by the one replica that holds the lease
// (pkg/leader), and shipped as the cluster stream (catops.k8s-cluster/v1,
// docs/protocol.md §9) through the same sender as the node stream:
//
//	informers (workloads, pods with no node, namespaces, nodes,
//	Warning events) ─▶ Stream (records, deltas, snapshots) ─▶ sender ─▶ backend
//
// Everything comes from watches: a term begins with one LIST of each kind
// (and one GET of /version), then only WATCH requests. A replica that does
// not lead watches nothing.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/catops/cli/pkg/leader"
	"github.com/catops/cli/pkg/sender"
	"github.com/catops/cli/pkg/wire"
)

// Options configure a Reporter.
type Options struct {
	Client kubernetes.Interface
	// Sender are the sender's options for every term; the reporter fills
	// in Stream, Session, ClusterID, Leader and Fence.
	Sender sender.Options
	// Interval is how often repeated warnings and the node summary are
	// sent when they changed (COLLECTION_INTERVAL); SnapshotInterval how
	// often a full snapshot is sent.
	Interval, SnapshotInterval time.Duration
	// ShutdownTimeout bounds the final flush.
	ShutdownTimeout time.Duration
	// MaxWarnings bounds the warnings remembered (and sent again in a
	// snapshot); default 500.
	MaxWarnings int
	Logger      *zap.Logger
	// Tick, if set, is called every Interval while the term's loop runs
	// (the liveness probe's tick).
	Tick func()
	// Synced, if set, is called each time a term's caches synced and its
	// first snapshot is queued (tests wait on it).
	Synced func()
}

// EventTypes are the event types of the cluster stream.
var EventTypes = []wire.EventType{wire.EventSnapshotBegin, wire.EventSnapshotEnd, wire.EventWorkload, wire.EventWorkloadDelete,
	wire.EventPendingPod, wire.EventPendingPodDelete, wire.EventNamespace, wire.EventNamespaceDelete, wire.EventWarning, wire.EventClusterSummary}

// Reporter is the cluster reporter.
type Reporter struct {
	opts Options
}

// New returns a Reporter; nothing runs until Lead.
func New(opts Options) *Reporter {
	if opts.MaxWarnings <= 0 {
		opts.MaxWarnings = 500
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Reporter{opts: opts}
}

// Lead runs one term: it starts the watches, sends a snapshot once they
// synced, then the changes, until ctx ends; then it flushes within
// ShutdownTimeout (nothing goes out if the term is over: the sender's
// fence holds it). It is the lead function of leader.Run.
func (r *Reporter) Lead(ctx context.Context, t leader.Term) {
	log := r.opts.Logger.With(zap.Int32("epoch", t.Epoch))
	factory := informers.NewSharedInformerFactoryWithOptions(r.opts.Client, 0, informers.WithTransform(slim))
	pending := informers.NewSharedInformerFactoryWithOptions(r.opts.Client, 0, informers.WithTransform(slim),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", "").String()
		}))
	warnings := informers.NewSharedInformerFactoryWithOptions(r.opts.Client, 0, informers.WithTransform(slim),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("type", corev1.EventTypeWarning).String()
		}))
	s := newStream(r.opts.MaxWarnings, time.Now)
	kinds := []struct {
		kind     string
		informer cache.SharedIndexInformer
	}{
		{KindDeployment, factory.Apps().V1().Deployments().Informer()},
		{KindStatefulSet, factory.Apps().V1().StatefulSets().Informer()},
		{KindDaemonSet, factory.Apps().V1().DaemonSets().Informer()},
		{KindJob, factory.Batch().V1().Jobs().Informer()},
		{KindCronJob, factory.Batch().V1().CronJobs().Informer()},
		{kindPendingPod, pending.Core().V1().Pods().Informer()},
		{kindNamespace, factory.Core().V1().Namespaces().Informer()},
		{kindNode, factory.Core().V1().Nodes().Informer()},
		{kindWarning, warnings.Core().V1().Events().Informer()},
	}
	for _, k := range kinds {
		s.watch(k.kind, k.informer.GetStore())
		if _, err := k.informer.AddEventHandler(s.handler(k.kind)); err != nil {
			log.Error("Cannot watch", zap.String("kind", k.kind), zap.Error(err))
			return
		}
	}
	watchCtx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	for _, f := range []informers.SharedInformerFactory{factory, pending, warnings} {
		f.Start(watchCtx.Done())
		defer f.Shutdown()
	}
	log.Info("Waiting for the cluster caches to sync")
	if !r.waitForSync(ctx, log, factory, pending, warnings) {
		return
	}
	version := ""
	if v, err := r.opts.Client.Discovery().ServerVersion(); err != nil {
		log.Warn("Cannot read the API server's version; sending without it", zap.Error(err))
	} else {
		version = v.GitVersion
	}

	so := r.opts.Sender
	so.Stream = wire.ClusterStream
	so.Session = newSession()
	so.ClusterID = s.clusterID()
	so.Leader = &wire.Leader{Identity: t.Identity, Lease: t.Lease, Epoch: t.Epoch, LeaseDurationSeconds: int32(t.LeaseDuration / time.Second)} //nolint:gosec // seconds of a lease
	so.Fence = t.Fence
	so.Spool = nil // a spool is a node's; a new leader starts from a snapshot
	snd := sender.New(so)
	s.out = snd.Enqueue
	s.start(version)
	log.Info("Cluster caches synced; sent the first snapshot", zap.String("session", so.Session), zap.String("clusterID", so.ClusterID),
		zap.String("kubernetesVersion", version), zap.Int("workloads", s.count(workloadKinds...)), zap.Int("pendingPods", s.count(kindPendingPod)))
	if r.opts.Synced != nil {
		r.opts.Synced()
	}

	var resyncs sender.ResyncSpacer
	snapshot := func(reason string) {
		s.snapshot(reason)
		resyncs.Sent(reason, time.Now())
	}
	sendCtx, stopSender := context.WithCancel(ctx)
	senderDone := make(chan struct{})
	go func() { defer close(senderDone); snd.Run(sendCtx) }()
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	snap := time.NewTicker(r.opts.SnapshotInterval)
	defer snap.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			s.tick()
			if r.opts.Tick != nil {
				r.opts.Tick()
			}
		case <-snap.C:
			snapshot(wire.ReasonPeriodic)
		case reason := <-snd.ResyncRequested():
			if now, in := resyncs.Request(reason, time.Now()); now {
				snapshot(reason)
			} else if in > 0 {
				log.Info("Resync requested again soon after the last one; spacing them", zap.Duration("in", in))
			}
		case <-resyncs.Timer():
			snapshot(resyncs.Due())
		}
	}
	stopWatches()
	stopSender()
	<-senderDone
	s.tick() // repeated warnings not yet sent
	flushCtx, cancel := context.WithTimeout(context.Background(), r.opts.ShutdownTimeout)
	defer cancel()
	if left := snd.Flush(flushCtx); left > 0 {
		log.Info("Events not delivered when the term ended", zap.Int("events", left))
	}
}

// SyncTimeout is how long a term waits for its caches to sync before it
// gives up the lease (another replica, or this one again, tries anew).
const SyncTimeout = 2 * time.Minute

// waitForSync waits for every informer of the factories to sync, within
// SyncTimeout, calling Tick meanwhile; false: ctx ended or time ran out.
func (r *Reporter) waitForSync(ctx context.Context, log *zap.Logger, factories ...informers.SharedInformerFactory) bool {
	syncCtx, cancel := context.WithTimeout(ctx, SyncTimeout)
	defer cancel()
	if r.opts.Tick != nil {
		go func() {
			t := time.NewTicker(10 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-syncCtx.Done():
					return
				case <-t.C:
					r.opts.Tick()
				}
			}
		}()
	}
	for _, f := range factories {
		for typ, ok := range f.WaitForCacheSync(syncCtx.Done()) {
			if ok {
				continue
			}
			if ctx.Err() == nil {
				log.Error("The cluster caches did not sync in time; giving up the lease", zap.String("type", typ.String()), zap.Duration("after", SyncTimeout))
			}
			return false
		}
	}
	return true
}

func newSession() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// hashOf is the FNV-1a hash of an encoded record: what the stream keeps
// of each record it sent, to send it again only when it changed.
func hashOf(b []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64()
}
