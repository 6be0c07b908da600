package sender

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/catops/cli/pkg/wire"
)

// BenchmarkEncodeBatch measures building and gzip-compressing one batch of
// n pod upserts, and reports the compression.
func BenchmarkEncodeBatch(b *testing.B) {
	for _, n := range []int{110, 1000} {
		b.Run(strconv.Itoa(n)+"pods", func(b *testing.B) {
			s := New(Options{Session: "bench", Node: "node-a"})
			bt := &batch{seq: 1}
			raw := 0
			for i := range n {
				ev, err := wire.Encode(wire.Event{Type: wire.EventPodUpsert, Time: time.Unix(0, 0).UTC(), Pod: &wire.Pod{
					PodRef: wire.PodRef{Namespace: fmt.Sprintf("ns-%d", i%10), Name: fmt.Sprintf("web-5d8f7c9b4-%05d", i), UID: fmt.Sprintf("6f1c2d3e-0000-4000-8000-%012d", i)},
					Labels: map[string]string{"app": "web", "pod-template-hash": "5d8f7c9b4"}, Owner: &wire.Owner{Kind: "ReplicaSet", Name: "web-5d8f7c9b4"},
					Phase: "Running", Ready: true, PodIP: fmt.Sprintf("10.244.%d.%d", i/250, i%250), HostIP: "192.0.2.10", QOSClass: "Burstable",
					Containers: []wire.Container{{Name: "web", Image: "nginx:1.27", Ready: true, State: wire.StateRunning}},
				}})
				if err != nil {
					b.Fatal(err)
				}
				raw += len(ev.Data)
				bt.items = append(bt.items, item{ev: ev})
			}
			b.ReportAllocs()
			var wireBytes int
			for b.Loop() {
				body, err := s.encode(bt)
				if err != nil {
					b.Fatal(err)
				}
				wireBytes = len(body)
			}
			b.ReportMetric(float64(raw), "raw-bytes")
			b.ReportMetric(float64(wireBytes), "gzip-bytes")
		})
	}
}
