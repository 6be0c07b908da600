package cluster

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/catops/cli/pkg/wire"
)

// The kinds the stream keeps besides the workloads.
const (
	kindPendingPod = "PendingPod"
	kindNamespace  = "Namespace"
	kindNode       = "Node"
	kindWarning    = "Warning"
)

// workloadKinds are the workload kinds, in the order a snapshot sends them.
var workloadKinds = []string{KindDeployment, KindStatefulSet, KindDaemonSet, KindJob, KindCronJob}

// stateKinds are the kinds whose records a snapshot confirms, in order.
var stateKinds = append([]string{kindNamespace}, append(slices.Clone(workloadKinds), kindPendingPod)...)

// stream turns the informers' notifications into the cluster stream's
// events: a record when it changed (by the hash of its encoding), a delete
// when a record that was sent is gone, snapshots, and, every interval, the
// warnings whose count grew and the node summary when it changed. Its
// methods are called from the informers' goroutines and the term's loop.
type stream struct {
	mu      sync.Mutex
	now     func() time.Time
	stores  map[string]cache.Store
	out     func(...wire.EncodedEvent) // set before start
	started bool
	// sent holds, per kind and object key, the hash of the record last
	// sent.
	sent       map[string]map[string]uint64
	snapshotID uint64
	version    string
	nodesDirty bool
	summary    uint64 // hash of the last summary sent
	warnings   *warningMemory
}

func newStream(maxWarnings int, now func() time.Time) *stream {
	return &stream{now: now, stores: map[string]cache.Store{}, sent: map[string]map[string]uint64{}, warnings: newWarningMemory(maxWarnings)}
}

func (s *stream) watch(kind string, st cache.Store) { s.stores[kind] = st }

func (s *stream) handler(kind string) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.changed(kind, obj) },
		UpdateFunc: func(_, obj any) { s.changed(kind, obj) },
		DeleteFunc: func(obj any) { s.deleted(kind, obj) },
	}
}

// start sends the first snapshot; from then on, changes are sent.
func (s *stream) start(version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version = version
	var ws []*wire.Warning
	for _, obj := range s.stores[kindWarning].List() {
		if e, ok := obj.(*corev1.Event); ok && e.Type == corev1.EventTypeWarning {
			ws = append(ws, WarningRecord(e))
		}
	}
	slices.SortFunc(ws, func(a, b *wire.Warning) int { return a.LastSeen.Compare(b.LastSeen) })
	for _, w := range ws { // the newest are kept
		s.warnings.observe(w)
	}
	s.started = true
	s.snapshotLocked(wire.ReasonStart)
}

func (s *stream) changed(kind string, obj any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return // the first snapshot sends it
	}
	switch kind {
	case kindNode:
		s.nodesDirty = true
	case kindWarning:
		if e, ok := obj.(*corev1.Event); ok && e.Type == corev1.EventTypeWarning {
			if s.warnings.observe(WarningRecord(e)) == firstSeen {
				s.sendWarning(s.warnings.take(string(e.UID)))
			}
		}
	default:
		r, ok := s.record(obj)
		switch {
		case ok && s.sent[kind][r.key] != r.hash:
			s.remember(kind, r.key, r.hash)
			s.out(r.event(s.now()))
		case !ok && kind == kindPendingPod:
			// Bound to a node: a watch without the field selector (or one
			// that saw the binding before the pod left it) says modified.
			s.forget(kind, obj)
		}
	}
}

func (s *stream) deleted(kind string, obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return
	}
	switch kind {
	case kindNode:
		s.nodesDirty = true
		return
	case kindWarning:
		return // remembered until newer ones push it out
	}
	s.forget(kind, obj)
}

// forget sends the delete of obj's record, if it was sent.
func (s *stream) forget(kind string, obj any) {
	m, err := apimeta.Accessor(obj)
	if err != nil {
		return
	}
	key := key(m)
	if _, sent := s.sent[kind][key]; !sent {
		return
	}
	delete(s.sent[kind], key)
	s.out(s.deleteEvent(kind, m))
}

func key(m metav1.Object) string {
	if m.GetNamespace() == "" {
		return m.GetName()
	}
	return m.GetNamespace() + "/" + m.GetName()
}

func (s *stream) remember(kind, key string, h uint64) {
	if s.sent[kind] == nil {
		s.sent[kind] = map[string]uint64{}
	}
	s.sent[kind][key] = h
}

// recorded is an object's record, encoded, with its key and hash; its
// event is built only when it is sent.
type recorded struct {
	typ     wire.EventType
	field   string
	payload []byte
	key     string
	hash    uint64
}

func (r recorded) event(at time.Time) wire.EncodedEvent {
	return wire.EncodeWith(r.typ, at, r.field, r.payload)
}

// record is obj's record; false for an object the stream does not send.
func (s *stream) record(obj any) (recorded, bool) {
	var rec any
	var typ wire.EventType
	var field string
	switch o := obj.(type) {
	case *appsv1.Deployment:
		rec, typ, field = DeploymentRecord(o), wire.EventWorkload, "workload"
	case *appsv1.StatefulSet:
		rec, typ, field = StatefulSetRecord(o), wire.EventWorkload, "workload"
	case *appsv1.DaemonSet:
		rec, typ, field = DaemonSetRecord(o), wire.EventWorkload, "workload"
	case *batchv1.Job:
		rec, typ, field = JobRecord(o), wire.EventWorkload, "workload"
	case *batchv1.CronJob:
		rec, typ, field = CronJobRecord(o), wire.EventWorkload, "workload"
	case *corev1.Pod:
		if o.Spec.NodeName != "" {
			return recorded{}, false // bound: no longer the stream's
		}
		rec, typ, field = PendingPodRecord(o), wire.EventPendingPod, "pending_pod"
	case *corev1.Namespace:
		rec, typ, field = NamespaceRecord(o), wire.EventNamespace, "namespace"
	default:
		return recorded{}, false
	}
	payload, err := json.Marshal(rec)
	if err != nil {
		return recorded{}, false
	}
	m, err := apimeta.Accessor(obj)
	if err != nil {
		return recorded{}, false
	}
	return recorded{typ: typ, field: field, payload: payload, key: key(m), hash: hashOf(payload)}, true
}

