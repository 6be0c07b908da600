// Package podcache keeps a local, slimmed cache of the pods on one node and
// of that node's Node object, through client-go informers: one LIST (or a
// streaming WatchList where the server offers it) and then a WATCH, both
// scoped by field selector. Event handlers only mark what changed; the
// joiner reads the marked keys on its own goroutine.
package podcache

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Hooks lets the caller count informer events; nil fields are skipped.
// They are called on the informers' goroutines and must not block.
type Hooks struct {
	// WatchError is called for every LIST or WATCH request of the caches
	// that fails (API server unreachable, 429, 403 …) and every watch that
	// ends with an ERROR event (410 Expired after compaction, 500 …); the
	// reflector retries each, after its backoff (0.8 s doubling to 30 s)
	// where the failure says to wait. A WatchList request refused in a way
	// client-go answers by listing at once (422 from a server without
	// WatchList) is not a failure.
	WatchError func(resource string, err error)
	// Request is called when each LIST or WATCH request of the caches has
	// been answered or has failed (not for one cut short by shutdown); verb
	// is "list" or "watch" (a WatchList request is a "watch").
	Request func(resource, verb string)
}

// Options configure a Cache.
type Options struct {
	Hooks Hooks
	// WatchList is WatchListAuto (the default when empty), WatchListOn or
	// WatchListOff.
	WatchList string
	// FallbackAfter bounds the wait for a streamed initial state in
	// WatchListAuto; zero means DefaultFallbackAfter.
	FallbackAfter time.Duration
	// SyncWarnAfter is how long WaitForSync waits before its first
	// warning that the caches have not synced (then one a minute); zero
	// means DefaultSyncWarnAfter.
	SyncWarnAfter time.Duration
	// ErrorLogEvery spaces the warnings about failed LIST and WATCH
	// requests (every failure still reaches Hooks.WatchError); zero means
	// DefaultErrorLogEvery.
	ErrorLogEvery time.Duration
}

// Defaults of Options.
const (
	// DefaultSyncWarnAfter leaves room for the WatchList fallback, which
	// starts after DefaultFallbackAfter and usually syncs at once.
	DefaultSyncWarnAfter = DefaultFallbackAfter + 15*time.Second
	DefaultErrorLogEvery = 30 * time.Second
)

// Cache is the node-scoped pod and node cache.
type Cache struct {
	nodeName string
	logger   *zap.Logger
	client   Client
	opts     Options

	set     atomic.Pointer[informerSet]
	running sync.WaitGroup
	// settled: the informer set in c.set is the one the agent keeps. In
	// WatchListAuto it is set once the first set synced or was replaced;
	// until then HasSynced is false, so that the agent never trusts a set
	// the fallback is about to replace.
	settled atomic.Bool

	failures requestFailures

	mu        sync.Mutex
	dirtyPods map[string]struct{}
	dirtyNode bool
	notify    chan struct{}
}

// informerSet is one generation of the pod and node informers: the first,
// and after a fallback from WatchList to LIST + WATCH, the second.
type informerSet struct {
	informers map[string]cache.SharedIndexInformer // by resource: pods, nodes
	lws       []*pacedListWatch
	pods      listersv1.PodLister
	nodes     listersv1.NodeLister
	watchList bool
	stop      context.CancelFunc // set by start
}

// New builds the informers; nothing talks to the API server until Start.
func New(client Client, nodeName string, logger *zap.Logger, opts Options) (*Cache, error) {
	switch opts.WatchList {
	case "":
		opts.WatchList = WatchListAuto
	case WatchListAuto, WatchListOn, WatchListOff:
	default:
		return nil, fmt.Errorf("podcache: WatchList must be %s, %s or %s, got %q", WatchListAuto, WatchListOn, WatchListOff, opts.WatchList)
	}
	if opts.FallbackAfter <= 0 {
		opts.FallbackAfter = DefaultFallbackAfter
	}
	if opts.SyncWarnAfter <= 0 {
		opts.SyncWarnAfter = DefaultSyncWarnAfter
	}
	if opts.ErrorLogEvery <= 0 {
		opts.ErrorLogEvery = DefaultErrorLogEvery
	}
	c := &Cache{
		nodeName:  nodeName,
		logger:    logger,
		client:    client,
		opts:      opts,
		dirtyPods: make(map[string]struct{}),
		notify:    make(chan struct{}, 1),
	}
	c.failures = requestFailures{logger: logger, every: opts.ErrorLogEvery, hook: opts.Hooks.WatchError, now: time.Now}
	set, err := c.newInformerSet(opts.WatchList != WatchListOff)
	if err != nil {
		return nil, err
	}
	c.set.Store(set)
	return c, nil
}

