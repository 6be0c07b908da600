package joiner

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/catops/cli/pkg/wire"
)

// fakeSource is a PodSource backed by maps, with dirty marks set by hand.
type fakeSource struct {
	pods  map[string]*corev1.Pod
	node  *corev1.Node
	dirty map[string]bool
	nodeD bool
}

func newFakeSource() *fakeSource {
	return &fakeSource{pods: map[string]*corev1.Pod{}, dirty: map[string]bool{}}
}

func (f *fakeSource) put(p *corev1.Pod) {
	f.pods[p.Namespace+"/"+p.Name] = p
	f.dirty[p.Namespace+"/"+p.Name] = true
}

func (f *fakeSource) del(ns, name string) {
	delete(f.pods, ns+"/"+name)
	f.dirty[ns+"/"+name] = true
}

func (f *fakeSource) TakeDirty() ([]string, bool) {
	var keys []string
	for k := range f.dirty {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	n := f.nodeD
	f.dirty, f.nodeD = map[string]bool{}, false
	return keys, n
}

func (f *fakeSource) Pod(key string) (*corev1.Pod, bool) { p, ok := f.pods[key]; return p, ok }

func (f *fakeSource) Pods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range f.pods {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

func (f *fakeSource) Node() (*corev1.Node, bool) { return f.node, f.node != nil }

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func clock() func() time.Time { return func() time.Time { return t0 } }

func testPod(ns, name string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID("uid-" + name), ResourceVersion: "1",
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
			Labels:            map[string]string{"app": name},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs-" + name, Controller: ptr.To(true)},
				{Kind: "ConfigMap", Name: "not-the-controller"}},
		},
		Spec: corev1.PodSpec{
			NodeName: "node-a",
			Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
			}}},
		},
		Status: corev1.PodStatus{
			Phase: phase, PodIP: "10.0.0.7", HostIP: "192.0.2.1", QOSClass: corev1.PodQOSBurstable,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 0,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0.Add(-50 * time.Minute))}}}},
		},
	}
}

func decode(t *testing.T, evs []wire.EncodedEvent) []wire.Event {
	t.Helper()
	out := make([]wire.Event, len(evs))
	for i, e := range evs {
		require.NoError(t, json.Unmarshal(e.Data, &out[i]), string(e.Data))
		require.Equal(t, e.Type, out[i].Type)
	}
	return out
}

func types_(evs []wire.Event) []string {
	var out []string
	for _, e := range evs {
		s := string(e.Type)
		if e.Pod != nil {
			s += ":" + e.Pod.Name
		}
		if e.PodRef != nil {
			s += ":" + e.PodRef.Name
		}
		out = append(out, s)
	}
	return out
}

func TestSnapshotCoversNodeAndEveryPod(t *testing.T) {
	src := newFakeSource()
	src.node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	src.put(testPod("b", "p2", corev1.PodRunning))
	src.put(testPod("a", "p1", corev1.PodPending))
	j := New(src, clock())

	evs := decode(t, must(j.Snapshot(wire.ReasonStart)))
	assert.Equal(t, []string{"snapshot_begin", "node", "pod_upsert:p1", "pod_upsert:p2", "snapshot_end"}, types_(evs))
	assert.Equal(t, &wire.SnapshotMark{ID: 1, Reason: wire.ReasonStart}, evs[0].Snapshot)
	assert.Equal(t, evs[0].Snapshot, evs[4].Snapshot)

	// The snapshot took the pending marks: nothing left to emit.
	assert.Empty(t, must(j.Changes()))

	evs = decode(t, must(j.Snapshot(wire.ReasonPeriodic)))
	assert.Equal(t, uint64(2), evs[0].Snapshot.ID)
	assert.Len(t, evs, 5, "a snapshot always carries everything, changed or not")
}

