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
type Hooks struct {
	// WatchError is called when a watch ends with an error and the
	// reflector restarts it (expired resourceVersion, API server restart…).
	WatchError func(resource string, err error)
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
}

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
	c := &Cache{
		nodeName:  nodeName,
		logger:    logger,
		client:    client,
		opts:      opts,
		dirtyPods: make(map[string]struct{}),
		notify:    make(chan struct{}, 1),
	}
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
	for resource, inf := range set.informers {
		if err := c.setWatchErrorHandler(inf, resource); err != nil {
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
	inf := cache.NewSharedIndexInformerWithOptions(lw, obj, cache.SharedIndexInformerOptions{Indexers: indexers})
	// Cannot fail: the informer has not started.
	_ = inf.SetTransform(slim)
	return inf, lw
}

func (c *Cache) setWatchErrorHandler(inf cache.SharedIndexInformer, resource string) error {
	return inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		if c.opts.Hooks.WatchError != nil {
			c.opts.Hooks.WatchError(resource, err)
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
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

// Shutdown waits for the informers' goroutines after ctx has ended.
func (c *Cache) Shutdown() { c.running.Wait() }

// WaitForSync blocks until both caches hold the initial list, or ctx ends.
func (c *Cache) WaitForSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), c.HasSynced)
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
