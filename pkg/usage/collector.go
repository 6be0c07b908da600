package usage

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/catops/cli/pkg/wire"
)

// Defaults of CollectorOptions.
const (
	DefaultInterval   = 30 * time.Second
	DefaultMaxBackoff = 5 * time.Minute
	DefaultJitter     = 0.1
)

// Log messages a user may search for.
const (
	// msgNotAccessible keeps the exact text operators already grep for
	// (the existing guide's troubleshooting entry), hence the lower case.
	msgNotAccessible = "metrics API is not accessible (is metrics-server installed?)"
	msgFailed        = "Reading usage failed; usage is unknown until a retry succeeds"
	msgAccessible    = "Metrics API is accessible again"
	msgKubeletBack   = "Kubelet is accessible again"
	msgNotScraped    = "Metrics API has no reading for this node yet; usage is unknown until metrics-server scrapes it"
	// msgRejected is warned once per reason; every rejection is logged at
	// debug as msgRejectedAgain and counted.
	msgRejected      = "Usage reading rejected: the source gave a figure that cannot be true, so this usage is unknown instead (catops_usage_readings_rejected_total counts every rejection; later ones for this reason are logged at debug)"
	msgRejectedAgain = "Usage reading rejected; it is unknown instead"
)

// CollectorOptions configures a Collector. Zero fields take the defaults.
type CollectorOptions struct {
	// Interval is how often Collect is called (default DefaultInterval).
	// It is the default Timeout and the first retry delay.
	Interval time.Duration
	// Timeout bounds one Fetch (default Interval).
	Timeout time.Duration
	// Backoff paces the retries while the source fails. Zero Duration
	// means {Duration: Interval, Factor: 2, Jitter: DefaultJitter, Cap:
	// DefaultMaxBackoff}. Steps below 1 mean no limit on the growth.
	Backoff wait.Backoff
}

// Stats are running totals for metrics (Prometheus counters and a gauge).
// Stats is safe to call from any goroutine.
type Stats struct {
	// Requests is how many API server requests the source made.
	Requests uint64
	// KubeletRequests is how many requests it made to the node's kubelet.
	KubeletRequests uint64
	// Errors counts failed fetches plus requests that failed within a
	// fetch that still succeeded (one namespace).
	Errors uint64
	// Skipped counts Collect calls inside the backoff window, which made
	// no request.
	Skipped uint64
	// Available is whether the last Collect returned usage.
	Available bool
	// Rejected counts, by reason (every reason, zero included), the
	// readings a source gave that could not be true and were made unknown
	// instead (see Rejection).
	Rejected map[string]uint64
}

// Collector turns a Source's readings into wire.Usage events: only fresh
// readings while the source answers, "unavailable" with backoff while it
// does not. It lets through only readings that can be true of this node
// (see Collect). Collect must be called from one goroutine.
type Collector struct {
	src     Source
	logger  *zap.Logger
	timeout time.Duration
	backoff wait.Backoff // the initial backoff, restored on recovery
	node    atomic.Pointer[NodeFunc]

	// Touched only by Collect.
	bo        wait.Backoff
	down      bool
	downSince time.Time
	reason    string
	nextTry   time.Time
	lastNode  time.Time            // Timestamp of the last node reading sent
	lastPods  map[PodKey]time.Time // Timestamp of the last reading sent per pod
	warned    map[string]bool      // rejection reasons already warned about

	rejected  map[string]*atomic.Uint64 // by reason; the keys are fixed at NewCollector
	requests  atomic.Uint64
	kubelet   atomic.Uint64
	errors    atomic.Uint64
	skipped   atomic.Uint64
	available atomic.Bool
}

// NewCollector returns a Collector reading src.
func NewCollector(src Source, logger *zap.Logger, opts CollectorOptions) *Collector {
	if logger == nil {
		logger = zap.NewNop()
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = opts.Interval
	}
	bo := opts.Backoff
	if bo.Duration <= 0 {
		bo = wait.Backoff{Duration: opts.Interval, Factor: 2, Jitter: DefaultJitter, Cap: DefaultMaxBackoff}
	}
	if bo.Steps < 1 {
		bo.Steps = math.MaxInt32
	}
	rejected := make(map[string]*atomic.Uint64, len(rejectReasons))
	for _, r := range rejectReasons {
		rejected[r] = new(atomic.Uint64)
	}
	return &Collector{
		src:      src,
		logger:   logger.With(zap.String("source", src.Name())),
		timeout:  opts.Timeout,
		backoff:  bo,
		bo:       bo,
		lastPods: make(map[PodKey]time.Time),
		warned:   make(map[string]bool),
		rejected: rejected,
	}
}

