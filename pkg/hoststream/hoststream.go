// Package hoststream turns the host agent's readings into the host stream's
// events (catops.host/v1, docs/protocol.md §10): the host's record, its
// filesystems and network interfaces as deltas (sent when they changed, a
// delete when one is gone), snapshots of all three, and the sample of every
// interval.
package hoststream

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/catops/cli/pkg/wire"
)

// Reading is one interval's readings. Filesystems and Interfaces are nil
// when they could not be read this time: the records last seen are kept
// (unknown is not gone). So is the record of a filesystem the sample could
// not measure (its Errors name "filesystem <mountpoint>").
type Reading struct {
	Info        wire.HostInfo
	Filesystems []wire.MountedFilesystem
	Interfaces  []wire.NetInterface
	Sample      wire.HostSample
}

// Failed reports whether hs names reading among its failed readings
// (HostSample.Errors, "<reading>: <error>").
func Failed(hs *wire.HostSample, reading string) bool {
	for _, e := range hs.Errors {
		if strings.HasPrefix(e, reading+":") {
			return true
		}
	}
	return false
}

// FilesystemsOf returns the filesystem records of a sample, or nil when
// its mount table could not be read (a "filesystems" error).
func FilesystemsOf(hs *wire.HostSample) []wire.MountedFilesystem {
	if Failed(hs, "filesystems") {
		return nil
	}
	out := make([]wire.MountedFilesystem, 0, len(hs.Filesystems))
	for _, f := range hs.Filesystems {
		out = append(out, wire.MountedFilesystem{Mountpoint: f.Mountpoint, Device: f.Device, FSType: f.FSType})
	}
	return out
}

// Stream holds the records last read and the hash of each record last
// sent. It is used from one goroutine.
type Stream struct {
	info        *wire.HostInfo
	filesystems map[string]wire.MountedFilesystem
	interfaces  map[string]wire.NetInterface

	sentInfo        uint64
	sentFilesystems map[string]uint64
	sentInterfaces  map[string]uint64
	snapshotID      uint64
}

// New returns an empty Stream: its first Changes sends every record, but
// the agent starts with Snapshot.
func New() *Stream {
	return &Stream{filesystems: map[string]wire.MountedFilesystem{}, interfaces: map[string]wire.NetInterface{},
		sentFilesystems: map[string]uint64{}, sentInterfaces: map[string]uint64{}}
}

// Observe records r as the host's current state.
func (s *Stream) Observe(r Reading) {
	info := r.Info
	s.info = &info
	if r.Filesystems != nil {
		prev := s.filesystems
		s.filesystems = make(map[string]wire.MountedFilesystem, len(r.Filesystems))
		for _, f := range r.Filesystems {
			s.filesystems[f.Mountpoint] = f
		}
		for mp, f := range prev {
			if _, ok := s.filesystems[mp]; !ok && Failed(&r.Sample, "filesystem "+mp) {
				s.filesystems[mp] = f // mounted, but statfs failed this time
			}
		}
	}
	if r.Interfaces != nil {
		s.interfaces = make(map[string]wire.NetInterface, len(r.Interfaces))
		for _, i := range r.Interfaces {
			s.interfaces[i.Name] = i
		}
	}
}

// Changes returns the events of what changed since the records were last
// sent, at now: host_info when the record changed, a filesystem or
// interface record that is new or changed, a delete for one that was sent
// and is gone. (The record's errors count: a reading that starts or stops
// failing is a change.)
func (s *Stream) Changes(now time.Time) []wire.EncodedEvent {
	var out []wire.EncodedEvent
	if s.info != nil {
		if h := hash(s.info); h != s.sentInfo {
			s.sentInfo = h
			out = append(out, encode(wire.HostEvent{Type: wire.EventHostInfo, Time: now, Info: s.info}))
		}
	}
	out = append(out, changed(s.filesystems, s.sentFilesystems,
		func(f wire.MountedFilesystem) wire.HostEvent {
			return wire.HostEvent{Type: wire.EventFilesystem, Time: now, Filesystem: &f}
		},
		func(mp string) wire.HostEvent {
			return wire.HostEvent{Type: wire.EventFilesystemDelete, Time: now, FilesystemRef: &wire.FilesystemRef{Mountpoint: mp}}
		})...)
	return append(out, changed(s.interfaces, s.sentInterfaces,
		func(i wire.NetInterface) wire.HostEvent {
			return wire.HostEvent{Type: wire.EventInterface, Time: now, Interface: &i}
		},
		func(name string) wire.HostEvent {
			return wire.HostEvent{Type: wire.EventInterfaceDelete, Time: now, InterfaceRef: &wire.InterfaceRef{Name: name}}
		})...)
}

// changed returns, in key order, the events of the records of cur whose
// hash is not the one in sent (new or changed: upsert), then of the keys of
// sent no longer in cur (gone: del); sent is updated.
func changed[V any](cur map[string]V, sent map[string]uint64, upsert func(V) wire.HostEvent, del func(string) wire.HostEvent) []wire.EncodedEvent {
	var out []wire.EncodedEvent
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		if h := hash(cur[k]); sent[k] != h {
			sent[k] = h
			out = append(out, encode(upsert(cur[k])))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(sent)) {
		if _, ok := cur[k]; !ok {
			delete(sent, k)
			out = append(out, encode(del(k)))
		}
	}
	return out
}

// Snapshot returns a whole snapshot for reason at now: snapshot_begin,
// host_info, every filesystem and interface, snapshot_end; every record
// counts as sent. A receiver removes what the snapshot did not name.
func (s *Stream) Snapshot(reason string, now time.Time) []wire.EncodedEvent {
	s.snapshotID++
	mark := &wire.SnapshotMark{ID: s.snapshotID, Reason: reason}
	s.sentInfo = 0
	clear(s.sentFilesystems)
	clear(s.sentInterfaces)
	out := []wire.EncodedEvent{encode(wire.HostEvent{Type: wire.EventSnapshotBegin, Time: now, Snapshot: mark})}
	out = append(out, s.Changes(now)...)
	return append(out, encode(wire.HostEvent{Type: wire.EventSnapshotEnd, Time: now, Snapshot: mark}))
}

// Sample returns the host event of one sample; it fails only for a figure
// JSON cannot hold (NaN, ±Inf).
func Sample(hs wire.HostSample) (wire.EncodedEvent, error) {
	e := wire.HostEvent{Type: wire.EventHost, Time: hs.Time, Host: &hs}
	b, err := json.Marshal(e)
	if err != nil {
		return wire.EncodedEvent{}, fmt.Errorf("encode the host sample: %w", err)
	}
	return wire.EncodedEvent{Type: e.Type, Data: b}, nil
}

// encode marshals a record's event: records hold strings, integers and
// times only, which always marshal.
func encode(e wire.HostEvent) wire.EncodedEvent {
	b, err := json.Marshal(e)
	if err != nil {
		panic("hoststream: encode " + string(e.Type) + ": " + err.Error())
	}
	return wire.EncodedEvent{Type: e.Type, Data: b}
}

// hash is the FNV-1a hash of v's JSON; never 0 for a record (0 means
// "not sent").
func hash(v any) uint64 {
	b, err := json.Marshal(v)
	if err != nil {
		panic("hoststream: hash: " + err.Error())
	}
	h := fnv.New64a()
	_, _ = h.Write(b)
	if s := h.Sum64(); s != 0 {
		return s
	}
	return 1
}
