package bench

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
)

// Sink is the reference receiver on a loopback port, noting when each pod
// was first upserted and first deleted.
type Sink struct {
	URL string
	R   *receiver.Receiver
	srv *http.Server

	mu       sync.Mutex
	upserted map[string]time.Time
	deleted  map[string]time.Time
	keep     bool         // keep usage events (KeepUsage)
	usages   []wire.Usage // the usage events kept, in arrival order
}

// maxKeptUsages bounds the usage events a sink keeps: a detail window at
// the default 10 s interval has a few dozen.
const maxKeptUsages = 512

// KeepUsage makes the sink keep the usage events it receives from now on
// (the latest maxKeptUsages); Usages returns them.
func (s *Sink) KeepUsage() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keep = true
}

// Usages returns the usage events kept since KeepUsage, oldest first.
func (s *Sink) Usages() []wire.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Usage(nil), s.usages...)
}

// NewSink starts a receiver accepting token.
func NewSink(token string) (*Sink, error) {
	s := &Sink{upserted: map[string]time.Time{}, deleted: map[string]time.Time{}}
	r, err := receiver.New(receiver.Options{Token: token, OnBatch: s.onBatch})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.R, s.URL = r, "http://"+l.Addr().String()
	s.srv = &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Close stops the server.
func (s *Sink) Close() { _ = s.srv.Close() }

func (s *Sink) onBatch(b *wire.Batch) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range b.Events {
		switch {
		case e.Type == wire.EventPodUpsert && e.Pod != nil:
			k := receiver.PodKey(e.Pod.Namespace, e.Pod.Name)
			if _, ok := s.upserted[k]; !ok {
				s.upserted[k] = now
			}
		case e.Type == wire.EventPodDelete && e.PodRef != nil:
			k := receiver.PodKey(e.PodRef.Namespace, e.PodRef.Name)
			if _, ok := s.deleted[k]; !ok {
				s.deleted[k] = now
			}
		case e.Type == wire.EventUsage && e.Usage != nil && s.keep:
			if len(s.usages) == maxKeptUsages {
				s.usages = s.usages[1:]
			}
			s.usages = append(s.usages, *e.Usage)
		}
	}
}

// Arrived returns when the pod was first upserted (deleted: first deleted)
// at the receiver.
func (s *Sink) Arrived(key string, deleted bool) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.upserted
	if deleted {
		m = s.deleted
	}
	t, ok := m[key]
	return t, ok
}

// Bytes is what node's agent sent on the wire so far (request bodies as
// sent, gzip-compressed or not).
func (s *Sink) Bytes(node string) uint64 {
	st, _ := s.R.Node(node)
	return st.Counters.BytesReceived
}
