package receiver

import (
	"slices"
	"sync"
	"time"

	"github.com/catops/cli/pkg/wire"
)

// Recorder keeps every applied batch, in order. Set Options.OnBatch to its
// Record method, and Options.OnClusterBatch to its RecordCluster method;
// tests read back exactly what the backend applied.
type Recorder struct {
	mu       sync.Mutex
	batches  []wire.Batch
	clusters []ClusterRecord
}

// ClusterRecord is an applied cluster batch and when the receiver applied
// it.
type ClusterRecord struct {
	// At is the receiver's time (Options.Now) when it applied the batch.
	At    time.Time
	Batch wire.ClusterBatch
}

// ClusterTerm is one leader session of a cluster as the receiver applied
// it: the session, its leader's lease term, and when its first and last
// applied batches were applied. Two terms overlap when each has a batch
// applied between the other's First and Last.
type ClusterTerm struct {
	// Cluster is the cluster's key (ClusterKey).
	Cluster string
	Session string
	// Leader is the lease term of the session's first applied batch.
	Leader      wire.Leader
	First, Last time.Time
	// Batches counts the session's applied batches.
	Batches int
}

// Record stores b; it is an Options.OnBatch.
func (r *Recorder) Record(b *wire.Batch) {
	r.mu.Lock()
	r.batches = append(r.batches, *b)
	r.mu.Unlock()
}

// Upserts returns, in order, every applied pod_upsert record of the pod.
func (r *Recorder) Upserts(namespace, name string) []wire.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []wire.Pod
	for _, b := range r.batches {
		for _, e := range b.Events {
			if e.Type == wire.EventPodUpsert && e.Pod.Namespace == namespace && e.Pod.Name == name {
				out = append(out, *e.Pod)
			}
		}
	}
	return out
}

// UpsertedPods returns the "namespace/name" of every pod ever upserted.
func (r *Recorder) UpsertedPods() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]bool{}
	for _, b := range r.batches {
		for _, e := range b.Events {
			if e.Type == wire.EventPodUpsert {
				out[PodKey(e.Pod.Namespace, e.Pod.Name)] = true
			}
		}
	}
	return out
}

// Batches returns a copy of every applied batch, in the order applied.
func (r *Recorder) Batches() []wire.Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.Batch(nil), r.batches...)
}

// RecordCluster stores b, applied at at; it is an Options.OnClusterBatch.
func (r *Recorder) RecordCluster(b *wire.ClusterBatch, at time.Time) {
	r.mu.Lock()
	r.clusters = append(r.clusters, ClusterRecord{At: at, Batch: *b})
	r.mu.Unlock()
}

// ClusterBatches returns a copy of every applied cluster batch with the
// time it was applied at, in the order applied.
func (r *Recorder) ClusterBatches() []ClusterRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ClusterRecord(nil), r.clusters...)
}

// ClusterEvents returns, in order, every event of the applied cluster
// batches, of the given types (all types when none is given).
func (r *Recorder) ClusterEvents(types ...wire.EventType) []wire.ClusterEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []wire.ClusterEvent
	for _, c := range r.clusters {
		for _, e := range c.Batch.Events {
			if len(types) == 0 || slices.Contains(types, e.Type) {
				out = append(out, e)
			}
		}
	}
	return out
}

// ClusterTerms returns one ClusterTerm per cluster and session of the
// applied cluster batches, ordered by their first applied batch.
func (r *Recorder) ClusterTerms() []ClusterTerm {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ClusterTerm
	index := map[[2]string]int{}
	for _, c := range r.clusters {
		id := [2]string{ClusterKey(c.Batch.ClusterID, c.Batch.Cluster), c.Batch.Session}
		i, ok := index[id]
		if !ok {
			i = len(out)
			index[id] = i
			out = append(out, ClusterTerm{Cluster: id[0], Session: id[1], Leader: *c.Batch.Leader, First: c.At})
		}
		out[i].Last = c.At
		out[i].Batches++
	}
	return out
}
