package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsclientset "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/catops/cli/test/rig"
)

// Populator creates the simulated cluster's objects with an admin client
// that is not rate-limited.
type Populator struct {
	C       *rig.Cluster
	Kube    kubernetes.Interface
	Metrics metricsclientset.Interface
	// Workers is how many create requests run at once.
	Workers int
}

// NewPopulator builds the admin clients for c.
func NewPopulator(c *rig.Cluster) (*Populator, error) {
	kube, mc, err := clients(c.RESTConfig(), "bench-populator")
	if err != nil {
		return nil, err
	}
	return &Populator{C: c, Kube: kube, Metrics: mc, Workers: 8}, nil
}

// clients builds Kubernetes and Metrics API clients on a copy of restCfg
// with the user agent ua and no client-side rate limit.
func clients(restCfg *rest.Config, ua string) (kubernetes.Interface, metricsclientset.Interface, error) {
	cfg := rest.CopyConfig(restCfg)
	cfg.UserAgent = ua
	cfg.QPS, cfg.Burst = -1, 0
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	mc, err := metricsclientset.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return kube, mc, nil
}

// Nodes creates kwok nodes name(0)..name(n-1) with room for maxPods pods.
func (p *Populator) Nodes(ctx context.Context, n int, maxPods int, name func(int) string) error {
	return p.parallel(ctx, n, func(i int) error {
		_, err := p.C.CreateNode(ctx, rig.NodeOptions{Name: name(i), Pods: fmt.Sprint(maxPods), CPU: "32", Memory: "256Gi"})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

// Namespaces creates namespaces name(0)..name(n-1).
func (p *Populator) Namespaces(ctx context.Context, n int, name func(int) string) error {
	return p.parallel(ctx, n, func(i int) error {
		_, err := p.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name(i)}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

// PodSpec is where CreatePods puts pod i.
type PodSpec func(i int) (namespace, name, node string)

// Pods creates n pods placed by spec.
func (p *Populator) Pods(ctx context.Context, n int, spec PodSpec) error {
	return p.parallel(ctx, n, func(i int) error {
		ns, name, node := spec(i)
		_, err := p.Kube.CoreV1().Pods(ns).Create(ctx, TestPod(ns, name, node), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

// DeletePods deletes n pods placed by spec, at once (grace period 0).
func (p *Populator) DeletePods(ctx context.Context, n int, spec PodSpec) error {
	return p.parallel(ctx, n, func(i int) error {
		ns, name, _ := spec(i)
		err := p.Kube.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// TestPod is a pod shaped like a typical workload: a Deployment's labels,
// two containers with requests, a port and an env var, and web with a CPU
// and memory limit (so its CPU is throttled: a CFS quota).
func TestPod(ns, name, node string) *corev1.Pod {
	q := resource.MustParse
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
			"app": "web", "tier": "frontend", "pod-template-hash": "5d8f7c9b4"}},
		Spec: corev1.PodSpec{
			NodeName: node,
			Containers: []corev1.Container{{
				Name: "web", Image: "registry.example/web:1.27",
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("128Mi")},
				},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "production"}},
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			}, {
				Name: "sidecar", Image: "registry.example/proxy:1.31",
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: q("50m"), corev1.ResourceMemory: q("32Mi")},
				},
			}},
		},
	}
}

// WaitRunning waits until at least want pods of the cluster are Running.
func (p *Populator) WaitRunning(ctx context.Context, want int, timeout time.Duration) error {
	return poll(ctx, timeout, fmt.Sprintf("%d pods Running", want), func() (bool, error) {
		list, err := p.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running", ResourceVersion: "0"})
		if err != nil {
			return false, err
		}
		return len(list.Items) >= want, nil
	})
}

// WaitPodMetrics waits until the Metrics API has readings for at least want
// pods.
func (p *Populator) WaitPodMetrics(ctx context.Context, want int, timeout time.Duration) error {
	return poll(ctx, timeout, fmt.Sprintf("Metrics API readings of %d pods", want), func() (bool, error) {
		// An error is expected until the APIService is available; poll
		// keeps the last one for its timeout message.
		list, err := p.Metrics.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) >= want, err
	})
}

func poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("waiting for %s: timed out after %s (last error: %w)", what, timeout, last)
			}
			return fmt.Errorf("waiting for %s: timed out after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// parallel runs fn(0..n-1) on Workers goroutines and returns the first error.
func (p *Populator) parallel(ctx context.Context, n int, fn func(i int) error) error {
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range max(p.Workers, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
