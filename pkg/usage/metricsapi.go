package usage

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/catops/cli/pkg/wire"
)

// MetricsAPIName is the Name of the Metrics API source, reported as
// wire.Usage.Source.
const MetricsAPIName = "metrics-api"

// DefaultConcurrency is how many Metrics API requests a MetricsAPI source
// has in flight at most, unless WithConcurrency says otherwise.
const DefaultConcurrency = 4

// MetricsAPI reads usage from metrics.k8s.io/v1beta1 (metrics-server).
//
// Each Fetch makes 1 + N requests, N being the number of namespaces that
// have pods on this node: it GETs this node's NodeMetrics first (so a Metrics
// API that is not served costs one request, not 1 + N), then per namespace
// either GETs the PodMetrics of its only pod on this node or LISTs the
// namespace's PodMetrics and keeps this node's pods. PodMetrics cannot be
// selected by node, so it never lists PodMetrics cluster-wide. See COST.md.
type MetricsAPI struct {
	client      MetricsClient
	node        string
	concurrency int
	logger      *zap.Logger
}

// MetricsAPIOption configures a MetricsAPI.
type MetricsAPIOption func(*MetricsAPI)

// WithConcurrency bounds the requests in flight during one Fetch (default
// DefaultConcurrency; values below 1 keep the default).
func WithConcurrency(n int) MetricsAPIOption {
	return func(m *MetricsAPI) {
		if n >= 1 {
			m.concurrency = n
		}
	}
}

// WithLogger sets the logger for failures of single namespaces, which do not
// fail the Fetch (default: no logging).
func WithLogger(l *zap.Logger) MetricsAPIOption {
	return func(m *MetricsAPI) {
		if l != nil {
			m.logger = l
		}
	}
}

