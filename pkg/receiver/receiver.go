// Package receiver is the reference receiver of the connector's wire
// protocol: an in-memory backend that accepts delta batches
// (catops.k8s/v1) and legacy snapshots of the node agents, and the
// cluster batches (catops.k8s-cluster/v1) of the cluster reporter, the
// way docs/protocol.md says a backend must, and keeps the resulting
// per-node and per-cluster state. It is the executable specification of
// the backend side, the dev backend of the demo and the backend of the
// integration tests.
//
// A POST to wire.Path or wire.ClusterPath is checked in this order:
// method (405), fault injection (SetDown, SetFailNext), bearer token
// (401), Content-Type and Content-Encoding (415), body size after
// decompression (413), JSON and validation (400), then, for a cluster
// batch, the leader's epoch (409 superseded), then dedupe (200 duplicate)
// and continuity (409). Nothing of a batch is applied unless all of it is
// valid and admitted.
//
// Choices the protocol leaves to a backend, made here:
//   - The format is told by path and Content-Type alone: on wire.Path,
//     wire.ContentTypeDelta is a delta batch and application/json a legacy
//     snapshot; on wire.ClusterPath, wire.ContentTypeCluster is a cluster
//     batch; anything else is 415.
//   - Unknown JSON fields are ignored, so that a newer agent can add
//     fields without breaking an older backend.
//   - The X-Catops-* headers are not used to drop duplicates early: the
//     body is decoded every time and decides. Headers that disagree with
//     the body are logged and counted (Stats.HeaderMismatches).
//   - A legacy snapshot is kept as a separate view of the node
//     (NodeState.Legacy), replaced whole by the next one; it does not touch
//     the delta state, and a delta batch does not touch it.
//   - A cluster's state is keyed by its cluster_id, else its name
//     (ClusterKey); a reporter that starts sending a cluster_id starts a
//     new state (its first batch is a snapshot anyway).
//   - Leader fencing compares a cluster batch's leader epoch with that of
//     the cluster's last applied batch: a lower one is 409 "superseded"
//     while that newer leader had a batch applied within twice its
//     lease_duration_seconds; after that silence it is admitted like any
//     batch (its Lease was probably recreated). A duplicate is not news of
//     a leader.
//   - A cluster keeps at most MaxClusterWarnings warnings, those last seen
//     most recently; snapshots do not remove warnings or the summary.
//   - A node field in a cluster batch is ignored.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/wire"
)

// DefaultMaxBodyBytes is the default limit of a decompressed request body.
const DefaultMaxBodyBytes int64 = 16 << 20

// Options configure a Receiver.
type Options struct {
	// Token is the bearer token agents must present. Required.
	Token string
	// MaxBodyBytes limits the decompressed request body; a larger body is
	// answered 413. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives the receiver's logs; nil means no logs.
	Logger *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnApply, when set, is called with the node's name after a delta batch
	// or legacy snapshot was applied, outside the receiver's lock.
	OnApply func(node string)
	// OnClusterApply, when set, is called with the cluster's key
	// (ClusterKey) after a cluster batch was applied, outside the
	// receiver's lock.
	OnClusterApply func(cluster string)
	// OnBatch, when set, is called with every delta batch that was applied
	// (not duplicates, not refused ones), in order, under the receiver's
	// lock and before Wait sees the change: it must be quick and must not
	// call the receiver. The batch must not be modified. Tests use it to see
	// exactly what arrived.
	OnBatch func(b *wire.Batch)
	// OnClusterBatch is OnBatch for cluster batches, with the time
	// (Options.Now) the receiver applied the batch at. Recorder.RecordCluster
	// is one.
	OnClusterBatch func(b *wire.ClusterBatch, at time.Time)
	// OnHostBatch is OnBatch for host batches.
	OnHostBatch func(b *wire.HostBatch)
	// OnHostApply is OnApply for host batches, with the host's machine ID.
	OnHostApply func(machineID string)
	// EventTypes, when not nil, are the only event types this receiver
	// knows, in both streams; a batch with any other type is answered 400,
	// as a backend one protocol version behind the agent would. Nil means
	// every type of pkg/wire (each stream's own).
	EventTypes []wire.EventType
}

// Stats counts what the receiver did since it was created.
type Stats struct {
	// BatchesApplied counts delta batches applied.
	BatchesApplied uint64 `json:"batches_applied"`
	// LegacySnapshots counts legacy snapshots applied.
	LegacySnapshots uint64 `json:"legacy_snapshots"`
	// Duplicates counts batches answered {"duplicate":true}.
	Duplicates uint64 `json:"duplicates"`
	// Conflicts counts batches answered 409 (resync required, or
	// superseded).
	Conflicts uint64 `json:"conflicts"`
	// Superseded counts the cluster batches among Conflicts that were
	// refused for an older leader epoch.
	Superseded uint64 `json:"superseded"`
	// Rejected counts other 4xx answers on the ingest path (400, 401, 405,
	// 413, 415).
	Rejected uint64 `json:"rejected"`
	// Injected counts answers forced by SetFailNext or SetDown.
	Injected uint64 `json:"injected"`
	// EventsApplied counts events of applied batches.
	EventsApplied uint64 `json:"events_applied"`
	// BytesReceived counts request body bytes as sent on the wire
	// (compressed or not) that the receiver read.
	BytesReceived uint64 `json:"bytes_received"`
	// DecodedBytes counts the same bodies after decompression.
	DecodedBytes uint64 `json:"decoded_bytes"`
	// HeaderMismatches counts delta batches whose X-Catops-* headers
	// disagreed with the body (the body wins; this is an agent bug).
	HeaderMismatches uint64 `json:"header_mismatches"`
}

