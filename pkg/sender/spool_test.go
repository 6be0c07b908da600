package sender

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/spool"
	"github.com/catops/cli/pkg/telemetry/prom/promtest"
	"github.com/catops/cli/pkg/wire"
)

func openSpool(t *testing.T, dir string, maxBytes int) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{MaxBytes: maxBytes})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sp.Close() })
	return sp
}

// A run that could not deliver leaves its events in the spool; the next
// run sends them first, under the first run's session and header, marked
// replay, then its own.
func TestSpoolSendsAnEarlierRunsEventsFirstUnderItsSession(t *testing.T) {
	dir := t.TempDir()
	down := newBackend(t, func(int, wire.Batch) (int, http.Header) { return http.StatusServiceUnavailable, nil })
	sp1 := openSpool(t, dir, 0)
	h1 := newSender(t, down.srv.URL, func(o *Options) {
		o.Spool, o.Session, o.AgentVersion = sp1, "run1", "1.0.0"
		o.Host, o.MachineID = "db-old", "0123456789abcdef0123456789abcdef" // a host stream's identity
	})
	h1.s.Enqueue(markEv(t, wire.EventSnapshotBegin, 1), podEv(t, "a"), markEv(t, wire.EventSnapshotEnd, 1))
	h1.s.Enqueue(podEv(t, "b"), hostEv(t, 7))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	assert.Equal(t, 5, h1.s.Flush(ctx), "nothing delivered")
	assert.Zero(t, promtest.Value(h1.metrics.EventsDropped.WithLabelValues(string(wire.EventPodUpsert), "shutdown")),
		"kept in the spool, not dropped")
	require.NoError(t, sp1.Close())

	up := newBackend(t, nil)
	sp2 := openSpool(t, dir, 0)
	h2 := newSender(t, up.srv.URL, func(o *Options) {
		o.Spool, o.Session, o.AgentVersion = sp2, "run2", "1.1.0"
		o.Host, o.MachineID = "db-new", "0123456789abcdef0123456789abcdef"
	})
	pending, _ := h2.s.Pending()
	assert.Equal(t, 5, pending, "the earlier run's events are pending at once")
	h2.s.Enqueue(markEv(t, wire.EventSnapshotBegin, 1), podEv(t, "b"), markEv(t, wire.EventSnapshotEnd, 1))
	h2.run(t)
	eventually(t, func() bool { return len(up.delivered()) == 8 }, "both runs' events delivered")
	assert.Equal(t, []string{"snapshot_begin", "a", "snapshot_end", "b", "host@7", "snapshot_begin", "b", "snapshot_end"}, up.delivered())

	calls := up.snapshot()
	first := calls[0].batch
	assert.Equal(t, "run1", first.Session)
	assert.Equal(t, uint64(1), first.Seq, "the batch in flight keeps its seq")
	assert.Equal(t, "run1-1", first.BatchID)
	assert.Equal(t, "1.0.0", first.AgentVersion, "an earlier run's batch carries that run's header")
	assert.Equal(t, "db-old", first.Host, "an earlier run's batch carries that run's host name")
	assert.Equal(t, "0123456789abcdef0123456789abcdef", first.MachineID)
	assert.True(t, first.Replay)
	assert.Equal(t, "run1", calls[0].header.Get(wire.HeaderSession))
	last := calls[len(calls)-1].batch
	assert.Equal(t, "run2", last.Session)
	assert.Equal(t, uint64(1), last.Seq, "the running session starts at 1")
	assert.False(t, last.Replay)
	assert.Equal(t, "db-new", last.Host)
	for _, c := range calls {
		for _, e := range c.batch.Events {
			if e.Type == wire.EventHost || e.Pod != nil && e.Pod.Name == "a" {
				assert.Equal(t, "run1", c.batch.Session, "%s was queued by the first run", eventName(e))
			}
		}
	}

	// Delivered: the spool is empty for the run after.
	cancel()
	eventually(t, func() bool { n, _ := h2.s.Pending(); return n == 0 }, "nothing pending")
}