// NewMetricsAPI returns a Source that reads the usage of node nodeName and
// of its pods through client.
func NewMetricsAPI(client MetricsClient, nodeName string, opts ...MetricsAPIOption) *MetricsAPI {
	m := &MetricsAPI{
		client:      client,
		node:        nodeName,
		concurrency: DefaultConcurrency,
		logger:      zap.NewNop(),
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Name implements Source.
func (m *MetricsAPI) Name() string { return MetricsAPIName }

// Fetch implements Source. pods are the pods on this node; pods of other
// nodes that a namespace LIST returns are dropped. A pod without PodMetrics
// (not scraped yet) is absent from the Reading. Fetch fails only when the
// node's reading cannot be had, the Metrics API stops being served
// mid-fetch (IsUnavailable tells these apart from other failures) or ctx
// ends before every namespace has been read; any other
// failure of one namespace is logged, counted in Reading.Errors, and the
// other namespaces are kept. Reading.Requests is set on failure too.
func (m *MetricsAPI) Fetch(ctx context.Context, pods []PodKey) (Reading, error) {
	r := Reading{Requests: 1}
	nm, err := m.client.NodeMetrics(ctx, m.node)
	if err != nil {
		return r, fmt.Errorf("get node metrics for node %q: %w", m.node, err)
	}
	node := nodeUsage(nm)
	r.Node = &node

	byNS := groupByNamespace(pods)
	namespaces := make([]string, 0, len(byNS))
	for ns := range byNS {
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)

	var (
		requests atomic.Int64
		errs     atomic.Int64
		mu       sync.Mutex
		got      = make(map[PodKey]wire.ResourceUsage, len(pods))
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.concurrency)
	for _, ns := range namespaces {
		names := byNS[ns]
		g.Go(func() error {
			if gctx.Err() != nil {
				// Another namespace found the API gone, or the caller's
				// deadline passed: do not ask again. Returning the context's
				// error (errgroup keeps the first one) means a deadline that
				// strikes between two namespaces fails the whole reading
				// instead of passing off a partial one as complete.
				return gctx.Err()
			}
			requests.Add(1)
			items, err := m.fetchNamespace(gctx, ns, names)
			if err != nil {
				if IsUnavailable(err) || gctx.Err() != nil {
					// The API is gone, or the fetch was cancelled or timed
					// out: the whole reading fails.
					return err
				}
				errs.Add(1)
				m.logger.Warn("Reading pod metrics of a namespace failed; its pods have no usage this time",
					zap.String("node", m.node), zap.String("namespace", ns),
					zap.Int("pods", len(names)), zap.NamedError("err", err))
				return nil
			}
			mu.Lock()
			for k, u := range items {
				got[k] = u
			}
			mu.Unlock()
			return nil
		})
	}
	err = g.Wait()
	r.Requests += int(requests.Load())
	r.Errors = int(errs.Load())
	if err != nil {
		return r, err
	}
	r.Pods = got
	return r, nil
}

// fetchNamespace reads the PodMetrics of the named pods of namespace ns with
// one request: a GET for a single pod, a LIST of the namespace otherwise.
func (m *MetricsAPI) fetchNamespace(ctx context.Context, ns string, names map[string]struct{}) (map[PodKey]wire.ResourceUsage, error) {
	out := make(map[PodKey]wire.ResourceUsage, len(names))
	if len(names) == 1 {
		var name string
		for n := range names {
			name = n
		}
		pm, err := m.client.PodMetrics(ctx, ns, name)
		switch {
		case err == nil:
			out[PodKey{Namespace: ns, Name: name}] = podUsage(pm)
			return out, nil
		case apierrors.IsNotFound(err) && !isNotServed(err):
			// metrics-server has not scraped this pod (yet): no reading.
			return out, nil
		default:
			return nil, fmt.Errorf("get pod metrics %s/%s: %w", ns, name, err)
		}
	}
	items, err := m.client.PodMetricsList(ctx, ns, func(name string) bool {
		_, ok := names[name] // else a pod of another node
		return ok
	})
	if err != nil {
		return nil, fmt.Errorf("list pod metrics in namespace %q: %w", ns, err)
	}
	for i := range items {
		out[PodKey{Namespace: ns, Name: items[i].Name}] = podUsage(&items[i])
	}
	return out, nil
}

func groupByNamespace(pods []PodKey) map[string]map[string]struct{} {
	byNS := make(map[string]map[string]struct{})
	for _, p := range pods {
		names := byNS[p.Namespace]
		if names == nil {
			names = make(map[string]struct{})
			byNS[p.Namespace] = names
		}
		names[p.Name] = struct{}{}
	}
	return byNS
}

func nodeUsage(nm *metricsv1beta1.NodeMetrics) wire.ResourceUsage {
	var cpu, mem resource.Quantity
	addUsage(&cpu, &mem, nm.Usage)
	return resourceUsage(nm.Timestamp.Time, nm.Window.Duration, cpu, mem)
}

// podUsage sums the usage of the pod's containers.
func podUsage(pm *metricsv1beta1.PodMetrics) wire.ResourceUsage {
	var cpu, mem resource.Quantity
	for _, c := range pm.Containers {
		addUsage(&cpu, &mem, c.Usage)
	}
	return resourceUsage(pm.Timestamp.Time, pm.Window.Duration, cpu, mem)
}

func addUsage(cpu, mem *resource.Quantity, l corev1.ResourceList) {
	if q, ok := l[corev1.ResourceCPU]; ok {
		cpu.Add(q)
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		mem.Add(q)
	}
}

func resourceUsage(ts time.Time, window time.Duration, cpu, mem resource.Quantity) wire.ResourceUsage {
	return wire.ResourceUsage{
		Timestamp:     ts.UTC(),
		WindowSeconds: window.Seconds(),
		// Quantities are exact (metrics-server sends nanocores); the float
		// is only for the wire.
		CPUCores:    cpu.AsApproximateFloat64(),
		MemoryBytes: mem.Value(),
	}
}