func TestChangesEmitOnlyRealChanges(t *testing.T) {
	src := newFakeSource()
	p := testPod("ns", "web", corev1.PodPending)
	src.put(p)
	j := New(src, clock())
	assert.Equal(t, []string{"pod_upsert:web"}, types_(decode(t, must(j.Changes()))))

	// A new resourceVersion with nothing on the wire changed: no event.
	p2 := p.DeepCopy()
	p2.ResourceVersion = "2"
	p2.Annotations = map[string]string{"touched": "yes"}
	src.put(p2)
	assert.Empty(t, must(j.Changes()))

	// Phase, readiness, restarts and labels are changes.
	for _, mutate := range []func(*corev1.Pod){
		func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning },
		func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse },
		func(p *corev1.Pod) { p.Status.ContainerStatuses[0].RestartCount++ },
		func(p *corev1.Pod) { p.Labels["version"] = "2" },
	} {
		next := src.pods["ns/web"].DeepCopy()
		mutate(next)
		src.put(next)
		assert.Equal(t, []string{"pod_upsert:web"}, types_(decode(t, must(j.Changes()))))
	}

	src.del("ns", "web")
	evs := decode(t, must(j.Changes()))
	require.Equal(t, []string{"pod_delete:web"}, types_(evs))
	assert.Equal(t, "uid-web", evs[0].PodRef.UID)
	assert.Empty(t, must(j.Changes()), "a deleted pod is forgotten")
}

func TestPodCreatedAndDeletedBetweenFlushesEmitsNothing(t *testing.T) {
	src := newFakeSource()
	j := New(src, clock())
	src.put(testPod("ns", "blink", corev1.PodPending))
	src.del("ns", "blink")
	assert.Empty(t, must(j.Changes()))
}

// TestPodRecordNamesTheWorkload: the record names the Deployment of a
// ReplicaSet's pod and the CronJob of a Job's pod from the pod alone, keeps
// the controller as owner, and names no workload for a static pod's mirror
// or a pod without a controller (pkg/workload has the rules' cases).
func TestPodRecordNamesTheWorkload(t *testing.T) {
	owned := func(apiVersion, kind, name string, labels map[string]string) *corev1.Pod {
		p := testPod("ns", "p", corev1.PodRunning)
		p.Labels = labels
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, Controller: ptr.To(true)}}
		return p
	}
	rec := podRecord(owned("apps/v1", "ReplicaSet", "web-5d8f7c9b4", map[string]string{"pod-template-hash": "5d8f7c9b4"}))
	assert.Equal(t, &wire.Owner{Kind: "ReplicaSet", Name: "web-5d8f7c9b4"}, rec.Owner)
	assert.Equal(t, &wire.Workload{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}, rec.Workload)

	scheduled := t0.Add(-time.Hour).Unix() / 60 // testPod is created an hour before t0
	rec = podRecord(owned("batch/v1", "Job", fmt.Sprintf("backup-%d", scheduled), nil))
	assert.Equal(t, &wire.Workload{APIVersion: "batch/v1", Kind: "CronJob", Name: "backup"}, rec.Workload)

	rec = podRecord(owned("apps/v1", "StatefulSet", "db", nil))
	assert.Equal(t, &wire.Workload{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db"}, rec.Workload)

	rec = podRecord(owned("v1", "Node", "node-a", nil))
	assert.Equal(t, &wire.Owner{Kind: "Node", Name: "node-a"}, rec.Owner)
	assert.Nil(t, rec.Workload, "a static pod has no workload")

	p := testPod("ns", "bare", corev1.PodRunning)
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "not-a-controller"}}
	rec = podRecord(p)
	assert.Nil(t, rec.Owner)
	assert.Nil(t, rec.Workload, "no controller, no workload")
}

