package kubelet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/wire"
)

// SummaryPath is the kubelet's stats summary (Summary API, stats/v1alpha1),
// read with RBAC get on nodes/stats.
const SummaryPath = "/stats/summary"

// The parts of the summary kept; everything else is skipped while it is
// read. Numbers are pointers: a figure the kubelet leaves out is unknown.
type (
	summaryFS struct {
		UsedBytes      *uint64 `json:"usedBytes"`
		CapacityBytes  *uint64 `json:"capacityBytes"`
		AvailableBytes *uint64 `json:"availableBytes"`
		InodesUsed     *uint64 `json:"inodesUsed"`
		Inodes         *uint64 `json:"inodes"`
	}
	// summaryNode is the node section: its filesystems always, the rest
	// for the host sample (Options.NodeStats). Each part is nil when the
	// summary leaves it out.
	// summaryNode is the node section, in two parts decoded apart, so that
	// a bad figure of one costs only that part: the storage figures go
	// with the usage event, the host figures with the host event.
	summaryNode struct {
		summaryNodeHost
		summaryNodeStorage
	}
	summaryNodeHost struct {
		StartTime time.Time `json:"startTime"`
		CPU       *struct {
			Time                 time.Time `json:"time"`
			UsageNanoCores       *uint64   `json:"usageNanoCores"`
			UsageCoreNanoSeconds *uint64   `json:"usageCoreNanoSeconds"`
		} `json:"cpu"`
		Memory *struct {
			Time            time.Time `json:"time"`
			AvailableBytes  *uint64   `json:"availableBytes"`
			UsageBytes      *uint64   `json:"usageBytes"`
			WorkingSetBytes *uint64   `json:"workingSetBytes"`
			RSSBytes        *uint64   `json:"rssBytes"`
		} `json:"memory"`
		Swap *struct {
			Time               time.Time `json:"time"`
			SwapAvailableBytes *uint64   `json:"swapAvailableBytes"`
			SwapUsageBytes     *uint64   `json:"swapUsageBytes"`
		} `json:"swap"`
		Network *struct {
			Time       time.Time `json:"time"`
			Interfaces []struct {
				Name     string  `json:"name"`
				RxBytes  *uint64 `json:"rxBytes"`
				RxErrors *uint64 `json:"rxErrors"`
				TxBytes  *uint64 `json:"txBytes"`
				TxErrors *uint64 `json:"txErrors"`
			} `json:"interfaces"`
		} `json:"network"`
	}
	summaryNodeStorage struct {
		FS      *summaryFS `json:"fs"`
		Runtime *struct {
			ImageFS *summaryFS `json:"imageFs"`
		} `json:"runtime"`
	}
	summaryPod struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
			UID       string `json:"uid"`
		} `json:"podRef"`
		Containers []struct {
			Name   string `json:"name"`
			Memory *struct {
				RSSBytes *uint64 `json:"rssBytes"`
			} `json:"memory"`
		} `json:"containers"`
		Network *struct {
			Time    time.Time `json:"time"`
			RxBytes *uint64   `json:"rxBytes"`
			TxBytes *uint64   `json:"txBytes"`
		} `json:"network"`
		Volumes []struct {
			Name   string `json:"name"`
			PVCRef *struct {
				Name string `json:"name"`
			} `json:"pvcRef"`
			summaryFS
		} `json:"volume"`
		Ephemeral *summaryFS `json:"ephemeral-storage"`
	}
)

// summary is one summary read: the node's section and, for each pod asked
// for, what is shipped of it.
type summary struct {
	node summaryNode
	pods map[usage.PodKey]*summaryPod
	// dropped are the pods asked for that are left out: listed twice
	// (which entry is true cannot be told; a pod recreated under the same
	// name may be listed with the old one) or not understood.
	dropped map[usage.PodKey]string
}

// errSummaryShape is a summary whose structure is not the Summary API's.
var errSummaryShape = errors.New("not a kubelet summary")

