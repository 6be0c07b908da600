package kubelet

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/catops/cli/pkg/usage"
)

// summary110 is a summary of a 110-pod node (about 1.4 KiB per pod in this
// fixture; the real node's were 3.6 KiB, see docs/benchmarks.md).
func summary110() (string, map[usage.PodKey]struct{}) {
	want := map[usage.PodKey]struct{}{}
	var pods []string
	for i := range 110 {
		ns, name := fmt.Sprintf("ns-%d", i%10), fmt.Sprintf("pod-%d", i)
		want[usage.PodKey{Namespace: ns, Name: name}] = struct{}{}
		pods = append(pods, summaryPodJSON(ns, name, fmt.Sprint(i), t0, uint64(i)<<20, uint64(i)<<19))
	}
	return summaryJSON(pods...), want
}

// BenchmarkParseSummary110: the stream parser keeping the shipped fields
// of 110 pods.
func BenchmarkParseSummary110(b *testing.B) {
	body, want := summary110()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseSummary(strings.NewReader(body), want); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSummary110Whole: the same answer decoded whole into
// generic values, for scale (what parsing without a stream would hold).
func BenchmarkDecodeSummary110Whole(b *testing.B) {
	body, _ := summary110()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var v map[string]any
		if err := json.NewDecoder(strings.NewReader(body)).Decode(&v); err != nil {
			b.Fatal(err)
		}
	}
}
