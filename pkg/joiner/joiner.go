// Package joiner combines the pod cache, the node object, usage readings and
// host samples into the node's state, and turns what changed into wire
// events for the sender.
//
// The joiner remembers, per pod, a hash of the record it last emitted. The
// sender guarantees that every emitted event is either acknowledged by the
// backend or covered by a later snapshot (it asks for one whenever it drops
// a lifecycle event), so once the queue drains the emitted state is the
// acknowledged state.
package joiner

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/catops/cli/pkg/wire"
)

// PodSource is where the joiner reads pods and the node: the pod cache.
type PodSource interface {
	TakeDirty() (podKeys []string, node bool)
	Pod(key string) (*corev1.Pod, bool)
	Pods() []*corev1.Pod
	Node() (*corev1.Node, bool)
}

type sentPod struct {
	hash uint64
	uid  string
}

// Joiner is used from one goroutine (the agent's loop).
type Joiner struct {
	src  PodSource
	now  func() time.Time
	seed maphash.Seed

	sent       map[string]sentPod // "namespace/name" → last emitted record
	nodeHash   uint64
	snapshotID uint64

	// marshal encodes pod and node records (json.Marshal; tests replace it).
	marshal func(any) ([]byte, error)
}

// New returns a joiner reading from src; now is the clock (time.Now if nil).
func New(src PodSource, now func() time.Time) *Joiner {
	if now == nil {
		now = time.Now
	}
	return &Joiner{
		src:     src,
		now:     now,
		seed:    maphash.MakeSeed(),
		sent:    make(map[string]sentPod),
		marshal: json.Marshal,
	}
}

// Snapshot emits the whole state: snapshot_begin, the node, every pod and
// snapshot_end. What it emits becomes the new base for Changes. A record
// that cannot be encoded is left out and reported in the error, beside the
// events that could be; only a snapshot mark that cannot be encoded fails
// the whole snapshot (nil events).
func (j *Joiner) Snapshot(reason string) ([]wire.EncodedEvent, error) {
	j.src.TakeDirty() // the snapshot covers every pending mark
	now := j.now().UTC()
	j.snapshotID++
	mark := &wire.SnapshotMark{ID: j.snapshotID, Reason: reason}
	pods := j.src.Pods()
	out := make([]wire.EncodedEvent, 0, len(pods)+3)

	// The marks first: if either cannot be encoded, nothing of the joiner's
	// state has changed yet.
	begin, err := wire.Encode(wire.Event{Type: wire.EventSnapshotBegin, Time: now, Snapshot: mark})
	if err != nil {
		return nil, err
	}
	end, err := wire.Encode(wire.Event{Type: wire.EventSnapshotEnd, Time: now, Snapshot: mark})
	if err != nil {
		return nil, err
	}
	out = append(out, begin)
	var errs []error
	j.nodeHash = 0
	if ev, ok, err := j.nodeEvent(now); err != nil {
		errs = append(errs, err)
	} else if ok {
		out = append(out, ev)
	}
	clear(j.sent)
	for _, p := range pods {
		// A pod that cannot be encoded is left out (and so swept from the
		// backend at snapshot_end) and not recorded as sent: its next
		// change or the next snapshot tries again.
		ev, _, err := j.podEvent(now, p, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, ev)
	}
	return append(out, end), errors.Join(errs...)
}

