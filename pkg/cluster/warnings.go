package cluster

import (
	"slices"
	"strings"

	"github.com/catops/cli/pkg/wire"
)

// warningMemory remembers the most recent warnings, at most max of them
// (the one seen longest ago is forgotten first), with the count each was
// last sent with: a warning that repeats (a crash loop's BackOff, counted
// up by the kubelet on the same Event) is one record whose count grows,
// sent again at most once per interval, not one record per repeat.
type warningMemory struct {
	max     int
	entries map[string]*warningEntry
}

type warningEntry struct {
	w     *wire.Warning
	dirty bool // changed since it was last sent
}

// What observe found.
type observation int

const (
	unchanged observation = iota
	firstSeen             // not remembered before: send it now
	repeated              // its count or last time changed: sent with the next interval
)

func newWarningMemory(max int) *warningMemory {
	return &warningMemory{max: max, entries: map[string]*warningEntry{}}
}

// observe remembers w, forgetting the warning seen longest ago when full.
func (m *warningMemory) observe(w *wire.Warning) observation {
	if e, ok := m.entries[w.UID]; ok {
		if e.w.Count == w.Count && e.w.LastSeen.Equal(w.LastSeen) && e.w.Message == w.Message {
			return unchanged
		}
		e.w, e.dirty = w, true
		return repeated
	}
	if len(m.entries) >= m.max {
		var oldest *warningEntry
		for _, e := range m.entries {
			if oldest == nil || e.w.LastSeen.Before(oldest.w.LastSeen) {
				oldest = e
			}
		}
		if oldest.w.LastSeen.After(w.LastSeen) {
			return unchanged // older than everything remembered
		}
		delete(m.entries, oldest.w.UID)
	}
	m.entries[w.UID] = &warningEntry{w: w, dirty: true}
	return firstSeen
}

// take returns the warning with uid for sending, marking it sent.
func (m *warningMemory) take(uid string) *wire.Warning {
	e := m.entries[uid]
	e.dirty = false
	return e.w
}

// takeDirty returns the warnings changed since they were sent, oldest
// first, marking them sent.
func (m *warningMemory) takeDirty() []*wire.Warning {
	var out []*wire.Warning
	for _, e := range m.entries {
		if e.dirty {
			e.dirty = false
			out = append(out, e.w)
		}
	}
	sortWarnings(out)
	return out
}

// all returns every remembered warning, oldest first, marking them sent.
func (m *warningMemory) all() []*wire.Warning {
	out := make([]*wire.Warning, 0, len(m.entries))
	for _, e := range m.entries {
		e.dirty = false
		out = append(out, e.w)
	}
	sortWarnings(out)
	return out
}

func (m *warningMemory) len() int { return len(m.entries) }

func sortWarnings(ws []*wire.Warning) {
	slices.SortFunc(ws, func(a, b *wire.Warning) int {
		if c := a.LastSeen.Compare(b.LastSeen); c != 0 {
			return c
		}
		return strings.Compare(a.UID, b.UID)
	})
}
