package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsclientset "k8s.io/metrics/pkg/client/clientset/versioned"
)

// BaselineUserAgent is the user agent of the polling baseline's requests.
const BaselineUserAgent = "polling-baseline"

// Baseline is the polling collector of one node.
type Baseline struct {
	Node     string
	Interval time.Duration

	kube    kubernetes.Interface
	metrics metricsclientset.Interface

	requests atomic.Int64
	errors   atomic.Int64
	polls    atomic.Int64

	// OnSeen, when set, is called with "namespace/name" and the time of the
	// poll in which a pod was first seen on the node or first missing from
	// it (seen=false), for the latency comparison.
	OnSeen func(key string, seen bool, at time.Time)
	known  map[string]bool
}

// NewBaseline builds a baseline for node on restCfg. The client is not
// rate-limited: the polling connector's requests are what is measured.
func NewBaseline(restCfg *rest.Config, node string, interval time.Duration) (*Baseline, error) {
	kube, mc, err := clients(restCfg, BaselineUserAgent)
	if err != nil {
		return nil, err
	}
	return &Baseline{Node: node, Interval: interval, kube: kube, metrics: mc}, nil
}

// Requests is how many API requests the baseline made; Errors how many of
// them failed.
func (b *Baseline) Requests() int64 { return b.requests.Load() }

// Errors is how many of the baseline's requests failed.
func (b *Baseline) Errors() int64 { return b.errors.Load() }

// Polls is how many polls the baseline completed. A poll that takes longer
// than the interval delays the next one (as in a polling connector).
func (b *Baseline) Polls() int64 { return b.polls.Load() }

// Run polls every interval until ctx ends.
func (b *Baseline) Run(ctx context.Context) {
	t := time.NewTicker(b.Interval)
	defer t.Stop()
	for {
		b.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// count counts a request and, unless it failed because the run ended, its
// error.
func (b *Baseline) count(ctx context.Context, err error) bool {
	b.requests.Add(1)
	if err != nil {
		if ctx.Err() == nil {
			b.errors.Add(1)
		}
		return false
	}
	return true
}

// poll is one interval of the polling design.
func (b *Baseline) poll(ctx context.Context) {
	at := time.Now()
	// The node's pods, straight from etcd (no resourceVersion).
	pods, err := b.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + b.Node})
	if !b.count(ctx, err) {
		return
	}
	if b.OnSeen != nil {
		b.diff(pods.Items, at)
	}
	// One Metrics API GET per pod.
	for i := range pods.Items {
		p := &pods.Items[i]
		_, err := b.metrics.MetricsV1beta1().PodMetricses(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		b.count(ctx, err)
		if ctx.Err() != nil {
			return
		}
	}
	// Cluster-wide lists, from every node.
	_, err = b.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	b.count(ctx, err)
	_, err = b.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	b.count(ctx, err)
	if ctx.Err() == nil {
		b.polls.Add(1)
	}
}

func (b *Baseline) diff(items []corev1.Pod, at time.Time) {
	now := make(map[string]bool, len(items))
	for i := range items {
		now[items[i].Namespace+"/"+items[i].Name] = true
	}
	if b.known == nil {
		b.known = now
		return
	}
	for k := range now {
		if !b.known[k] {
			b.OnSeen(k, true, at)
		}
	}
	for k := range b.known {
		if !now[k] {
			b.OnSeen(k, false, at)
		}
	}
	b.known = now
}

// RunBaselines runs one baseline per node until ctx ends and returns the
// total of their requests, errors and polls.
func RunBaselines(ctx context.Context, bs []*Baseline) (requests, errs, polls int64) {
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Go(func() { b.Run(ctx) })
	}
	wg.Wait()
	for _, b := range bs {
		requests += b.Requests()
		errs += b.Errors()
		polls += b.Polls()
	}
	return requests, errs, polls
}