func (s *stream) deleteEvent(kind string, m metav1.Object) wire.EncodedEvent {
	at := s.now()
	switch kind {
	case kindPendingPod:
		return mustEncode(wire.ClusterEvent{Type: wire.EventPendingPodDelete, Time: at, PodRef: &wire.PodRef{Namespace: m.GetNamespace(), Name: m.GetName(), UID: string(m.GetUID())}})
	case kindNamespace:
		return mustEncode(wire.ClusterEvent{Type: wire.EventNamespaceDelete, Time: at, NamespaceRef: &wire.ObjectRef{APIVersion: "v1", Kind: kindNamespace, Name: m.GetName(), UID: string(m.GetUID())}})
	}
	apiVersion := "apps/v1"
	if kind == KindJob || kind == KindCronJob {
		apiVersion = "batch/v1"
	}
	return mustEncode(wire.ClusterEvent{Type: wire.EventWorkloadDelete, Time: at, WorkloadRef: &wire.ObjectRef{APIVersion: apiVersion, Kind: kind,
		Namespace: m.GetNamespace(), Name: m.GetName(), UID: string(m.GetUID())}})
}

// mustEncode encodes an event of the stream's own making, which always
// encodes.
func mustEncode(e wire.ClusterEvent) wire.EncodedEvent {
	b, err := json.Marshal(e)
	if err != nil {
		panic("cluster: encode " + string(e.Type) + ": " + err.Error())
	}
	return wire.EncodedEvent{Type: e.Type, Data: b}
}

// tick sends the warnings whose count grew since they were sent, and the
// node summary if it changed.
func (s *stream) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return
	}
	for _, w := range s.warnings.takeDirty() {
		s.sendWarning(w)
	}
	if s.nodesDirty {
		s.sendSummary()
	}
}

func (s *stream) sendWarning(w *wire.Warning) { s.out(s.warningEvent(w)) }

func (s *stream) warningEvent(w *wire.Warning) wire.EncodedEvent {
	return mustEncode(wire.ClusterEvent{Type: wire.EventWarning, Time: s.now(), Warning: w})
}

// sendSummary sends the cluster summary when it changed.
func (s *stream) sendSummary() {
	if ev, ok := s.summaryEvent(false); ok {
		s.out(ev)
	}
}

// summaryEvent is the cluster summary's event, when it changed or always.
func (s *stream) summaryEvent(always bool) (wire.EncodedEvent, bool) {
	s.nodesDirty = false
	var nodes []*corev1.Node
	for _, obj := range s.stores[kindNode].List() {
		if n, ok := obj.(*corev1.Node); ok {
			nodes = append(nodes, n)
		}
	}
	sum := &wire.ClusterSummary{KubernetesVersion: s.version, Nodes: NodeSummary(nodes)}
	payload, err := json.Marshal(sum)
	if err != nil {
		return wire.EncodedEvent{}, false
	}
	h := hashOf(payload)
	if h == s.summary && !always {
		return wire.EncodedEvent{}, false
	}
	s.summary = h
	return wire.EncodeWith(wire.EventClusterSummary, s.now(), "cluster", payload), true
}

// snapshot sends a full snapshot.
func (s *stream) snapshot(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		s.snapshotLocked(reason)
	}
}

// snapshotLocked queues a full snapshot in one Enqueue, so that the
// sender's queue takes or refuses it whole.
func (s *stream) snapshotLocked(reason string) {
	s.snapshotID++
	mark := &wire.SnapshotMark{ID: s.snapshotID, Reason: reason}
	evs := []wire.EncodedEvent{mustEncode(wire.ClusterEvent{Type: wire.EventSnapshotBegin, Time: s.now(), Snapshot: mark})}
	s.sent = map[string]map[string]uint64{}
	for _, kind := range stateKinds {
		objs := s.stores[kind].List()
		slices.SortFunc(objs, compareKeys)
		for _, obj := range objs {
			if r, ok := s.record(obj); ok {
				s.remember(kind, r.key, r.hash)
				evs = append(evs, r.event(s.now()))
			}
		}
	}
	if ev, ok := s.summaryEvent(true); ok {
		evs = append(evs, ev)
	}
	for _, w := range s.warnings.all() {
		evs = append(evs, s.warningEvent(w))
	}
	evs = append(evs, mustEncode(wire.ClusterEvent{Type: wire.EventSnapshotEnd, Time: s.now(), Snapshot: mark}))
	s.out(evs...)
}

func compareKeys(a, b any) int {
	ma, errA := apimeta.Accessor(a)
	mb, errB := apimeta.Accessor(b)
	if errA != nil || errB != nil {
		return 0
	}
	return strings.Compare(key(ma), key(mb))
}

// clusterID is the UID of the kube-system namespace: what names a cluster
// for as long as it exists.
func (s *stream) clusterID() string {
	obj, ok, err := s.stores[kindNamespace].GetByKey(metav1.NamespaceSystem)
	if err != nil || !ok {
		return ""
	}
	if ns, ok := obj.(*corev1.Namespace); ok {
		return string(ns.UID)
	}
	return ""
}

func (s *stream) count(kinds ...string) int {
	n := 0
	for _, k := range kinds {
		n += len(s.stores[k].ListKeys())
	}
	return n
}