func (c *Cache) newInformerSet(watchList bool) (*informerSet, error) {
	podInf, podLW := c.newInformer("pods", &corev1.Pod{}, "spec.nodeName", watchList,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	nodeInf, nodeLW := c.newInformer("nodes", &corev1.Node{}, "metadata.name", watchList, nil)
	set := &informerSet{
		informers: map[string]cache.SharedIndexInformer{"pods": podInf, "nodes": nodeInf},
		lws:       []*pacedListWatch{podLW, nodeLW},
		pods:      listersv1.NewPodLister(podInf.GetIndexer()),
		nodes:     listersv1.NewNodeLister(nodeInf.GetIndexer()),
		watchList: watchList,
	}
	for i, resource := range []string{"pods", "nodes"} {
		if err := c.setWatchErrorHandler(set.informers[resource], set.lws[i], resource); err != nil {
			return nil, err
		}
	}
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.markPod,
		UpdateFunc: func(_, obj any) { c.markPod(obj) },
		DeleteFunc: c.markPod,
	}); err != nil {
		return nil, fmt.Errorf("add pod event handler: %w", err)
	}
	if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.markNode() },
		UpdateFunc: func(_, _ any) { c.markNode() },
		DeleteFunc: func(any) { c.markNode() },
	}); err != nil {
		return nil, fmt.Errorf("add node event handler: %w", err)
	}
	return set, nil
}

// newInformer returns an informer of resource whose every request selects
// field=nodeName, slimming each object as it enters the store. Resync is 0:
// a periodic resync replays the cache to the handlers, which would only
// mark every pod dirty to find nothing changed. The watch already delivers
// every change.
func (c *Cache) newInformer(resource string, obj runtime.Object, field string, watchList bool, indexers cache.Indexers) (cache.SharedIndexInformer, *pacedListWatch) {
	lw := newPacedListWatch(c.client.ListWatch(resource, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector(field, c.nodeName).String()
	}), watchList)
	lw.resource, lw.observe = resource, c.observe
	lw.routine = func(resource string, err error) {
		c.logger.Debug("WatchList not answered; client-go lists instead", zap.String("resource", resource), zap.Error(err))
	}
	inf := cache.NewSharedIndexInformerWithOptions(lw, obj, cache.SharedIndexInformerOptions{Indexers: indexers})
	// Cannot fail: the informer has not started.
	_ = inf.SetTransform(slim)
	return inf, lw
}

// setWatchErrorHandler reports the errors the reflector hands back (a
// watch that ended with an error, a failed LIST) unless lw already did when
// its request failed. client-go's default handler would log them through
// klog at error level, once per retry; requestFailures logs them instead.
func (c *Cache) setWatchErrorHandler(inf cache.SharedIndexInformer, lw *pacedListWatch, resource string) error {
	return inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if lw.reported(err) {
			return
		}
		c.failures.failed(resource, "watch", err)
	})
}

// observe is called by the paced ListerWatchers after every request.
func (c *Cache) observe(resource, verb string, err error) {
	if c.opts.Hooks.Request != nil {
		c.opts.Hooks.Request(resource, verb)
	}
	if err != nil {
		c.failures.failed(resource, verb, err)
	} else {
		c.failures.succeeded(resource, verb)
	}
}

// Start runs the informers until ctx ends. In WatchListAuto, informers
// whose WatchList request was answered but that have not synced after
// FallbackAfter are replaced by ones that LIST and then WATCH, with one
// warning. Call it once.
func (c *Cache) Start(ctx context.Context) {
	set := c.set.Load()
	c.start(ctx, set)
	if c.opts.WatchList != WatchListAuto || !set.watchList {
		c.settled.Store(true)
		return
	}
	c.running.Go(func() { c.fallBackIfStuck(ctx, set) })
}

func (c *Cache) start(ctx context.Context, set *informerSet) {
	ctx, set.stop = context.WithCancel(ctx)
	for _, inf := range set.informers {
		c.running.Go(func() { inf.RunWithContext(ctx) })
	}
}

// fallBackIfStuck settles on set once it synced. When it has not after
// FallbackAfter although a WatchList request was answered (the server or a
// proxy ignores sendInitialEvents), it stops set and starts informers that
// do not use WatchList. While no WatchList request was answered (the API
// server unreachable, or refusing), it keeps waiting: LIST would not help.
func (c *Cache) fallBackIfStuck(ctx context.Context, set *informerSet) {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, c.opts.FallbackAfter)
		synced := cache.WaitForCacheSync(waitCtx.Done(), set.hasSynced)
		cancel()
		if synced || set.hasSynced() {
			c.settled.Store(true)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if set.watchListOpened() {
			break
		}
	}
	var stuck []string
	for resource, inf := range set.informers {
		if !inf.HasSynced() {
			stuck = append(stuck, resource)
		}
	}
	sort.Strings(stuck)
	next, err := c.newInformerSet(false)
	if err != nil { // cannot happen with informers that have not started
		c.logger.Error("Cannot build LIST + WATCH informers; still waiting for WatchList", zap.Error(err))
		c.settled.Store(true)
		return
	}
	c.logger.Warn("The API server did not complete the streamed initial list (WatchList); it or a proxy in front of it ignores sendInitialEvents. Falling back to LIST + WATCH (CATOPS_WATCH_LIST=off skips this wait)",
		zap.Strings("resources", stuck), zap.Duration("after", c.opts.FallbackAfter))
	set.stop()
	c.set.Store(next)
	c.settled.Store(true)
	c.start(ctx, next)
}

