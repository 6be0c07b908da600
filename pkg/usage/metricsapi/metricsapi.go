// Package metricsapi is the usage.Source that reads metrics.k8s.io/v1beta1
// (metrics-server) through the API server, and the REST client it reads it
// with.
package metricsapi

import (
	"cmp"
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

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/wire"
)

// DefaultConcurrency is how many Metrics API requests a Source has in
// flight at most, unless WithConcurrency says otherwise.
const DefaultConcurrency = 4

// Source reads usage from metrics.k8s.io/v1beta1 (metrics-server).
//
// Each Fetch makes 1 + N requests, N being the number of namespaces that
// have pods on this node: it GETs this node's NodeMetrics first (so a Metrics
// API that is not served costs one request, not 1 + N), then per namespace
// either GETs the PodMetrics of its only pod on this node or LISTs the
// namespace's PodMetrics and keeps this node's pods. PodMetrics cannot be
// selected by node, so it never lists PodMetrics cluster-wide. See "Metrics
// API cost" in docs/architecture.md.
type Source struct {
	client      Client
	node        string
	concurrency int
	logger      *zap.Logger
}

// Option configures a Source.
type Option func(*Source)

// WithConcurrency bounds the requests in flight during one Fetch (default
// DefaultConcurrency; values below 1 keep the default).
func WithConcurrency(n int) Option {
	return func(m *Source) {
		if n >= 1 {
			m.concurrency = n
		}
	}
}

// WithLogger sets the logger for failures of single namespaces, which do not
// fail the Fetch (default: no logging).
func WithLogger(l *zap.Logger) Option {
	return func(m *Source) {
		if l != nil {
			m.logger = l
		}
	}
}

