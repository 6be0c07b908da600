package hostsample

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/net"

	"github.com/catops/cli/pkg/wire"
)

// Rate is the per-second rate of a counter that moved from prev to cur in
// secs seconds. It is nil when there is no previous reading (ok false),
// when no time passed, and when the counter went backwards: a reset (a
// device re-created, a driver reloaded) or a wrap of a 32-bit counter, where
// the true increase is unknown.
func Rate(prev, cur uint64, ok bool, secs float64) *float64 {
	if !ok || secs <= 0 || cur < prev {
		return nil
	}
	r := float64(cur-prev) / secs
	return &r
}

// since returns the seconds between the previous reading and now, and the
// previous counters; a nil map means there is no previous reading.
func (p *previous[T]) since(now time.Time) (float64, map[string]T) {
	if p.byName == nil {
		return 0, nil
	}
	return now.Sub(p.at).Seconds(), p.byName
}

func (s *Sampler) sampleDisks(ctx context.Context, now time.Time, hs *wire.HostSample) {
	stats, err := disk.IOCountersWithContext(ctx)
	if err != nil {
		s.fail(hs, "disks", err)
		return
	}
	secs, prevs := s.disks.since(now)
	cur := make(map[string]disk.IOCountersStat, len(stats))
	for name, c := range stats {
		if matchAny(s.opts.ExcludeDisks, name) {
			continue
		}
		cur[name] = c
		p, ok := prevs[name]
		hs.Disks = append(hs.Disks, wire.Disk{
			Name:             name,
			ReadBytes:        c.ReadBytes,
			WriteBytes:       c.WriteBytes,
			ReadOps:          c.ReadCount,
			WriteOps:         c.WriteCount,
			ReadBytesPerSec:  Rate(p.ReadBytes, c.ReadBytes, ok, secs),
			WriteBytesPerSec: Rate(p.WriteBytes, c.WriteBytes, ok, secs),
			ReadOpsPerSec:    Rate(p.ReadCount, c.ReadCount, ok, secs),
			WriteOpsPerSec:   Rate(p.WriteCount, c.WriteCount, ok, secs),
		})
	}
	slices.SortFunc(hs.Disks, func(a, b wire.Disk) int { return cmp.Compare(a.Name, b.Name) })
	s.disks = previous[disk.IOCountersStat]{at: now, byName: cur}
}

func (s *Sampler) sampleNetwork(ctx context.Context, now time.Time, hs *wire.HostSample) {
	stats, err := netCounters(ctx, s.opts.HostProc)
	if err != nil {
		s.fail(hs, "network", err)
		return
	}
	names := make([]string, len(stats))
	for i, c := range stats {
		names[i] = c.Name
	}
	stillListed := func() (map[string]bool, error) {
		again, err := netCounters(ctx, s.opts.HostProc)
		listed := make(map[string]bool, len(again))
		for _, c := range again {
			listed[c.Name] = true
		}
		return listed, err
	}
	keep, rule, detail := chooseInterfaces(s.opts, names, stillListed)
	s.logIfaceRule(rule, detail, keep)

	secs, prevs := s.nics.since(now)
	cur := make(map[string]net.IOCountersStat, len(stats))
	for _, c := range stats {
		if !keep[c.Name] {
			continue
		}
		cur[c.Name] = c
		p, ok := prevs[c.Name]
		hs.Network = append(hs.Network, wire.NetIface{
			Name:          c.Name,
			RxBytes:       c.BytesRecv,
			TxBytes:       c.BytesSent,
			RxPackets:     new(c.PacketsRecv),
			TxPackets:     new(c.PacketsSent),
			RxErrors:      new(c.Errin),
			TxErrors:      new(c.Errout),
			RxDropped:     new(c.Dropin),
			TxDropped:     new(c.Dropout),
			RxBytesPerSec: Rate(p.BytesRecv, c.BytesRecv, ok, secs),
			TxBytesPerSec: Rate(p.BytesSent, c.BytesSent, ok, secs),
		})
	}
	slices.SortFunc(hs.Network, func(a, b wire.NetIface) int { return cmp.Compare(a.Name, b.Name) })
	s.nics = previous[net.IOCountersStat]{at: now, byName: cur}
}