// The backend applies a batch but its answer is lost; the agent is killed
// (no flush). The next run sends that batch again with the same seq: the
// reference receiver answers it as a duplicate, and every event is applied
// exactly once.
func TestSpoolReplayIsDedupedByTheBackend(t *testing.T) {
	rec := &receiver.Recorder{}
	rcv, err := receiver.New(receiver.Options{Token: testToken, OnBatch: rec.Record})
	require.NoError(t, err)
	var lose atomic.Bool
	type answer struct {
		session, seq string
		duplicate    bool
	}
	var mu sync.Mutex
	var second []answer // the answers to the second run's requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := httptest.NewRecorder()
		rcv.Handler().ServeHTTP(rw, r)
		if lose.Load() {
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				_ = conn.Close()
			}
			return
		}
		if r.Header.Get("X-Test-Run") == "2" {
			mu.Lock()
			second = append(second, answer{r.Header.Get(wire.HeaderSession), r.Header.Get(wire.HeaderSeq),
				strings.Contains(rw.Body.String(), `"duplicate":true`)})
			mu.Unlock()
		}
		w.WriteHeader(rw.Code)
		_, _ = w.Write(rw.Body.Bytes())
	}))
	defer srv.Close()

	dir := t.TempDir()
	sp1 := openSpool(t, dir, 0)
	h1 := newSender(t, srv.URL, func(o *Options) { o.Spool = sp1; o.Session = "run1" })
	h1.s.Enqueue(markEv(t, wire.EventSnapshotBegin, 1), podEv(t, "a"), markEv(t, wire.EventSnapshotEnd, 1))
	ctx1, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); h1.s.Run(ctx1) }()
	eventually(t, func() bool { n, _ := h1.s.Pending(); return n == 0 }, "start snapshot delivered")
	lose.Store(true)
	h1.s.Enqueue(podEv(t, "b")) // batch 2
	eventually(t, func() bool { return rcv.Stats().Duplicates >= 1 }, "batch applied, answer lost, sent again")
	h1.s.Enqueue(podEv(t, "c"))
	stop() // killed: no Flush
	<-stopped
	require.NoError(t, sp1.Close())
	lose.Store(false)

	sp2 := openSpool(t, dir, 0)
	h2 := newSender(t, srv.URL, func(o *Options) {
		o.Spool, o.Session = sp2, "run2"
		o.Client = &http.Client{Transport: tagRun{}}
	})
	h2.s.Enqueue(markEv(t, wire.EventSnapshotBegin, 1), podEv(t, "a"), podEv(t, "b"), podEv(t, "c"), markEv(t, wire.EventSnapshotEnd, 1))
	h2.run(t)
	eventually(t, func() bool { st, _ := rcv.Node("node-a"); return st.Session == "run2" && st.Snapshot == nil }, "second run's snapshot applied")
	mu.Lock()
	assert.Equal(t, []answer{{"run1", "2", true}, {"run1", "3", false}, {"run2", "1", false}}, second,
		"the batch in flight at the kill is sent again with its seq and recognised; then what the backend never had; then the new run")
	mu.Unlock()
	var names []string
	for _, b := range rec.Batches() {
		if b.Session == "run1" && b.Seq == 3 {
			assert.True(t, b.Replay)
			for _, e := range b.Events {
				names = append(names, eventName(e))
			}
		}
	}
	assert.Equal(t, []string{"c"}, names, "after the duplicate, only what the backend never had")
	var bs int
	for _, b := range rec.Batches() {
		for _, e := range b.Events {
			if b.Session == "run1" && e.Pod != nil && e.Pod.Name == "b" {
				bs++
			}
		}
	}
	assert.Equal(t, 1, bs, "b applied exactly once")
}

