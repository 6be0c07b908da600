//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
)

// cfsTarget names a CPU-limited cgroup of a pod in default: its
// container's, or (container "") the pod's own.
type cfsTarget struct{ pod, container string }

func (c cfsTarget) String() string { return c.pod + "/" + strconv.Quote(c.container) }

// cfsRead is one read of a cgroup's cpu.stat by the test: the cumulative
// counters at the time of the read.
type cfsRead struct {
	at                 time.Time
	periods, throttled float64
	throttledSeconds   float64
}

// readSlack widens a candidate window on each side: the agent stamps a read
// with its clock just before it reads (cgroup source), cAdvisor with its
// own around its read (cadvisor source).
const readSlack = 50 * time.Millisecond

// compareThrottling checks the agent's throttling figures of targets (from
// the source the chart set) against the cgroups' own counters, read by the
// test from the node's /sys/fs/cgroup every 20 ms while the figures are
// made: there must be a window of the figure's length (window_seconds) in
// which the counters moved by exactly the figure's periods, throttled
// periods and throttled seconds. Reads bracket each instant, so each
// counter's move over a window is known as an interval, widened only by
// readSlack on each end (about 3 periods in all where the reads are 20 ms
// apart; more where the test's reader stalled); a figure over another
// window, of another cgroup or with the counters mixed up fails. (Comparing shares over a window of the test's
// own instead flaked: a spinning container's share moves with the load of
// a busy 2-core machine, so two windows seconds apart differ by 0.1 and
// more.)
func compareThrottling(ctx context.Context, t *testing.T, cs kubernetes.Interface, rcv *receiver.Receiver, nodeName, source string, targets ...cfsTarget) {
	t.Helper()
	paths := make([]string, len(targets))
	for i, tg := range targets {
		paths[i] = cpuStatPath(ctx, t, cs, tg)
	}
	rec := startCFSRecorder(t, paths)
	start := time.Now()
	// Figures whose windows lie within the recording: each began at least
	// 15 s (cAdvisor's lag behind the usage's timestamp, for the cadvisor
	// source) after the recording did.
	figures := make([]wire.CPUThrottling, len(targets))
	// Where each figure's window may end: after the usage it goes with
	// was read (its timestamp; for the cadvisor source cAdvisor's own read
	// of the counters may be up to one housekeeping, 15 s, older), and
	// before the receiver had it.
	earliest := make([]time.Time, len(targets))
	lag := time.Duration(0)
	if source == "cadvisor" {
		lag = 15 * time.Second
	}
	// Four minutes: a kubelet slowed by the churn before (a loaded machine)
	// can time the agent's reads out, and its usage source then backs off
	// (10 s, 20 s, 40 s ...) before the two reads a window needs.
	waitReceiverWithin(ctx, t, rcv, nodeName, fmt.Sprintf("throttling figures of %v over windows after %s", targets, start.Format(time.RFC3339)), 4*time.Minute,
		func(st receiver.NodeState) bool {
			for i, tg := range targets {
				th := throttlingOf(st, tg)
				u := st.Usage.Pods[receiver.PodKey("default", tg.pod)]
				if th == nil || u.Timestamp.Add(-time.Duration(th.WindowSeconds*float64(time.Second))-15*time.Second).Before(start) {
					return false
				}
				figures[i], earliest[i] = *th, u.Timestamp.Add(-lag)
			}
			return true
		})
	seen := time.Now()
	time.Sleep(time.Second) // reads after the last instant a window may end at
	reads := rec.stop()
	for i, tg := range targets {
		th := figures[i]
		require.Positive(t, th.Periods, "%v's throttling figure %+v", tg, th)
		assert.Greater(t, float64(th.ThrottledPeriods)/float64(th.Periods), 0.5, "%v is throttled in most periods: %+v", tg, th)
		w, ok := matchingWindow(reads[i], th, earliest[i], seen)
		assert.True(t, ok, "%v (%s): no window of %.3f s ending between %s and %s, in the %d reads of %s, in which the cgroup's counters moved by the agent's %+v",
			tg, source, th.WindowSeconds, earliest[i].Format("15:04:05.000"), seen.Format("15:04:05.000"), len(reads[i]), paths[i], th)
		t.Logf("throttling %v (%s): agent %d of %d periods (%.3f), %.3f s throttled over %.3f s; the cgroup's counters match over the window ending at %s (%d reads)",
			tg, source, th.ThrottledPeriods, th.Periods, float64(th.ThrottledPeriods)/float64(th.Periods), th.ThrottledSeconds, th.WindowSeconds, w.Format("15:04:05.000"), len(reads[i]))
	}
}