// New returns a Source that reads the usage of node nodeName and of its
// pods through client.
func New(client Client, nodeName string, opts ...Option) *Source {
	m := &Source{
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

// Name implements usage.Source: usage.MetricsAPIName.
func (m *Source) Name() string { return usage.MetricsAPIName }

// UseNode does nothing: the Metrics API is asked for the node by name.
func (m *Source) UseNode(usage.NodeFunc) {}

// Fetch implements usage.Source. pods are the pods on this node; pods of
// other nodes that a namespace LIST returns are dropped. A pod without
// PodMetrics (not scraped yet) is absent from the Reading, and so is a node
// or pod whose metrics cannot be vouched for (see nodeUsage and podUsage),
// which is listed in Reading.Rejected instead. Fetch fails only when the
// node's reading cannot be had, the Metrics API stops being served
// mid-fetch (usage.IsUnavailable tells these apart from other failures) or
// ctx ends before every namespace has been read; any other
// failure of one namespace is logged, counted in Reading.Errors, and the
// other namespaces are kept. Reading.Requests is set on failure too.
func (m *Source) Fetch(ctx context.Context, pods []usage.PodKey) (usage.Reading, error) {
	r := usage.Reading{Requests: 1}
	nm, err := m.client.NodeMetrics(ctx, m.node)
	if err != nil {
		return r, fmt.Errorf("get node metrics for node %q: %w", m.node, err)
	}
	if node, rj := nodeUsage(nm); rj != nil {
		r.Rejected = append(r.Rejected, *rj)
	} else {
		r.Node = &node
	}

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
		got      = make(map[usage.PodKey]wire.ResourceUsage, len(pods))
		rejected []usage.Rejection
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
			items, rj, err := m.fetchNamespace(gctx, ns, names)
			if err != nil {
				if usage.IsUnavailable(err) || gctx.Err() != nil {
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
			rejected = append(rejected, rj...)
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
	r.Rejected = append(r.Rejected, rejected...)
	return r, nil
}

// fetchNamespace reads the PodMetrics of the named pods of namespace ns with
// one request: a GET for a single pod, a LIST of the namespace otherwise.
// It returns the readings it can vouch for and the rejections of the others.
func (m *Source) fetchNamespace(ctx context.Context, ns string, names map[string]struct{}) (map[usage.PodKey]wire.ResourceUsage, []usage.Rejection, error) {
	if len(names) == 1 {
		var name string
		for n := range names {
			name = n
		}
		pm, err := m.client.PodMetrics(ctx, ns, name)
		switch {
		case err == nil:
			out, rejected := podReadings(ns, []metricsv1beta1.PodMetrics{*pm}, name)
			return out, rejected, nil
		case apierrors.IsNotFound(err) && !usage.IsNotServed(err):
			// metrics-server has not scraped this pod (yet): no reading.
			return nil, nil, nil
		default:
			return nil, nil, fmt.Errorf("get pod metrics %s/%s: %w", ns, name, err)
		}
	}
	items, err := m.client.PodMetricsList(ctx, ns, func(name string) bool {
		_, ok := names[name] // else a pod of another node
		return ok
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list pod metrics in namespace %q: %w", ns, err)
	}
	out, rejected := podReadings(ns, items, "")
	return out, rejected, nil
}

// podReadings turns the PodMetrics of namespace ns into readings keyed by
// pod name (or by name, when set: the pod a GET asked for). A pod listed
// twice is rejected once, with neither item used: which one is true
// cannot be told.
func podReadings(ns string, items []metricsv1beta1.PodMetrics, name string) (map[usage.PodKey]wire.ResourceUsage, []usage.Rejection) {
	count := make(map[string]int, len(items))
	for i := range items {
		count[cmp.Or(name, items[i].Name)]++
	}
	out := make(map[usage.PodKey]wire.ResourceUsage, len(items))
	var rejected []usage.Rejection
	for i := range items {
		k := usage.PodKey{Namespace: ns, Name: cmp.Or(name, items[i].Name)}
		if n := count[k.Name]; n > 1 {
			rejected = append(rejected, usage.Rejection{Pod: k, Reason: usage.RejectDuplicate, Detail: fmt.Sprintf("the pod is listed %d times", n)})
			count[k.Name] = 0 // one rejection per pod
			continue
		} else if n == 0 {
			continue // a duplicate already rejected
		}
		if u, rj := podUsage(k, &items[i]); rj != nil {
			rejected = append(rejected, *rj)
		} else {
			out[k] = u
		}
	}
	return out, rejected
}

func groupByNamespace(pods []usage.PodKey) map[string]map[string]struct{} {
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

// nodeUsage is the node's reading from its NodeMetrics: usage cpu in
// cores and memory working set in bytes, over Window up to Timestamp. It is
// rejected (nil reading) without a timestamp, without a cpu or memory
// figure, or with one that is negative or out of range.
func nodeUsage(nm *metricsv1beta1.NodeMetrics) (wire.ResourceUsage, *usage.Rejection) {
	cpu, mem, reason, detail := sumUsage([]ownedUsage{{"the node", nm.Usage}})
	return vouched(usage.PodKey{}, nm.Timestamp.Time, nm.Window.Duration, cpu, mem, reason, detail)
}

// podUsage is the pod's reading from its PodMetrics: the sum of its
// containers' usage (cpu cores, memory working set bytes) over Window up
// to Timestamp. A pod without containers (metrics-server has none of a
// crash-looping pod's), with a container named twice, or with a container
// missing its cpu or its memory has no total the API vouches for: its
// reading is rejected, as are a zero timestamp, a window of zero and a
// negative or out-of-range figure (checked per container, so that one
// container's negative figure cannot hide in the sum).
func podUsage(k usage.PodKey, pm *metricsv1beta1.PodMetrics) (wire.ResourceUsage, *usage.Rejection) {
	if len(pm.Containers) == 0 {
		rj := usage.Rejection{Pod: k, Reason: usage.RejectMissing, Detail: "no container metrics"}
		return wire.ResourceUsage{}, &rj
	}
	parts := make([]ownedUsage, 0, len(pm.Containers))
	seen := make(map[string]struct{}, len(pm.Containers))
	for _, c := range pm.Containers {
		if _, dup := seen[c.Name]; dup {
			rj := usage.Rejection{Pod: k, Reason: usage.RejectDuplicate, Detail: fmt.Sprintf("container %q is listed twice", c.Name)}
			return wire.ResourceUsage{}, &rj
		}
		seen[c.Name] = struct{}{}
		parts = append(parts, ownedUsage{fmt.Sprintf("container %q", c.Name), c.Usage})
	}
	cpu, mem, reason, detail := sumUsage(parts)
	u, rj := vouched(k, pm.Timestamp.Time, pm.Window.Duration, cpu, mem, reason, detail)
	if rj != nil {
		return u, rj
	}
	// Each figure passed sumUsage's checks: present, not negative, at
	// most usage.MaxValue.
	u.Containers = make([]wire.ContainerUsage, 0, len(pm.Containers))
	for _, c := range pm.Containers {
		cpu, mem := c.Usage[corev1.ResourceCPU], c.Usage[corev1.ResourceMemory]
		u.Containers = append(u.Containers, wire.ContainerUsage{Name: c.Name, CPUCores: cpu.AsApproximateFloat64(), MemoryBytes: mem.Value()})
	}
	slices.SortFunc(u.Containers, func(a, b wire.ContainerUsage) int { return cmp.Compare(a.Name, b.Name) })
	return u, nil
}

// maxQuantity is usage.MaxValue as a Quantity.
var maxQuantity = *resource.NewQuantity(usage.MaxValue, resource.DecimalSI)

// ownedUsage is the usage of one owner (a container, the node), named for
// the log line.
type ownedUsage struct {
	owner string
	usage corev1.ResourceList
}

// sumUsage adds up the cpu and memory of parts, each of which must hold
// both, neither negative nor above usage.MaxValue; reason says why not.
// Quantities are exact (metrics-server sends nanocores and bytes); the sum
// is taken exactly too, and only the total becomes a float.
func sumUsage(parts []ownedUsage) (cpu, mem resource.Quantity, reason, detail string) {
	for _, p := range parts {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			q, ok := p.usage[name]
			switch {
			case !ok:
				return cpu, mem, usage.RejectMissing, fmt.Sprintf("%s has no %s figure", p.owner, name)
			case q.Sign() < 0:
				return cpu, mem, usage.RejectNegative, fmt.Sprintf("%s: %s %s", p.owner, name, q.String())
			case q.Cmp(maxQuantity) > 0:
				return cpu, mem, usage.RejectOutOfRange, fmt.Sprintf("%s: %s %s", p.owner, name, q.String())
			}
			if name == corev1.ResourceCPU {
				cpu.Add(q)
			} else {
				mem.Add(q)
			}
		}
	}
	if cpu.Cmp(maxQuantity) > 0 || mem.Cmp(maxQuantity) > 0 {
		return cpu, mem, usage.RejectOutOfRange, fmt.Sprintf("cpu %s, memory %s", cpu.String(), mem.String())
	}
	return cpu, mem, "", ""
}

// vouched is the reading of k (the zero PodKey: the node) from its
// figures, or its rejection: for reason, or for what usage.Impossible finds
// wrong.
func vouched(k usage.PodKey, ts time.Time, window time.Duration, cpu, mem resource.Quantity, reason, detail string) (wire.ResourceUsage, *usage.Rejection) {
	var u wire.ResourceUsage
	if reason == "" {
		u = wire.ResourceUsage{
			Timestamp:     ts.UTC(),
			WindowSeconds: window.Seconds(),
			CPUCores:      cpu.AsApproximateFloat64(),
			MemoryBytes:   mem.Value(), // at most usage.MaxValue: exact
		}
		reason, detail = usage.Impossible(u)
	}
	if reason != "" {
		rj := usage.Rejection{Pod: k, Reason: reason, Detail: detail}
		return wire.ResourceUsage{}, &rj
	}
	return u, nil
}
