// Package podcachetest adapts a client-go Clientset (in tests, the fake one)
// to podcache.Client. It is for tests only: linking
// k8s.io/client-go/kubernetes into the agent is what podcache.NewClient
// avoids.
package podcachetest

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Clientset serves pods and nodes from the wrapped clientset; it satisfies
// podcache.Client.
type Clientset struct{ kubernetes.Interface }

// ListWatch implements podcache.Client for "pods" and "nodes". The fake
// clientset does not implement WatchList, so the informers fall back to
// LIST and WATCH with it, as client-go's own informers do.
func (c Clientset) ListWatch(resource string, opts func(*metav1.ListOptions)) cache.ListerWatcher {
	var (
		list func(context.Context, metav1.ListOptions) (runtime.Object, error)
		wtch func(context.Context, metav1.ListOptions) (watch.Interface, error)
	)
	switch resource {
	case "pods":
		pods := c.CoreV1().Pods(metav1.NamespaceAll)
		list = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, o) }
		wtch = pods.Watch
	case "nodes":
		nodes := c.CoreV1().Nodes()
		list = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return nodes.List(ctx, o) }
		wtch = nodes.Watch
	default:
		panic(fmt.Sprintf("podcachetest: unsupported resource %q", resource))
	}
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			opts(&o)
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			opts(&o)
			return wtch(ctx, o)
		},
	}, c.Interface)
}