// A spool that cannot be written (here: its cap is reached) keeps the
// sender working from memory; a flush then drops what is left, as without
// a spool.
func TestDegradedSpoolFallsBackToMemory(t *testing.T) {
	sp := openSpool(t, t.TempDir(), 64<<10)
	down := newBackend(t, func(int, wire.Batch) (int, http.Header) { return http.StatusServiceUnavailable, nil })
	h := newSender(t, down.srv.URL, func(o *Options) { o.Spool = sp })
	h.s.Enqueue(podEv(t, "a"))
	require.False(t, sp.Degraded())
	h.s.Enqueue(podEv(t, strings.Repeat("b", 100<<10)))
	require.True(t, sp.Degraded(), "100 KiB do not fit under a 64 KiB cap")
	h.s.Enqueue(podEv(t, "c"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	assert.Equal(t, 3, h.s.Flush(ctx))
	assert.Equal(t, 3.0, promtest.Value(h.metrics.EventsDropped.WithLabelValues(string(wire.EventPodUpsert), "shutdown")),
		"a degraded spool holds nothing: the events are lost, and counted")
}

// A replayed batch that is too large splits like any other and stays in
// its session, with consecutive seqs.
func TestSpoolReplayedBatchSplitsWithinItsSession(t *testing.T) {
	dir := t.TempDir()
	down := newBackend(t, func(int, wire.Batch) (int, http.Header) { return http.StatusServiceUnavailable, nil })
	sp1 := openSpool(t, dir, 0)
	h1 := newSender(t, down.srv.URL, func(o *Options) { o.Spool = sp1; o.Session = "run1" })
	names := []string{"a", "b", "c", "d", "e"}
	for _, n := range names {
		h1.s.Enqueue(podEv(t, n))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h1.s.Flush(ctx)
	require.NoError(t, sp1.Close())

	be := newBackend(t, func(_ int, b wire.Batch) (int, http.Header) {
		if len(b.Events) > 2 {
			return http.StatusRequestEntityTooLarge, nil
		}
		return 0, nil
	})
	sp2 := openSpool(t, dir, 0)
	h2 := newSender(t, be.srv.URL, func(o *Options) { o.Spool = sp2; o.Session = "run2" })
	h2.s.Enqueue(podEv(t, "f"))
	h2.run(t)
	eventually(t, func() bool { return len(be.delivered()) == 6 }, "all delivered")
	assert.Equal(t, []string{"a", "b", "c", "d", "e", "f"}, be.delivered())
	var seqs []uint64
	for _, c := range be.snapshot() {
		if c.status == http.StatusOK && c.batch.Session == "run1" {
			seqs = append(seqs, c.batch.Seq)
		}
	}
	assert.Equal(t, []uint64{1, 2, 3}, seqs, "run1's batches, split, keep consecutive seqs")
}

// tagRun marks the second run's requests, to tell them from the first's
// that may still be arriving.
type tagRun struct{}

func (tagRun) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Test-Run", "2")
	return http.DefaultTransport.RoundTrip(r)
}

// The batch in flight at a kill that the backend refuses (400) after the
// restart gives its seq back: the rest of the earlier session follows
// without a gap, so no 409 drops it.
func TestSpoolRefusedReplayedBatchLeavesNoGap(t *testing.T) {
	rec := &receiver.Recorder{}
	rcv, err := receiver.New(receiver.Options{Token: testToken, OnBatch: rec.Record})
	require.NoError(t, err)
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rcv.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()

	dir := t.TempDir()
	sp1 := openSpool(t, dir, 0)
	h1 := newSender(t, srv.URL, func(o *Options) { o.Spool = sp1; o.Session = "run1" })
	h1.s.Enqueue(markEv(t, wire.EventSnapshotBegin, 1), podEv(t, "a"), markEv(t, wire.EventSnapshotEnd, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.Zero(t, h1.s.Flush(ctx), "the start snapshot is delivered")
	down.Store(true)
	h1.s.Enqueue(podEv(t, ""), podEv(t, "y"), podEv(t, "z")) // a pod without a name: the receiver refuses it
	require.Equal(t, 3, h1.s.Flush(ctx), "batch 2 formed, not delivered")
	require.NoError(t, sp1.Close())
	down.Store(false)

	sp2 := openSpool(t, dir, 0)
	h2 := newSender(t, srv.URL, func(o *Options) { o.Spool = sp2; o.Session = "run2" })
	require.Zero(t, h2.s.Flush(ctx))
	var names []string
	for _, b := range rec.Batches() {
		if b.Session == "run1" && b.Replay {
			assert.Equal(t, uint64(2), b.Seq, "the refused event's seq is given back")
			for _, e := range b.Events {
				names = append(names, eventName(e))
			}
		}
	}
	assert.Equal(t, []string{"y", "z"}, names)
	assert.Zero(t, rcv.Stats().Conflicts, "no gap, so no 409")
}
