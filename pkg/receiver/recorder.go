package receiver

import (
	"sync"

	"github.com/catops/cli/pkg/wire"
)

// Recorder keeps every applied batch, in order. Set Options.OnBatch to its
// Record method; tests read back exactly what the backend applied.
type Recorder struct {
	mu      sync.Mutex
	batches []wire.Batch
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