// Stats returns the running totals.
func (c *Collector) Stats() Stats {
	rejected := make(map[string]uint64, len(c.rejected))
	for r, n := range c.rejected {
		rejected[r] = n.Load()
	}
	return Stats{
		Requests:        c.requests.Load(),
		KubeletRequests: c.kubelet.Load(),
		Errors:          c.errors.Load(),
		Skipped:         c.skipped.Load(),
		Available:       c.available.Load(),
		Rejected:        rejected,
	}
}

// UseNode sets where the cached Node object comes from: its cpu and memory
// capacity bound every reading (see Collect), and a source that derives
// its endpoint from it (the kubelet source) gets it too. Call it before
// the first Collect.
func (c *Collector) UseNode(f NodeFunc) {
	c.node.Store(&f)
	c.src.UseNode(f)
}

// Collect reads usage for this node and pods (the pods on this node) at
// now, which also drives the backoff. It returns the usage event and, when
// the source read them this time (Reading.NodeStats), the node's own
// figures of the kubelet summary, passed on as the source gave them (nil
// when the fetch failed, was skipped in the backoff, or carried none).
//
// While the source answers, the event is Available and carries only fresh
// readings: the node's if its Timestamp is newer than the last one sent,
// and each pod's whose Timestamp changed since its last one sent (the
// Metrics API serves the same scrape until metrics-server's next one).
//
// A reading that cannot be true is not sent: its usage is unknown (absent),
// never zero. The sources reject what they can tell from their answer
// alone (see Rejection); Collect then rejects a reading without a
// timestamp, stamped later than now plus the timeout and MaxClockSkew,
// with a window of zero or less, a figure not finite, negative or above
// MaxValue, more CPU cores than the Node's status.capacity (else
// allocatable) cpu (with CPUCapacitySlack), or more memory than its
// memory; without a cached Node there is no capacity bound. Every
// rejection is counted by reason (Stats.Rejected) and logged at debug;
// the first one of each reason is warned about, except a missing figure,
// which is normal for a starting or crash-looping pod.
//
// When the source fails, the event is Available: false with a Reason; the
// first such event tells the receiver to forget the usage it holds, and
// every later one says the same until the source answers again. The
// failure is logged once (Warn), and the source is asked again only after
// an exponential backoff with jitter; calls before then make no request.
// On recovery the fact is logged once (Info) and the next event carries all
// current readings.
func (c *Collector) Collect(ctx context.Context, pods []PodKey, now time.Time) (wire.Usage, *NodeStats) {
	if c.down && now.Before(c.nextTry) {
		c.skipped.Add(1)
		return c.unavailable(c.reason), nil
	}

	fctx, cancel := context.WithTimeout(ctx, c.timeout)
	r, err := c.src.Fetch(fctx, pods)
	cancel()
	c.requests.Add(uint64(max(r.Requests, 0)))
	c.kubelet.Add(uint64(max(r.KubeletRequests, 0)))
	c.errors.Add(uint64(max(r.Errors, 0)))

	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: not the source's fault, keep the state.
			return c.unavailable("collection cancelled"), nil
		}
		c.errors.Add(1)
		c.fail(err, now)
		return c.unavailable(c.reason), nil
	}

	if c.down {
		msg := msgAccessible
		if c.src.Name() == KubeletName {
			msg = msgKubeletBack
		}
		c.logger.Info(msg, zap.Duration("downFor", now.Sub(c.downSince)))
		c.down = false
		c.reason = ""
		c.bo = c.backoff
		// The receiver forgot everything: send all current readings.
		c.lastNode = time.Time{}
		clear(c.lastPods)
	}
	c.available.Store(true)
	c.vet(&r, now)
	return c.fresh(r, pods), r.NodeStats
}

