package joiner

import (
	"fmt"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/catops/cli/pkg/wire"
)

func benchSource(n int) *fakeSource {
	src := newFakeSource()
	for i := range n {
		p := testPod(fmt.Sprintf("ns-%d", i%10), fmt.Sprintf("pod-%04d", i), corev1.PodRunning)
		p.Labels["pod-template-hash"] = "5d8f7c9b4"
		src.put(p)
	}
	src.TakeDirty()
	return src
}

// BenchmarkSnapshot measures join + encode of a full snapshot.
func BenchmarkSnapshot(b *testing.B) {
	for _, n := range []int{110, 1000} {
		b.Run(strconv.Itoa(n)+"pods", func(b *testing.B) {
			j := New(benchSource(n), clock())
			b.ReportAllocs()
			var bytes int
			for b.Loop() {
				evs, err := j.Snapshot(wire.ReasonPeriodic)
				if err != nil {
					b.Fatal(err)
				}
				bytes = 0
				for _, e := range evs {
					bytes += len(e.Data)
				}
			}
			b.ReportMetric(float64(bytes), "bytes/snapshot")
		})
	}
}

// BenchmarkChangesNothingChanged measures the steady state: every pod was
// touched (e.g. a status heartbeat) but no wire field changed.
func BenchmarkChangesNothingChanged(b *testing.B) {
	for _, n := range []int{110, 1000} {
		b.Run(strconv.Itoa(n)+"pods", func(b *testing.B) {
			src := benchSource(n)
			j := New(src, clock())
			if _, err := j.Snapshot(wire.ReasonStart); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				for k := range src.pods {
					src.dirty[k] = true
				}
				evs, err := j.Changes()
				if err != nil || len(evs) != 0 {
					b.Fatalf("%d events, err %v", len(evs), err)
				}
			}
		})
	}
}
