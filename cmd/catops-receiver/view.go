package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/catops/cli/pkg/receiver"
)

// view prints a one-screen summary of every node's rebuilt state each
// interval, while something changed.
func view(ctx context.Context, w io.Writer, rcv *receiver.Receiver, every time.Duration, clear bool) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := rcv.Stats()
		if st.BatchesApplied+st.LegacySnapshots == last {
			continue
		}
		last = st.BatchesApplied + st.LegacySnapshots
		if clear {
			fmt.Fprint(w, "\033[H\033[2J")
		}
		render(w, rcv, time.Now())
	}
}

func render(w io.Writer, rcv *receiver.Receiver, now time.Time) {
	st := rcv.Stats()
	fmt.Fprintf(w, "catops-receiver  %s  batches %d  duplicates %d  resyncs asked %d\n\n",
		now.Format("15:04:05"), st.BatchesApplied, st.Duplicates, st.Conflicts)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, name := range rcv.Nodes() {
		n, ok := rcv.Node(name)
		if !ok {
			continue
		}
		usage := "usage unknown"
		if n.Usage.Available && n.Usage.Node != nil {
			usage = fmt.Sprintf("cpu %.2f cores  mem %s", n.Usage.Node.CPUCores, mib(n.Usage.Node.MemoryBytes))
		} else if n.Usage.Reason != "" {
			usage = "usage unknown (" + n.Usage.Reason + ")"
		}
		fmt.Fprintf(tw, "NODE %s\t%d pods\tseq %d\t%s\tlast batch %s ago\n", name, len(n.Pods), n.LastSeq, usage,
			now.Sub(n.LastBatchAt).Round(time.Second))
		keys := make([]string, 0, len(n.Pods))
		for k := range n.Pods {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := n.Pods[k]
			cpu, mem := "-", "-"
			if u, ok := n.Usage.Pods[k]; ok {
				cpu, mem = fmt.Sprintf("%.3f", u.CPUCores), mib(u.MemoryBytes)
			}
			last := ""
			for _, c := range p.Containers {
				if c.LastTermination != nil && c.LastTermination.Reason != "" {
					last = "last: " + c.LastTermination.Reason
				}
			}
			changed := ""
			if at, ok := n.PodChangedAt[k]; ok {
				changed = "changed " + now.Sub(at).Round(time.Second).String() + " ago"
			}
			fmt.Fprintf(tw, "  %s\t%s\trestarts %d\tcpu %s\tmem %s\t%s\t%s\n", k, p.Phase, p.RestartCount, cpu, mem, changed, last)
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w, strings.Repeat("-", 60))
}

func mib(b int64) string { return fmt.Sprintf("%dMi", b>>20) }
