package metricsapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// namespaceList is a PodMetricsList of a namespace holding 1,000 pods over
// many nodes, with the labels metrics-server copies from each pod.
func namespaceList(b *testing.B) []byte {
	list := metricsv1beta1.PodMetricsList{TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: "metrics.k8s.io/v1beta1"}}
	for i := range 1000 {
		list.Items = append(list.Items, metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("web-5d8f7c9b4-%05d", i),
				Labels: map[string]string{"app": "web", "tier": "frontend", "pod-template-hash": "5d8f7c9b4"}},
			Timestamp: metav1.NewTime(t0), Window: metav1.Duration{Duration: 10e9},
			Containers: []metricsv1beta1.ContainerMetrics{
				{Name: "web", Usage: usageList("12345678n", "64Mi")},
				{Name: "sidecar", Usage: usageList("1234567n", "32Mi")},
			},
		})
	}
	body, err := json.Marshal(list)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkNamespaceList: reading the 11 pods of this node out of a
// namespace's list of 1,000, decoded in full (as before) or streamed,
// decoding only the kept items.
func BenchmarkNamespaceList(b *testing.B) {
	body := namespaceList(b)
	ours := map[string]bool{}
	for i := range 11 {
		ours[fmt.Sprintf("web-5d8f7c9b4-%05d", i*90)] = true
	}
	b.Run("decode-all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var list metricsv1beta1.PodMetricsList
			if err := json.Unmarshal(body, &list); err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, pm := range list.Items {
				if ours[pm.Name] {
					n++
				}
			}
			if n != 11 {
				b.Fatalf("kept %d", n)
			}
		}
	})
	b.Run("stream-keep", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			items, err := decodePodMetricsList(bytes.NewReader(body), func(name string) bool { return ours[name] })
			if err != nil || len(items) != 11 {
				b.Fatalf("kept %d, err %v", len(items), err)
			}
		}
	})
}