// Receiver holds the state of every node and cluster that reported. It is
// safe for concurrent use.
type Receiver struct {
	token          string
	maxBody        int64
	log            *zap.Logger
	now            func() time.Time
	onApply        func(node string)
	onClusterApply func(cluster string)
	onBatch        func(b *wire.Batch)
	onClusterBatch func(b *wire.ClusterBatch, at time.Time)
	onHostBatch    func(b *wire.HostBatch)
	onHostApply    func(machineID string)
	known          map[wire.EventType]bool // nil: every wire type

	mu       sync.Mutex
	nodes    map[string]*NodeState
	clusters map[string]*ClusterState
	hosts    map[string]*HostState // by machine ID
	stats    Stats
	changed  chan struct{} // closed and replaced on every applied change

	// Fault injection (SetFailNext, SetDown).
	failNext   int
	failStatus int
	down       bool
}

// New returns a receiver with no state.
func New(opts Options) (*Receiver, error) {
	if opts.Token == "" {
		return nil, errors.New("receiver: Token must be set")
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("receiver: MaxBodyBytes must not be negative, got %d", opts.MaxBodyBytes)
	}
	r := &Receiver{
		token:   opts.Token,
		maxBody: opts.MaxBodyBytes,
		log:     opts.Logger,
		now:     opts.Now,
		onApply: opts.OnApply,
		onBatch: opts.OnBatch,
		nodes:   map[string]*NodeState{},
		changed: make(chan struct{}),

		onClusterApply: opts.OnClusterApply,
		onClusterBatch: opts.OnClusterBatch,
		onHostBatch:    opts.OnHostBatch,
		onHostApply:    opts.OnHostApply,
		clusters:       map[string]*ClusterState{},
		hosts:          map[string]*HostState{},
	}
	if opts.EventTypes != nil {
		r.known = make(map[wire.EventType]bool, len(opts.EventTypes))
		for _, t := range opts.EventTypes {
			r.known[t] = true
		}
	}
	if r.maxBody == 0 {
		r.maxBody = DefaultMaxBodyBytes
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// Node returns a deep copy of the state of the named node.
func (r *Receiver) Node(name string) (NodeState, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.nodes[name]
	if !ok {
		return NodeState{}, false
	}
	return st.clone(), true
}

// Nodes returns the names of the nodes the receiver holds state for,
// sorted.
func (r *Receiver) Nodes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.nodes))
	for name := range r.nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Stats returns the receiver's counters.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Reset forgets the state of every node and cluster (leader epochs
// included), as a restarted backend would; the next batch of each agent
// and cluster reporter is then answered 409 unless it begins a snapshot.
// Stats are kept.
func (r *Receiver) Reset() {
	r.mu.Lock()
	r.nodes = map[string]*NodeState{}
	r.clusters = map[string]*ClusterState{}
	r.hosts = map[string]*HostState{}
	r.notifyLocked()
	r.mu.Unlock()
}

// Wait blocks until cond returns true or ctx ends. cond is evaluated now
// and after every applied change, without the receiver's lock held, so it
// may call Node, Nodes, Cluster, Clusters and Stats.
func (r *Receiver) Wait(ctx context.Context, cond func() bool) error {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for receiver state: %w", ctx.Err())
		}
	}
}

// SetFailNext makes the receiver answer the next n POSTs to wire.Path or
// wire.ClusterPath with status (and a wire.Response error) without looking
// at them. n ≤ 0 cancels an earlier call.
func (r *Receiver) SetFailNext(n int, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext = max(n, 0)
	r.failStatus = status
}

// SetDown makes the receiver answer every POST to wire.Path and
// wire.ClusterPath with 503 while down is true. /healthz and /api/state keep working so a test can still
// look at the state.
func (r *Receiver) SetDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// injectedStatus returns the status forced by fault injection, or 0.
func (r *Receiver) injectedStatus() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	status := 0
	switch {
	case r.down:
		status = http.StatusServiceUnavailable
	case r.failNext > 0:
		r.failNext--
		status = r.failStatus
	}
	if status != 0 {
		r.stats.Injected++
	}
	return status
}

// notifyLocked wakes Wait callers. r.mu must be held.
func (r *Receiver) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// nodeLocked returns the node's state, creating it. r.mu must be held.
func (r *Receiver) nodeLocked(name string) *NodeState {
	st, ok := r.nodes[name]
	if !ok {
		st = newNodeState(name)
		r.nodes[name] = st
	}
	return st
}