// throttlingOf is the agent's latest throttling figure of tg, or nil.
func throttlingOf(st receiver.NodeState, tg cfsTarget) *wire.CPUThrottling {
	u, ok := st.Usage.Pods[receiver.PodKey("default", tg.pod)]
	if !ok {
		return nil
	}
	if tg.container == "" {
		return u.Throttling
	}
	for _, c := range u.Containers {
		if c.Name == tg.container {
			return c.Throttling
		}
	}
	return nil
}

// matchingWindow looks for a window of th's length ending between earliest
// and latest and between two consecutive reads, such that each counter's move over it can be th's:
// with the end in [reads[j], reads[j+1]] and the start window_seconds
// earlier (each widened by readSlack), a counter moved by at least its
// value at reads[j] less its value at the first read after the latest
// start, and by at most its value at reads[j+1] less its value at the last
// read before the earliest start. It returns the window's earliest end.
func matchingWindow(reads []cfsRead, th wire.CPUThrottling, earliest, latest time.Time) (time.Time, bool) {
	w := time.Duration(th.WindowSeconds * float64(time.Second))
	// The throttled seconds are rounded to the millisecond on the wire.
	const secondsSlack = 0.0005
	for j := 0; j+1 < len(reads); j++ {
		if reads[j+1].at.Before(earliest.Add(-readSlack)) || reads[j].at.After(latest.Add(readSlack)) {
			continue
		}
		lo, hi := reads[j].at.Add(-w-readSlack), reads[j+1].at.Add(-w+readSlack)
		// The last read at or before lo, the first at or after hi.
		before := sort.Search(j+1, func(i int) bool { return reads[i].at.After(lo) }) - 1
		after := sort.Search(j+1, func(i int) bool { return !reads[i].at.Before(hi) })
		if before < 0 || after > j {
			continue
		}
		end0, end1, s0, s1 := reads[j], reads[j+1], reads[after], reads[before]
		within := func(got, min, max, slack float64) bool { return got >= min-slack && got <= max+slack }
		if within(float64(th.Periods), end0.periods-s0.periods, end1.periods-s1.periods, 0) &&
			within(float64(th.ThrottledPeriods), end0.throttled-s0.throttled, end1.throttled-s1.throttled, 0) &&
			within(th.ThrottledSeconds, end0.throttledSeconds-s0.throttledSeconds, end1.throttledSeconds-s1.throttledSeconds, secondsSlack) {
			return end0.at, true
		}
	}
	return time.Time{}, false
}

// cpuStatPath is the cpu.stat of tg's cgroup on the node (cgroup v1,
// cgroupfs driver: <cpu hierarchy>/kubepods[/<qos>]/pod<uid>[/<container
// ID>]), found from the pod's UID and its container's ID.
func cpuStatPath(ctx context.Context, t *testing.T, cs kubernetes.Interface, tg cfsTarget) string {
	t.Helper()
	p, err := cs.CoreV1().Pods("default").Get(ctx, tg.pod, metav1.GetOptions{})
	require.NoError(t, err)
	leaf := ""
	if tg.container != "" {
		for _, s := range p.Status.ContainerStatuses {
			if s.Name == tg.container {
				_, leaf, _ = strings.Cut(s.ContainerID, "://")
			}
		}
		require.NotEmpty(t, leaf, "%v's container ID in %+v", tg, p.Status.ContainerStatuses)
	}
	pattern := filepath.Join("/sys/fs/cgroup/cpu", "kubepods", "*pod"+string(p.UID), leaf, "cpu.stat")
	pattern2 := filepath.Join("/sys/fs/cgroup/cpu", "kubepods", "*", "pod"+string(p.UID), leaf, "cpu.stat")
	m1, _ := filepath.Glob(pattern)
	m2, _ := filepath.Glob(pattern2)
	m := append(m1, m2...)
	require.Len(t, m, 1, "%v's cpu.stat on the node (%s or %s)", tg, pattern, pattern2)
	return m[0]
}

// cfsRecorder reads a set of cpu.stat files every 20 ms until stopped.
// Its goroutine alone writes reads and err until done is closed.
type cfsRecorder struct {
	cancel context.CancelFunc
	done   chan struct{}
	reads  [][]cfsRead
	err    error
}

