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

// Cache is the node-scoped pod and node cache.
type Cache struct {
	nodeName string
	logger   *zap.Logger

	informers []cache.SharedIndexInformer // pods, node
	running   sync.WaitGroup
	pods      listersv1.PodLister
	nodes     listersv1.NodeLister
	synced    []cache.InformerSynced

	mu        sync.Mutex
	dirtyPods map[string]struct{}
	dirtyNode bool
	notify    chan struct{}
}

// New builds the informers; nothing talks to the API server until Start.
func New(client Client, nodeName string, logger *zap.Logger, hooks Hooks) (*Cache, error) {
	c := &Cache{
		nodeName:  nodeName,
		logger:    logger,
		dirtyPods: make(map[string]struct{}),
		notify:    make(chan struct{}, 1),
	}
	podInf := newInformer(client, "pods", &corev1.Pod{}, "spec.nodeName", nodeName,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	nodeInf := newInformer(client, "nodes", &corev1.Node{}, "metadata.name", nodeName, nil)
	c.informers = []cache.SharedIndexInformer{podInf, nodeInf}
	c.pods, c.nodes = listersv1.NewPodLister(podInf.GetIndexer()), listersv1.NewNodeLister(nodeInf.GetIndexer())
	c.synced = []cache.InformerSynced{podInf.HasSynced, nodeInf.HasSynced}

	for resource, inf := range map[string]cache.SharedIndexInformer{"pods": podInf, "nodes": nodeInf} {
		if err := c.setWatchErrorHandler(inf, resource, hooks); err != nil {
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
	return c, nil
}

// newInformer returns an informer of resource whose every request selects
// field=value, slimming each object as it enters the store. Resync is 0: a
// periodic resync replays the cache to the handlers, which would only mark
// every pod dirty to find nothing changed. The watch already delivers every
// change.
func newInformer(client Client, resource string, obj runtime.Object, field, value string, indexers cache.Indexers) cache.SharedIndexInformer {
	lw := client.ListWatch(resource, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector(field, value).String()
	})
	inf := cache.NewSharedIndexInformerWithOptions(lw, obj, cache.SharedIndexInformerOptions{Indexers: indexers})
	// Cannot fail: the informer has not started.
	_ = inf.SetTransform(slim)
	return inf
}

func (c *Cache) setWatchErrorHandler(inf cache.SharedIndexInformer, resource string, hooks Hooks) error {
	return inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		if hooks.WatchError != nil {
			hooks.WatchError(resource, err)
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
}

// Start runs the informers until ctx ends. Call it once.
func (c *Cache) Start(ctx context.Context) {
	for _, inf := range c.informers {
		c.running.Go(func() { inf.RunWithContext(ctx) })
	}
}

// Shutdown waits for the informers' goroutines after ctx has ended.
func (c *Cache) Shutdown() { c.running.Wait() }

// WaitForSync blocks until both caches hold the initial list, or ctx ends.
func (c *Cache) WaitForSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), c.synced...)
}

// HasSynced reports whether both caches hold the initial list.
func (c *Cache) HasSynced() bool {
	for _, s := range c.synced {
		if !s() {
			return false
		}
	}
	return true
}

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
	p, err := c.pods.Pods(ns).Get(name)
	if err != nil {
		return nil, false
	}
	return p, true
}

var everything = labels.Everything()

// Pods returns every cached pod, sorted by namespace and name.
func (c *Cache) Pods() []*corev1.Pod {
	pods, _ := c.pods.List(everything)
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
	n, err := c.nodes.Get(c.nodeName)
	if err != nil {
		return nil, false
	}
	return n, true
}