// TestPodRecordCarriesPodLevelResources: spec.resources (pod-level
// resources) become the record's requests and limits; a pod without them,
// or with none of the shipped resources, has neither.
func TestPodRecordCarriesPodLevelResources(t *testing.T) {
	p := testPod("ns", "shared", corev1.PodRunning)
	p.Spec.Resources = &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	rec := podRecord(p)
	assert.Equal(t, &wire.Resources{CPUMillicores: ptr.To[int64](1500)}, rec.Requests)
	assert.Equal(t, &wire.Resources{CPUMillicores: ptr.To[int64](2000), MemoryBytes: ptr.To[int64](1 << 30)}, rec.Limits)

	p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}}
	rec = podRecord(p)
	assert.Nil(t, rec.Requests)
	assert.Nil(t, rec.Limits, "no shipped resource at pod level")
	assert.Nil(t, podRecord(testPod("ns", "plain", corev1.PodRunning)).Limits)
}

func TestPodRecordCarriesLifecycleDetail(t *testing.T) {
	p := testPod("ns", "api", corev1.PodRunning)
	p.Status.ContainerStatuses[0].RestartCount = 3
	p.Status.ContainerStatuses[0].Ready = false
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.NewTime(t0.Add(-time.Minute))}}
	p.DeletionTimestamp = ptr.To(metav1.NewTime(t0))

	rec := podRecord(p)
	assert.Equal(t, &wire.Owner{Kind: "ReplicaSet", Name: "rs-api"}, rec.Owner, "the controller owner, not any owner")
	assert.Equal(t, int32(3), rec.RestartCount)
	require.Len(t, rec.Containers, 1)
	c := rec.Containers[0]
	assert.Equal(t, wire.StateWaiting, c.State)
	assert.Equal(t, "CrashLoopBackOff", c.Reason)
	require.NotNil(t, c.LastTermination)
	assert.Equal(t, "OOMKilled", c.LastTermination.Reason)
	assert.Equal(t, int32(137), c.LastTermination.ExitCode)
	assert.Equal(t, int64(250), *c.Requests.CPUMillicores)
	assert.Equal(t, int64(64<<20), *c.Requests.MemoryBytes)
	assert.Nil(t, c.Limits.CPUMillicores, "an unset limit is absent, not zero")
	assert.Equal(t, t0, *rec.DeletingSince)
	assert.True(t, rec.Ready)

	// A container without status yet is "unknown", not running.
	p.Status.ContainerStatuses = nil
	assert.Equal(t, wire.StateUnknown, podRecord(p).Containers[0].State)
}

func TestUsageOnlyForEmittedPodsAndUnknownStaysUnknown(t *testing.T) {
	src := newFakeSource()
	src.put(testPod("ns", "known", corev1.PodRunning))
	j := New(src, clock())
	must(j.Changes())
	src.put(testPod("ns", "new", corev1.PodRunning)) // not emitted yet

	u := &wire.Usage{Available: true, Source: "metrics-api", Pods: []wire.PodUsage{
		{Namespace: "ns", Name: "known", ResourceUsage: wire.ResourceUsage{Timestamp: t0, CPUCores: 0.5, MemoryBytes: 100}},
		{Namespace: "ns", Name: "new", ResourceUsage: wire.ResourceUsage{Timestamp: t0, CPUCores: 0.1, MemoryBytes: 10}},
	}}
	evs := decode(t, must(j.Samples(&wire.HostSample{UptimeSeconds: new(uint64(5))}, u)))
	require.Len(t, evs, 2)
	assert.Equal(t, new(uint64(5)), evs[0].Host.UptimeSeconds)
	require.Len(t, evs[1].Usage.Pods, 1)
	assert.Equal(t, "known", evs[1].Usage.Pods[0].Name)

	// Usage goes away: the event says so, with no readings.
	evs = decode(t, must(j.Samples(nil, &wire.Usage{Available: false, Source: "metrics-api", Reason: "not served"})))
	require.Len(t, evs, 1)
	assert.False(t, evs[0].Usage.Available)
	assert.Empty(t, evs[0].Usage.Pods)
}