// vet takes out of r the readings that cannot be true of this node at
// now, then counts and logs them with those the source rejected.
func (c *Collector) vet(r *Reading, now time.Time) {
	var node *corev1.Node
	if f := c.node.Load(); f != nil {
		node, _ = (*f)()
	}
	limit := nodeCapacity(node)
	latest := now.Add(c.timeout + MaxClockSkew)
	if r.Node != nil {
		if reason, detail := vouch(*r.Node, limit, latest); reason != "" {
			r.Rejected = append(r.Rejected, rejection(PodKey{}, reason, detail))
			r.Node = nil
		}
	}
	for k, u := range r.Pods {
		if reason, detail := vouch(u, limit, latest); reason != "" {
			r.Rejected = append(r.Rejected, rejection(k, reason, detail))
			delete(r.Pods, k)
			continue
		}
		// A container's figure the pod's passed can still be impossible
		// (beside a pod_* series): that container is left out, and counted.
		kept := u.Containers[:0:0]
		for _, c := range u.Containers {
			cu := wire.ResourceUsage{Timestamp: u.Timestamp, WindowSeconds: u.WindowSeconds, CPUCores: c.CPUCores, MemoryBytes: c.MemoryBytes}
			if reason, detail := vouch(cu, limit, latest); reason != "" {
				r.Rejected = append(r.Rejected, rejection(k, reason, fmt.Sprintf("container %q: %s", c.Name, detail)))
				continue
			}
			kept = append(kept, c)
		}
		if len(kept) != len(u.Containers) {
			u.Containers = kept
			r.Pods[k] = u
		}
	}
	for _, rj := range r.Rejected {
		c.reject(rj)
	}
}

// reject counts and logs one rejection.
func (c *Collector) reject(rj Rejection) {
	if n := c.rejected[rj.Reason]; n != nil {
		n.Add(1)
	}
	fields := []zap.Field{zap.String("reason", rj.Reason), zap.String("detail", rj.Detail)}
	if rj.Pod == (PodKey{}) {
		fields = append(fields, zap.String("reading", "node"))
	} else {
		fields = append(fields, zap.String("reading", "pod"),
			zap.String("namespace", rj.Pod.Namespace), zap.String("pod", rj.Pod.Name))
	}
	if rj.Reason != RejectMissing && !c.warned[rj.Reason] {
		c.warned[rj.Reason] = true
		c.logger.Warn(msgRejected, fields...)
		return
	}
	c.logger.Debug(msgRejectedAgain, fields...)
}

// fail moves to (or stays in) the unavailable state and schedules a retry.
func (c *Collector) fail(err error, now time.Time) {
	delay := c.bo.Step()
	c.nextTry = now.Add(delay)
	c.reason = Reason(err)
	c.available.Store(false)
	if c.down {
		c.logger.Debug("Usage source still failing", zap.String("reason", c.reason),
			zap.Duration("retryIn", delay), zap.NamedError("err", err))
		return
	}
	c.down = true
	c.downSince = now
	if c.reason == reasonNotScraped {
		// Served, just not scraped yet: normal for a fresh node or a
		// restarted metrics-server, so not a warning.
		c.logger.Info(msgNotScraped, zap.Duration("retryIn", delay))
		return
	}
	msg := msgFailed
	if IsUnavailable(err) {
		msg = msgNotAccessible
	}
	c.logger.Warn(msg, zap.String("reason", c.reason),
		zap.Duration("retryIn", delay), zap.NamedError("err", err))
}

func (c *Collector) unavailable(reason string) wire.Usage {
	return wire.Usage{Available: false, Source: c.src.Name(), Reason: reason}
}

// fresh builds an Available event from r with only the readings not sent
// yet, and forgets pods that are no longer on this node.
func (c *Collector) fresh(r Reading, pods []PodKey) wire.Usage {
	u := wire.Usage{Available: true, Source: c.src.Name()}
	if r.Node != nil && r.Node.Timestamp.After(c.lastNode) {
		n := *r.Node
		roundReading(&n)
		u.Node = &n
		c.lastNode = n.Timestamp
	}

	current := make(map[PodKey]struct{}, len(pods))
	for _, k := range pods {
		current[k] = struct{}{}
	}
	for k := range c.lastPods {
		if _, ok := current[k]; !ok {
			delete(c.lastPods, k)
		}
	}
	for k := range current {
		ru, ok := r.Pods[k]
		if !ok {
			continue // no reading: the receiver keeps what it has
		}
		if last, sent := c.lastPods[k]; sent && ru.Timestamp.Equal(last) {
			continue // the same scrape as last time
		}
		c.lastPods[k] = ru.Timestamp
		roundReading(&ru)
		u.Pods = append(u.Pods, wire.PodUsage{Namespace: k.Namespace, Name: k.Name, ResourceUsage: ru})
	}
	slices.SortFunc(u.Pods, func(a, b wire.PodUsage) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return u
}