// parseSummary reads a summary from r as a stream: the node's section
// (decoded once, into summaryNode), then the pods one at a time (each held
// only while it is looked at), keeping only those in want (a 110-pod node's
// summary is about 400 KiB; the pods not asked for, and the fields not
// shipped, are never kept). A pod entry that cannot be read costs only that
// pod (dropped); a node section that cannot be read (a figure of the wrong
// type) costs every node figure, and the pods still count. An answer that
// is not one summary object is an error wrapping errSummaryShape or a
// *json.SyntaxError; a failed read of r is returned as it is.
func parseSummary(r io.Reader, want map[usage.PodKey]struct{}) (*summary, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	s := &summary{pods: map[usage.PodKey]*summaryPod{}, dropped: map[usage.PodKey]string{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		switch key {
		case "node":
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			// A part that does not decode is unknown; the other part and
			// the pods' figures still count.
			if err := json.Unmarshal(raw, &s.node.summaryNodeStorage); err != nil {
				s.node.summaryNodeStorage = summaryNodeStorage{}
			}
			if err := json.Unmarshal(raw, &s.node.summaryNodeHost); err != nil {
				s.node.summaryNodeHost = summaryNodeHost{}
			}
		case "pods":
			if err := s.readPods(dec, want); err != nil {
				return nil, err
			}
		default:
			if err := skipValue(dec); err != nil {
				return nil, err
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the summary object", errSummaryShape)
	}
	return s, nil
}

// readPods reads the pods array, one element at a time.
func (s *summary) readPods(dec *json.Decoder, want map[usage.PodKey]struct{}) error {
	if err := expectDelim(dec, '['); err != nil {
		return fmt.Errorf("pods: %w", err)
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		// One decode per pod: nearly every pod of the summary is asked for
		// (they are this node's). Only an entry that does not decode is
		// read again, for its name alone.
		var p summaryPod
		bad := json.Unmarshal(raw, &p)
		if bad != nil {
			var ref struct {
				PodRef struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"podRef"`
			}
			if json.Unmarshal(raw, &ref) != nil {
				continue // no pod named: nothing to drop
			}
			p = summaryPod{}
			p.PodRef.Name, p.PodRef.Namespace = ref.PodRef.Name, ref.PodRef.Namespace
		}
		k := usage.PodKey{Namespace: p.PodRef.Namespace, Name: p.PodRef.Name}
		if _, ok := want[k]; !ok {
			continue
		}
		switch _, seen := s.pods[k]; {
		case seen || s.dropped[k] != "":
			delete(s.pods, k)
			s.dropped[k] = "listed twice"
		case bad != nil:
			s.dropped[k] = oneLine(bad)
		default:
			s.pods[k] = &p
		}
	}
	if err := expectDelim(dec, ']'); err != nil {
		return fmt.Errorf("pods: %w", err)
	}
	return nil
}

// skipValue consumes the next value of dec, token by token (a value of any
// size or kind: what the kubelet adds in later versions is skipped).
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w: got %v, want %q", errSummaryShape, tok, want)
	}
	return nil
}

// figure is v when it can be a count of bytes or inodes (at most
// usage.MaxValue), else nil: unknown.
func figure(v *uint64) *uint64 {
	if v == nil || *v > usage.MaxValue {
		return nil
	}
	return v
}

// wire is f's figures that can be true: each at most usage.MaxValue, used
// not above capacity (bytes, and inodes); nil when none is left.
func (f *summaryFS) wire() *wire.FilesystemUsage {
	if f == nil {
		return nil
	}
	out := wire.FilesystemUsage{UsedBytes: figure(f.UsedBytes), CapacityBytes: figure(f.CapacityBytes),
		AvailableBytes: figure(f.AvailableBytes), InodesUsed: figure(f.InodesUsed), Inodes: figure(f.Inodes)}
	if out.UsedBytes != nil && out.CapacityBytes != nil && *out.UsedBytes > *out.CapacityBytes {
		out.UsedBytes, out.CapacityBytes, out.AvailableBytes = nil, nil, nil
	}
	if out.InodesUsed != nil && out.Inodes != nil && *out.InodesUsed > *out.Inodes {
		out.InodesUsed, out.Inodes = nil, nil
	}
	if out == (wire.FilesystemUsage{}) {
		return nil
	}
	return &out
}

// nodeStats is what s says of the node itself, for the host sample: each
// figure at most usage.MaxValue, a filesystem's used not above its capacity
// (see figure and summaryFS.wire), an interface only with a name and both
// byte counters; read is when the summary arrived.
func (s *summary) nodeStats(read time.Time) *usage.NodeStats {
	n := &s.node
	out := &usage.NodeStats{Read: read, BootTime: n.StartTime, Filesystem: n.FS.wire()}
	if n.Runtime != nil {
		out.ImageFilesystem = n.Runtime.ImageFS.wire()
	}
	if c := n.CPU; c != nil {
		out.CPU = &usage.NodeCPU{Time: c.Time, UsageNanoCores: figure(c.UsageNanoCores), UsageCoreNanoSeconds: figure(c.UsageCoreNanoSeconds)}
	}
	if m := n.Memory; m != nil {
		out.Memory = &usage.NodeMemory{Time: m.Time, AvailableBytes: figure(m.AvailableBytes), UsageBytes: figure(m.UsageBytes),
			WorkingSetBytes: figure(m.WorkingSetBytes), RSSBytes: figure(m.RSSBytes)}
	}
	if sw := n.Swap; sw != nil {
		out.Swap = &usage.NodeSwap{Time: sw.Time, SwapUsageBytes: figure(sw.SwapUsageBytes), SwapAvailableBytes: figure(sw.SwapAvailableBytes)}
	}
	if nw := n.Network; nw != nil {
		out.Network = &usage.NodeNetwork{Time: nw.Time}
		listed := make(map[string]int, len(nw.Interfaces))
		for _, i := range nw.Interfaces {
			listed[i.Name]++
		}
		for _, i := range nw.Interfaces {
			// Without a name, or listed twice (which entry is true cannot
			// be told), or with a byte counter that cannot be true: left
			// out.
			if i.Name == "" || listed[i.Name] > 1 || figure(i.RxBytes) == nil || figure(i.TxBytes) == nil {
				continue
			}
			out.Network.Interfaces = append(out.Network.Interfaces, usage.NodeInterface{Name: i.Name,
				RxBytes: i.RxBytes, TxBytes: i.TxBytes, RxErrors: figure(i.RxErrors), TxErrors: figure(i.TxErrors)})
		}
	}
	return out
}

// netCounter is a pod's network counters at one summary read.
type netCounter struct {
	uid    string
	rx, tx uint64
	at     time.Time
}

// netRates turns the pods' network counters into rates across reads.
type netRates struct{ last map[usage.PodKey]netCounter }

// network is the pod's traffic from p (nil when the summary has no network
// figures of it, or figures that cannot be true), with rates since the
// previous read of the same pod (same UID) when both reads carry a time
// after the epoch and not ahead of latest, the time moved on and no counter
// went down; it remembers p's counters in next, when their time is valid.
func (n *netRates) network(next map[usage.PodKey]netCounter, k usage.PodKey, p *summaryPod, latest time.Time) *wire.NetworkUsage {
	if p.Network == nil || figure(p.Network.RxBytes) == nil || figure(p.Network.TxBytes) == nil {
		return nil
	}
	cur := netCounter{uid: p.PodRef.UID, rx: *p.Network.RxBytes, tx: *p.Network.TxBytes, at: p.Network.Time}
	out := &wire.NetworkUsage{RxBytes: cur.rx, TxBytes: cur.tx}
	if !cur.at.After(unixEpoch) || cur.at.After(latest) {
		return out // counters without a time: no rate, now or next time
	}
	next[k] = cur
	prev, ok := n.last[k]
	if !ok || prev.uid != cur.uid || !cur.at.After(prev.at) || cur.rx < prev.rx || cur.tx < prev.tx {
		return out
	}
	secs := cur.at.Sub(prev.at).Seconds()
	rx, tx := float64(cur.rx-prev.rx)/secs, float64(cur.tx-prev.tx)/secs
	out.RxBytesPerSec, out.TxBytesPerSec = &rx, &tx
	return out
}

// addSummary puts what s says of each pod on its reading in pods (a pod
// without a reading this time gets none: its figures wait for the next),
// and the node's filesystems on node; it updates the network rates.
// latest is the newest time a figure may carry (the read's time plus
// usage.MaxClockSkew).
func (n *netRates) addSummary(s *summary, node *wire.ResourceUsage, pods map[usage.PodKey]wire.ResourceUsage, latest time.Time) {
	if node != nil {
		node.Filesystem = s.node.FS.wire()
		if s.node.Runtime != nil {
			node.ImageFilesystem = s.node.Runtime.ImageFS.wire()
		}
	}
	next := make(map[usage.PodKey]netCounter, len(s.pods))
	for k, p := range s.pods {
		network := n.network(next, k, p, latest)
		u, ok := pods[k]
		if !ok {
			continue
		}
		u.Network = network
		u.EphemeralStorage = p.Ephemeral.wire()
		for _, v := range p.Volumes {
			vu := wire.VolumeUsage{Name: v.Name}
			if v.PVCRef != nil {
				vu.PVC = v.PVCRef.Name
			}
			if fs := v.wire(); fs != nil {
				vu.FilesystemUsage = *fs
			}
			u.Volumes = append(u.Volumes, vu)
		}
		slices.SortFunc(u.Volumes, func(a, b wire.VolumeUsage) int { return strings.Compare(a.Name, b.Name) })
		if len(u.Containers) > 0 {
			rss := make(map[string]*uint64, len(p.Containers))
			for _, c := range p.Containers {
				if c.Memory != nil {
					rss[c.Name] = figure(c.Memory.RSSBytes)
				}
			}
			cs := slices.Clone(u.Containers)
			for i := range cs {
				cs[i].MemoryRSSBytes = rss[cs[i].Name]
			}
			u.Containers = cs
		}
		pods[k] = u
	}
	n.last = next
}
