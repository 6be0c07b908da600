package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/catops/cli/pkg/receiver"
)

// renderServers writes the panel of the plain servers (catops, the host
// stream): a row per host with its system and its latest sample, and a
// legend.
func renderServers(b *strings.Builder, hosts []receiver.HostState, now time.Time) {
	t := table{cols: []column{
		{title: "SERVER"}, {title: "OS"}, {title: "KERNEL"}, {title: "CPU %", right: true}, {title: "MEM GiB", right: true},
		{title: "DISKS GiB", right: true}, {title: "LOAD 1/5/15", right: true}, {title: "INTERFACES"}, {title: "SEQ", right: true},
		{title: "LAST BATCH", right: true},
	}}
	var errs []string
	for _, h := range hosts {
		osName, kernel := unknown, unknown
		if i := h.Info; i != nil {
			if i.OS.Name != "" {
				osName = strings.TrimSpace(i.OS.Name + " " + i.OS.Version)
			}
			if i.Kernel.Version != "" {
				kernel = i.Kernel.Version
			}
			for _, e := range i.Errors {
				errs = append(errs, h.Hostname+": "+e)
			}
		}
		cpu, mem, disks, load := unknown, unknown, unknown, unknown
		if s := h.Sample; s != nil {
			if s.CPU.UsagePercent != nil {
				cpu = fmt.Sprintf("%.1f", *s.CPU.UsagePercent)
			}
			if s.Memory != nil && s.Memory.TotalBytes > 0 {
				mem = usedOfTotal(s.Memory.UsedBytes, s.Memory.TotalBytes)
			}
			if used, total := filesystems(s.Filesystems); total > 0 {
				disks = usedOfTotal(used, total)
			}
			if s.Load != nil {
				load = fmt.Sprintf("%.2f %.2f %.2f", s.Load.Load1, s.Load.Load5, s.Load.Load15)
			}
			for _, e := range s.Errors {
				errs = append(errs, h.Hostname+": "+e)
			}
		}
		var ifaces []string
		for _, name := range sortedKeys(h.Interfaces) {
			i := h.Interfaces[name]
			state := name
			if !i.Up {
				state += " (down)"
			} else if len(i.Addresses) > 0 {
				state += " " + i.Addresses[0]
			}
			ifaces = append(ifaces, state)
		}
		t.add(h.Hostname, osName, kernel, cpu, mem, disks, load, cmp.Or(strings.Join(ifaces, ", "), unknown), fmt.Sprint(h.LastSeq), ago(now, h.LastBatchAt))
	}
	b.WriteString("\n")
	t.write(b)
	for _, e := range errs {
		b.WriteString("host reading failed on " + e + "\n")
	}
	b.WriteString("\nSERVER: a plain server's catops (the host stream): CPU % of all cores; memory and disks (summed)\n" +
		"in GiB used / total; load over 1/5/15 min; its counted interfaces with their first address.\n")
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
