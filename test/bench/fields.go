package bench

import (
	"bytes"
	"compress/gzip"
	"encoding/json"

	"github.com/catops/cli/pkg/wire"
)

// fieldGroup is a part of the pod readings of usage events whose share of
// the bytes sent the detail scenario reports: strip removes it from one
// pod reading.
type fieldGroup struct {
	name  string
	strip func(*wire.PodUsage)
}

// fieldGroups are the parts reported, each measured alone; "of which" rows
// are parts of the row above.
var fieldGroups = []fieldGroup{
	{"per-container figures", func(p *wire.PodUsage) { p.Containers = nil }},
	{"… of which throttling", func(p *wire.PodUsage) {
		for i := range p.Containers {
			p.Containers[i].Throttling = nil
		}
	}},
	{"… of which RSS", func(p *wire.PodUsage) {
		for i := range p.Containers {
			p.Containers[i].MemoryRSSBytes = nil
		}
	}},
	{"pod network", func(p *wire.PodUsage) { p.Network = nil }},
	{"… of which the counters beside the rates", func(p *wire.PodUsage) {
		if p.Network != nil {
			n := *p.Network
			n.RxBytes, n.TxBytes = 0, 0
			p.Network = &n
		}
	}},
	{"volumes", func(p *wire.PodUsage) { p.Volumes = nil }},
	{"ephemeral storage", func(p *wire.PodUsage) { p.EphemeralStorage = nil }},
	{"… of which the node's capacity and available bytes", func(p *wire.PodUsage) {
		if p.EphemeralStorage != nil {
			e := *p.EphemeralStorage
			e.CapacityBytes, e.AvailableBytes = nil, nil
			p.EphemeralStorage = &e
		}
	}},
}

// fieldShare is one field group's share of the gzip'd bytes of usage
// events.
type fieldShare struct {
	name  string
	share float64 // 0–1
}

// bytesByField measures each field group's share of the bytes the usage
// events take gzip'd one by one (the agent's batches at a 10 s interval
// hold one usage event and one host sample): the events' size with the
// group left out of every pod reading, against their whole size. Zeroed
// counters stand for dropped ones (a 0 costs a byte or two). It returns
// the events' whole gzip'd size too.
func bytesByField(usages []wire.Usage) (total int, shares []fieldShare, err error) {
	size := func(strip func(*wire.PodUsage)) (int, error) {
		n := 0
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for _, u := range usages {
			pods := make([]wire.PodUsage, len(u.Pods))
			for i, p := range u.Pods {
				p.Containers = append([]wire.ContainerUsage(nil), p.Containers...)
				if strip != nil {
					strip(&p)
				}
				pods[i] = p
			}
			u.Pods = pods
			b, err := json.Marshal(wire.Event{Type: wire.EventUsage, Usage: &u})
			if err != nil {
				return 0, err
			}
			buf.Reset()
			zw.Reset(&buf)
			if _, err := zw.Write(b); err != nil {
				return 0, err
			}
			if err := zw.Close(); err != nil {
				return 0, err
			}
			n += buf.Len()
		}
		return n, nil
	}
	if total, err = size(nil); err != nil || total == 0 {
		return total, nil, err
	}
	for _, g := range fieldGroups {
		without, err := size(g.strip)
		if err != nil {
			return total, nil, err
		}
		shares = append(shares, fieldShare{g.name, float64(total-without) / float64(total)})
	}
	return total, shares, nil
}
