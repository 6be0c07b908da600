package kubelet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/wire"
)

// CadvisorPath is the kubelet's cAdvisor metrics (Prometheus text), read
// with RBAC get on nodes/metrics, as /metrics/resource.
const CadvisorPath = "/metrics/cadvisor"

// The CFS series of /metrics/cadvisor the throttling figures come from:
// cAdvisor writes them only for containers with a CPU quota.
const (
	seriesCFSPeriods          = "container_cpu_cfs_periods_total"
	seriesCFSThrottledPeriods = "container_cpu_cfs_throttled_periods_total"
	seriesCFSThrottledSeconds = "container_cpu_cfs_throttled_seconds_total"
)

var cfsFamilies = [][]byte{[]byte(seriesCFSPeriods), []byte(seriesCFSThrottledPeriods), []byte(seriesCFSThrottledSeconds)}

// maxLine bounds a kept line: a CFS series line's labels are a cgroup path,
// an image and a container ID or two. A longer line is skipped, whatever its
// family (a CFS series that long cannot be the kubelet's: its container has
// no figure).
const maxLine = 32 << 10

// maxCFSText bounds the CFS lines kept of one cAdvisor text: three series
// of a few hundred bytes per CPU-limited container, so far above any real
// node. (A variable, so tests can lower it.)
var maxCFSText int64 = 16 << 20

// filterCFS copies from r only the lines of the three CFS families (their
// samples and # HELP/# TYPE lines), line by line: /metrics/cadvisor is tens
// of KiB per container, of which these are a few hundred bytes. Lines of
// other families are skipped whatever their length.
func filterCFS(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(r, maxLine)
	var out bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		keep := cfsLine(line)
		for errors.Is(err, bufio.ErrBufferFull) {
			keep = false // longer than maxLine: skip the rest of it
			line, err = br.ReadSlice('\n')
		}
		if keep {
			line = bytes.TrimRight(line, "\r\n")
			if int64(out.Len()+len(line)+1) > maxCFSText {
				return nil, errTooLarge
			}
			out.Write(line)
			out.WriteByte('\n')
		}
		switch {
		case errors.Is(err, io.EOF):
			return out.Bytes(), nil
		case err != nil:
			return nil, err
		}
	}
}

// cfsLine: line is a sample, # HELP or # TYPE line of a CFS family (the
// text format allows blanks and tabs around the tokens).
func cfsLine(line []byte) bool {
	rest := bytes.TrimLeft(line, " \t")
	if r, ok := bytes.CutPrefix(rest, []byte("#")); ok {
		r = bytes.TrimLeft(r, " \t")
		var kw bool
		if r, kw = bytes.CutPrefix(r, []byte("HELP")); !kw {
			if r, kw = bytes.CutPrefix(r, []byte("TYPE")); !kw {
				return false
			}
		}
		rest = bytes.TrimLeft(r, " \t")
	}
	for _, f := range cfsFamilies {
		if bytes.HasPrefix(rest, f) && len(rest) > len(f) && bytes.IndexByte([]byte("{ \t"), rest[len(f)]) >= 0 {
			return true
		}
	}
	return false
}

// containerKey names a container of a pod on this node.
type containerKey struct {
	pod       usage.PodKey
	container string
}

// cfsSample is one read of a container's CFS counters, of the cgroup id
// (cAdvisor's id label: the cgroup path, which holds the container's ID).
type cfsSample struct {
	id                          string
	periods, throttled, seconds float64
	at                          time.Time
	has                         [3]bool
}

// cfsState turns CFS counters into throttling over the window between two
// reads.
type cfsState struct{ last map[containerKey]cfsSample }

// parseCFS reads the filtered CFS text, samples without a timestamp taken
// at scraped, grouped by container and cgroup (a restarted container may
// be listed with its old cgroup for a while); series with a value that
// cannot be a counter (not finite, negative, above usage.MaxValue) are left
// out.
func parseCFS(text []byte, scraped time.Time) (map[containerKey]map[string]cfsSample, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, err
	}
	out := map[containerKey]map[string]cfsSample{}
	for i, name := range []string{seriesCFSPeriods, seriesCFSThrottledPeriods, seriesCFSThrottledSeconds} {
		fam := fams[name]
		if fam == nil {
			continue
		}
		for _, m := range fam.GetMetric() {
			k := containerKey{usage.PodKey{Namespace: label(m, "namespace"), Name: label(m, "pod")}, label(m, "container")}
			if k.pod.Name == "" || k.container == "" || k.container == "POD" {
				continue // the pod's or the sandbox's cgroup
			}
			v, ok := rawValue(m)
			if !ok || !finite(v) || v < 0 || v > usage.MaxValue {
				continue
			}
			id := label(m, "id")
			if out[k] == nil {
				out[k] = map[string]cfsSample{}
			}
			s := out[k][id]
			s.id = id
			at := scraped
			if m.TimestampMs != nil {
				at = time.UnixMilli(m.GetTimestampMs())
			}
			if s.at.IsZero() || at.After(s.at) {
				s.at = at
			}
			switch i {
			case 0:
				s.periods = v
			case 1:
				s.throttled = v
			case 2:
				s.seconds = v
			}
			s.has[i] = true
			out[k][id] = s
		}
	}
	return out, nil
}

// throttling returns each container's throttling since the previous read
// of the same cgroup (all three counters present in both, none gone down,
// the time moved on, throttled periods not above periods) and remembers
// cur. A restarted container has a new cgroup: the read after it has no
// figure. Where a container is listed with several cgroups, the one read
// last time is taken; if none was, the container has no figure (which is
// the live one cannot be told).
func (c *cfsState) throttling(cur map[containerKey]map[string]cfsSample, latest time.Time) map[containerKey]wire.CPUThrottling {
	out := map[containerKey]wire.CPUThrottling{}
	next := make(map[containerKey]cfsSample, len(cur))
	for k, byID := range cur {
		p, ok := c.last[k]
		s, one := cfsSample{}, false
		switch {
		case len(byID) == 1:
			for _, only := range byID {
				s, one = only, true
			}
		case ok:
			s, one = byID[p.id]
		}
		if !one || s.has != [3]bool{true, true, true} || !s.at.After(unixEpoch) || s.at.After(latest) {
			continue
		}
		next[k] = s
		if !ok || p.id != s.id || !s.at.After(p.at) || s.periods < p.periods || s.throttled < p.throttled || s.seconds < p.seconds {
			continue
		}
		t := wire.CPUThrottling{Periods: uint64(s.periods - p.periods), ThrottledPeriods: uint64(s.throttled - p.throttled),
			ThrottledSeconds: s.seconds - p.seconds, WindowSeconds: s.at.Sub(p.at).Seconds()}
		if t.ThrottledPeriods > t.Periods {
			continue
		}
		out[k] = t
	}
	c.last = next
	return out
}

// addThrottling puts each container's throttling on its ContainerUsage in
// pods (a container without a usage reading this time gets none).
func addThrottling(th map[containerKey]wire.CPUThrottling, pods map[usage.PodKey]wire.ResourceUsage) {
	for k, u := range pods {
		var cs []wire.ContainerUsage
		for i, c := range u.Containers {
			t, ok := th[containerKey{k, c.Name}]
			if !ok {
				continue
			}
			if cs == nil {
				cs = append([]wire.ContainerUsage(nil), u.Containers...)
			}
			cs[i].Throttling = &t
		}
		if cs != nil {
			u.Containers = cs
			pods[k] = u
		}
	}
}