func TestNodeEventOnlyWhenRecordChanges(t *testing.T) {
	src := newFakeSource()
	src.node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{"zone": "a"}},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")}}}
	j := New(src, clock())
	src.nodeD = true
	evs := decode(t, must(j.Changes()))
	require.Len(t, evs, 1)
	assert.Equal(t, int64(4000), *evs[0].Node.Capacity.CPUMillicores)
	assert.Equal(t, int64(110), *evs[0].Node.Capacity.Pods)

	src.nodeD = true
	assert.Empty(t, must(j.Changes()), "same record: no event")

	src.node = src.node.DeepCopy()
	src.node.Spec.Unschedulable = true
	src.nodeD = true
	evs = decode(t, must(j.Changes()))
	require.Len(t, evs, 1)
	assert.True(t, evs[0].Node.Unschedulable)
}

func must(evs []wire.EncodedEvent, err error) []wire.EncodedEvent {
	if err != nil {
		panic(err)
	}
	return evs
}

func TestRecreatedPodEmitsDeleteOfTheOldUID(t *testing.T) {
	src := newFakeSource()
	j := New(src, clock())
	p := testPod("ns", "web-0", corev1.PodRunning)
	src.put(p)
	must(j.Changes())
	q := testPod("ns", "web-0", corev1.PodPending)
	q.UID = "uid-web-0-second"
	src.put(q)
	evs := decode(t, must(j.Changes()))
	require.Equal(t, []string{"pod_delete:web-0", "pod_upsert:web-0"}, types_(evs))
	assert.Equal(t, "uid-web-0", evs[0].PodRef.UID)
	assert.Equal(t, "uid-web-0-second", evs[1].Pod.UID)
}

// A record that cannot be encoded costs that record only: the others are
// emitted, and the failed one is not recorded as sent, so it goes out once
// it can be encoded.
func TestEncodeErrorLosesNoOtherChange(t *testing.T) {
	src := newFakeSource()
	j := New(src, clock())
	src.put(testPod("ns", "a", corev1.PodRunning))
	src.put(testPod("ns", "b", corev1.PodRunning))
	must(j.Snapshot(wire.ReasonStart))

	broken := true
	j.marshal = func(v any) ([]byte, error) {
		if p, ok := v.(*wire.Pod); ok && p.Name == "a" && broken {
			return nil, errors.New("boom")
		}
		return json.Marshal(v)
	}
	for _, name := range []string{"a", "b"} {
		p := testPod("ns", name, corev1.PodRunning)
		p.Labels["v"] = "2"
		src.put(p)
	}
	evs, err := j.Changes()
	require.ErrorContains(t, err, "boom")
	assert.Equal(t, []string{"pod_upsert:b"}, types_(decode(t, evs)), "b's change is not lost with a's error")

	broken = false
	src.put(src.pods["ns/a"]) // any later wake-up for a
	assert.Equal(t, []string{"pod_upsert:a"}, types_(decode(t, must(j.Changes()))), "a was not recorded as sent")
}

// Every resource the wire names fills its own field of wire.Resources, and
// every field has its name: the pod cache keeps exactly these.
func TestResourcesCarryTheWireResourceNames(t *testing.T) {
	require.Equal(t, reflect.TypeFor[wire.Resources]().NumField(), len(wire.ResourceNames))
	field := map[int]string{} // field index → the name that fills it
	for _, name := range wire.ResourceNames {
		r := resources(corev1.ResourceList{corev1.ResourceName(name): resource.MustParse("3")})
		require.NotNil(t, r, name)
		v := reflect.ValueOf(*r)
		var set []int
		for i := range v.NumField() {
			if v.Field(i).Interface().(*int64) != nil {
				set = append(set, i)
			}
		}
		require.Len(t, set, 1, "%s fills one field", name)
		assert.NotContains(t, field, set[0], "%s fills a field of its own", name)
		field[set[0]] = name
	}
	assert.Len(t, field, len(wire.ResourceNames))
	assert.Nil(t, resources(corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}), "extended resources are not on the wire")
}
