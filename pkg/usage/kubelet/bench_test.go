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

// cadvisor110 is a /metrics/cadvisor answer of 110 CPU-limited containers,
// each with otherLines series of other families (label sets as the kubelet
// writes them) around its three CFS series.
func cadvisor110(otherLines int) string {
	var b strings.Builder
	labels := func(i int) string {
		return fmt.Sprintf(`container="app",id="/kubepods/burstable/pod%08d-0000-0000-0000-000000000000/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",image="registry.example/team/app:v1.2.3",name="0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",namespace="ns-%d",pod="pod-%d"`, i, i%10, i)
	}
	for j := range otherLines {
		fmt.Fprintf(&b, "# HELP container_other_%d test\n# TYPE container_other_%d gauge\n", j, j)
		for i := range 110 {
			fmt.Fprintf(&b, "container_other_%d{%s} %d 1772366400000\n", j, labels(i), i*j)
		}
	}
	for _, fam := range []string{seriesCFSPeriods, seriesCFSThrottledPeriods, seriesCFSThrottledSeconds} {
		fmt.Fprintf(&b, "# HELP %s test\n# TYPE %s counter\n", fam, fam)
		for i := range 110 {
			fmt.Fprintf(&b, "%s{%s} %d 1772366400000\n", fam, labels(i), 1000+i)
		}
	}
	return b.String()
}

// BenchmarkCadvisor110: /metrics/cadvisor of 110 containers (about 27 KiB
// each, 80 series of other families apiece) filtered to its CFS series as
// it streams, then parsed.
func BenchmarkCadvisor110(b *testing.B) {
	body := cadvisor110(80)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		text, err := filterCFS(strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := parseCFS(text, t0); err != nil {
			b.Fatal(err)
		}
	}
}