func (s *informerSet) watchListOpened() bool {
	for _, lw := range s.lws {
		if lw.watchListOpened.Load() {
			return true
		}
	}
	return false
}

func (s *informerSet) hasSynced() bool {
	for _, inf := range s.informers {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// Shutdown waits for the informers' goroutines after the context given to
// Start has ended, at most until ctx ends; it reports whether they all
// stopped. A reflector backing off after "connection refused" sleeps
// without watching its context (up to 30 s), so a bounded wait is what
// keeps a shutdown quick while the API server is unreachable.
func (c *Cache) Shutdown(ctx context.Context) bool {
	done := make(chan struct{})
	go func() { c.running.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// WaitForSync blocks until both caches hold the initial list, or ctx ends.
// While they have not synced it warns after Options.SyncWarnAfter and then
// once a minute, with the last request error.
func (c *Cache) WaitForSync(ctx context.Context) bool {
	start := time.Now()
	warn := time.NewTimer(c.opts.SyncWarnAfter)
	defer warn.Stop()
	synced := make(chan bool, 1)
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { synced <- cache.WaitForCacheSync(waitCtx.Done(), c.HasSynced) }()
	for {
		select {
		case ok := <-synced:
			return ok
		case <-warn.C:
			fields := []zap.Field{zap.Duration("waited", time.Since(start).Round(time.Second))}
			if resource, verb, n, err := c.failures.lastError(); err != nil {
				fields = append(fields, zap.String("resource", resource), zap.String("verb", verb),
					zap.Int("failedRequests", n), zap.NamedError("lastError", err))
				c.logger.Warn("The pod and node caches have not synced yet; the agent sends nothing until they do (check the API server address and this agent's RBAC)", fields...)
			} else {
				c.logger.Warn("The pod and node caches have not synced yet although no request failed; the agent sends nothing until they do (a proxy holding the initial list? see CATOPS_WATCH_LIST)", fields...)
			}
			warn.Reset(time.Minute)
		}
	}
}

// HasSynced reports whether both caches hold the initial list.
func (c *Cache) HasSynced() bool { return c.settled.Load() && c.set.Load().hasSynced() }

// markPod records that a pod changed. It runs on the informer's goroutine,
// so it only records the key and pokes the joiner.
func (c *Cache) markPod(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		c.logger.Warn("Cannot key pod event", zap.Error(err))
		return
	}
	c.mu.Lock()
	c.dirtyPods[key] = struct{}{}
	c.mu.Unlock()
	c.poke()
}

func (c *Cache) markNode() {
	c.mu.Lock()
	c.dirtyNode = true
	c.mu.Unlock()
	c.poke()
}

func (c *Cache) poke() {
	select {
	case c.notify <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Changed is signalled (coalesced) whenever something was marked.
func (c *Cache) Changed() <-chan struct{} { return c.notify }

// TakeDirty returns the pod keys ("namespace/name") and whether the node
// changed since the last call, and clears the marks.
func (c *Cache) TakeDirty() (podKeys []string, node bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dirtyPods) > 0 {
		podKeys = make([]string, 0, len(c.dirtyPods))
		for k := range c.dirtyPods {
			podKeys = append(podKeys, k)
		}
		clear(c.dirtyPods)
	}
	node, c.dirtyNode = c.dirtyNode, false
	sort.Strings(podKeys)
	return podKeys, node
}

// Pod returns the cached pod for a "namespace/name" key; ok is false once
// the pod is gone. The object is shared with the cache: do not modify it.
func (c *Cache) Pod(key string) (*corev1.Pod, bool) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, false
	}
	p, err := c.set.Load().pods.Pods(ns).Get(name)
	if err != nil {
		return nil, false
	}
	return p, true
}

var everything = labels.Everything()

// Pods returns every cached pod, sorted by namespace and name.
func (c *Cache) Pods() []*corev1.Pod {
	pods, _ := c.set.Load().pods.List(everything)
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	return pods
}

// Node returns the cached Node object of this node, if the API server has it.
func (c *Cache) Node() (*corev1.Node, bool) {
	n, err := c.set.Load().nodes.Get(c.nodeName)
	if err != nil {
		return nil, false
	}
	return n, true
}