// Changes emits an event for every pod and for the node whose record
// differs from the one last emitted, and a delete for every emitted pod
// that left the cache. A record that cannot be encoded is reported in the
// error and not recorded as emitted (its next change or the next snapshot
// tries again); the events of the others are returned all the same.
func (j *Joiner) Changes() ([]wire.EncodedEvent, error) {
	keys, nodeChanged := j.src.TakeDirty()
	if len(keys) == 0 && !nodeChanged {
		return nil, nil
	}
	now := j.now().UTC()
	var out []wire.EncodedEvent
	var errs []error
	if nodeChanged {
		if ev, ok, err := j.nodeEvent(now); err != nil {
			errs = append(errs, err)
		} else if ok {
			out = append(out, ev)
		}
	}
	for _, key := range keys {
		p, exists := j.src.Pod(key)
		if exists {
			if prev, ok := j.sent[key]; ok && prev.uid != string(p.UID) {
				// Deleted and re-created under the same name (a StatefulSet
				// pod) between two wake-ups: the old pod ended too.
				ev, err := j.deleteEvent(now, key, prev.uid)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				out = append(out, ev)
			}
			ev, changed, err := j.podEvent(now, p, false)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if changed {
				out = append(out, ev)
			}
			continue
		}
		prev, wasSent := j.sent[key]
		if !wasSent {
			continue // created and deleted between two flushes
		}
		ev, err := j.deleteEvent(now, key, prev.uid)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		delete(j.sent, key)
		out = append(out, ev)
	}
	return out, errors.Join(errs...)
}

func (j *Joiner) deleteEvent(now time.Time, key, uid string) (wire.EncodedEvent, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return wire.EncodedEvent{}, fmt.Errorf("split pod key %q: %w", key, err)
	}
	return wire.Encode(wire.Event{Type: wire.EventPodDelete, Time: now,
		PodRef: &wire.PodRef{Namespace: ns, Name: name, UID: uid}})
}

// podEvent encodes p's record and reports whether it differs from the one
// last emitted (always true when force is set). It records it as emitted.
func (j *Joiner) podEvent(now time.Time, p *corev1.Pod, force bool) (wire.EncodedEvent, bool, error) {
	rec, err := j.marshal(podRecord(p))
	if err != nil {
		return wire.EncodedEvent{}, false, fmt.Errorf("encode pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	key := p.Namespace + "/" + p.Name
	h := maphash.Bytes(j.seed, rec)
	if prev, ok := j.sent[key]; ok && prev.hash == h && !force {
		return wire.EncodedEvent{}, false, nil
	}
	j.sent[key] = sentPod{hash: h, uid: string(p.UID)}
	return wire.EncodeWith(wire.EventPodUpsert, now, "pod", rec), true, nil
}

// nodeEvent encodes the node record if it changed; ok is false when it did
// not, or when the API server has no Node of this name.
func (j *Joiner) nodeEvent(now time.Time) (wire.EncodedEvent, bool, error) {
	n, exists := j.src.Node()
	if !exists {
		return wire.EncodedEvent{}, false, nil
	}
	rec, err := j.marshal(nodeRecord(n))
	if err != nil {
		return wire.EncodedEvent{}, false, fmt.Errorf("encode node %s: %w", n.Name, err)
	}
	h := maphash.Bytes(j.seed, rec)
	if h == j.nodeHash {
		return wire.EncodedEvent{}, false, nil
	}
	j.nodeHash = h
	return wire.EncodeWith(wire.EventNode, now, "node", rec), true, nil
}

// Samples emits the host sample and the usage readings of this interval.
// Readings of pods the backend has not been told about yet are left out:
// the next fresh reading carries them.
func (j *Joiner) Samples(host *wire.HostSample, u *wire.Usage) ([]wire.EncodedEvent, error) {
	now := j.now().UTC()
	u = j.emittedOnly(u)
	var out []wire.EncodedEvent
	if host != nil {
		ev, err := wire.Encode(wire.Event{Type: wire.EventHost, Time: now, Host: host})
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	if u != nil {
		ev, err := wire.Encode(wire.Event{Type: wire.EventUsage, Time: now, Usage: u})
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// emittedOnly returns u without the readings of pods that were never
// emitted, or that left the cache since the reading was asked for.
func (j *Joiner) emittedOnly(u *wire.Usage) *wire.Usage {
	if u == nil || !u.Available {
		return u
	}
	kept := *u
	kept.Pods = nil
	for _, pu := range u.Pods {
		key := pu.Namespace + "/" + pu.Name
		if _, ok := j.src.Pod(key); !ok {
			continue // gone since the reading was asked for
		}
		if _, ok := j.sent[key]; ok {
			kept.Pods = append(kept.Pods, pu)
		}
	}
	return &kept
}