func startCFSRecorder(t *testing.T, paths []string) *cfsRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &cfsRecorder{cancel: cancel, done: make(chan struct{}), reads: make([][]cfsRead, len(paths))}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			for i, p := range paths {
				c, err := readCgroupCPUStat(p)
				if err != nil {
					r.err = err
					return
				}
				r.reads[i] = append(r.reads[i], c)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// stop ends the recording and returns each file's reads, in time order.
func (r *cfsRecorder) stop() [][]cfsRead {
	r.cancel()
	<-r.done
	if r.err != nil {
		panic(fmt.Sprintf("reading the node's cpu.stat: %v", r.err))
	}
	return r.reads
}

// readCgroupCPUStat reads a cgroup v1 cpu.stat: nr_periods, nr_throttled,
// throttled_time (nanoseconds), stamped with the time just before the read.
func readCgroupCPUStat(path string) (cfsRead, error) {
	at := time.Now()
	b, err := os.ReadFile(path) //nolint:gosec // a cgroup file the test located
	if err != nil {
		return cfsRead{}, err
	}
	c := cfsRead{at: at}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cfsRead{}, fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
		}
		switch k {
		case "nr_periods":
			c.periods, seen = float64(n), seen+1
		case "nr_throttled":
			c.throttled, seen = float64(n), seen+1
		case "throttled_time":
			c.throttledSeconds, seen = float64(n)/1e9, seen+1
		}
	}
	if seen != 3 {
		return cfsRead{}, fmt.Errorf("%s: no nr_periods, nr_throttled and throttled_time in %q", path, b)
	}
	return c, nil
}

// TestMatchingWindow checks the check on a synthetic cgroup: a container
// spinning through 100 ms periods, throttled in every period for 12 s and
// in most after; the test reads every 20 ms, with a stall of 700 ms; the
// agent reads at instants between the test's.
func TestMatchingWindow(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	// The cumulative counters after each period: throttled in every
	// period for 12 s, then in about 7 of 10 (some pseudo-random ones), for
	// 20 to 80 ms each.
	var cum []cfsRead
	var c cfsRead
	rnd := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // a fixed pattern, not a secret
	for k := range 400 {
		cum = append(cum, c)
		if h := rnd.Float64(); k < 120 || h < 0.7 {
			c.throttled++
			c.throttledSeconds += 0.02 + 0.06*h
		}
		c.periods++
	}
	// counters at time d after t0.
	counters := func(d time.Duration) cfsRead {
		r := cum[d/(100*time.Millisecond)]
		r.at = t0.Add(d)
		return r
	}
	var reads []cfsRead
	for d := time.Duration(0); d < 30*time.Second; d += 20 * time.Millisecond {
		if d > 15*time.Second && d < 15700*time.Millisecond {
			continue // the test's reader stalled
		}
		reads = append(reads, counters(d))
	}
	figure := func(a0, a1 time.Duration) wire.CPUThrottling {
		c0, c1 := counters(a0), counters(a1)
		return wire.CPUThrottling{Periods: uint64(c1.periods - c0.periods), ThrottledPeriods: uint64(c1.throttled - c0.throttled),
			ThrottledSeconds: c1.throttledSeconds - c0.throttledSeconds, WindowSeconds: (a1 - a0).Seconds()}
	}
	for _, w := range [][2]time.Duration{
		{3*time.Second + 7*time.Millisecond, 13*time.Second + 7*time.Millisecond},   // across the change
		{5*time.Second + 3*time.Millisecond, 15*time.Second + 351*time.Millisecond}, // ending in the stall
		{18 * time.Second, 28*time.Second + 11*time.Millisecond},                    // half throttled
	} {
		th := figure(w[0], w[1])
		_, ok := matchingWindow(reads, th, t0, t0.Add(time.Minute))
		assert.True(t, ok, "the agent's figure %+v over %v", th, w)
		_, ok = matchingWindow(reads, th, t0.Add(w[1]-time.Second/2), t0.Add(w[1]+time.Second/2))
		assert.True(t, ok, "the agent's figure %+v over %v, with its end looked for around its own", th, w)
		// Not when the window's end is known to lie elsewhere.
		_, ok = matchingWindow(reads, th, t0.Add(w[1]+2*time.Second), t0.Add(time.Minute))
		assert.False(t, ok, "the agent's figure %+v, with its end looked for after %v", th, w[1]+2*time.Second)
		// The figure of a window 3 s earlier, a count off, or a longer
		// window with the same counts: none matches.
		wrong := figure(w[0]-3*time.Second, w[1]-3*time.Second)
		if wrong != th {
			_, ok = matchingWindow(reads, wrong, t0.Add(w[1]-time.Second/2), t0.Add(w[1]+time.Second/2))
			assert.False(t, ok, "the figure of a window 3 s earlier: %+v", wrong)
		}
		// The check's resolution: the periods of the reads' spacing and
		// readSlack on each end, 3 periods where the reads are 20 ms
		// apart, 7 more where the reader stalled.
		off := th
		off.Periods += 10
		_, ok = matchingWindow(reads, off, t0, t0.Add(time.Minute))
		assert.False(t, ok, "ten periods more: %+v", off)
		off = th
		off.ThrottledPeriods -= 10
		_, ok = matchingWindow(reads, off, t0, t0.Add(time.Minute))
		assert.False(t, ok, "ten throttled periods fewer: %+v", off)
		long := th
		long.WindowSeconds *= 1.5
		_, ok = matchingWindow(reads, long, t0, t0.Add(time.Minute))
		assert.False(t, ok, "a window half as long again: %+v", long)
	}
}
