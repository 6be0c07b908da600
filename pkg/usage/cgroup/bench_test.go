package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// BenchmarkAnnotate110 is one interval's throttling read of a 110-pod
// node (two containers each, one CPU-limited: 110 cpu.stat files) in a
// tree of the real node's layout (v1, cgroupfs), once the cgroups are
// found. The files are on the test's temporary directory, not cgroupfs:
// BenchmarkReadCPUStatCgroupfs is the kernel's side of one read.
func BenchmarkAnnotate110(b *testing.B) {
	n := newNode(&testing.T{}, layouts[0])
	var pods []*corev1.Pod
	for i := range 110 {
		uid := fmt.Sprintf("0b5c1f3e-2d4a-4d7e-9a8b-%012d", i)
		p := pod("shop", fmt.Sprintf("web-%d", i), uid, corev1.PodQOSBurstable,
			ctr{name: "web", cpu: "500m", id: id(2 * i)}, ctr{name: "sidecar", id: id(2*i + 1)})
		n.cfs(uid, corev1.PodQOSBurstable, id(2*i), 1000, 100, 10)
		pods = append(pods, p)
	}
	th := New(n.mount, nil)
	th.Annotate(event(pods...), pods, t0)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(10 * time.Second)
		th.Annotate(event(pods...), pods, now)
	}
	_ = os.RemoveAll(n.mount)
}

// BenchmarkReadCPUStatCgroupfs reads this machine's root cpu.stat on
// cgroupfs (v1 cpu hierarchy or v2 tree), where the kernel writes the
// counters at each read.
func BenchmarkReadCPUStatCgroupfs(b *testing.B) {
	root, version, err := hierarchy("/sys/fs/cgroup")
	if err != nil {
		b.Skip("no cgroup cpu hierarchy on this machine")
	}
	buf := make([]byte, maxCPUStat)
	if _, err := readCPUStat(filepath.Join(root, "cpu.stat"), version, buf); err != nil {
		b.Skipf("the root cgroup's cpu.stat has no CFS counters here: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readCPUStat(filepath.Join(root, "cpu.stat"), version, buf); err != nil {
			b.Fatal(err)
		}
	}
}
