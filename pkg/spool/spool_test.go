package spool

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/telemetry/prom"
	"github.com/catops/cli/pkg/telemetry/prom/promtest"
	"github.com/catops/cli/pkg/wire"
)

func ev(t wire.EventType, n int) wire.EncodedEvent {
	return wire.EncodedEvent{Type: t, Data: json.RawMessage(fmt.Sprintf(`{"type":%q,"n":%d}`, t, n))}
}

func open(t *testing.T, dir string, maxBytes int) (*Spool, *telemetry.Metrics) {
	t.Helper()
	m := prom.New(prometheus.NewRegistry(), telemetry.All)
	s, err := Open(dir, Options{MaxBytes: maxBytes, Metrics: m})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, m
}

func TestWhatIsLeftIsReadBackInOrder(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, 0)
	assert.Empty(t, s.Replay().Records)
	s.Begin(Session{ID: "s1", Node: "n1", Namespace: "catops", AgentVersion: "1.2.3"})
	first := s.Append("", []wire.EncodedEvent{ev(wire.EventSnapshotBegin, 1), ev(wire.EventPodUpsert, 2), ev(wire.EventSnapshotEnd, 3)})
	s.Form(InFlight{Session: "s1", Seq: 1, FirstID: first, LastID: first + 2})
	s.Finish("s1", []uint64{first, first + 1, first + 2}, 1) // acknowledged
	next := s.Append("", []wire.EncodedEvent{ev(wire.EventPodUpsert, 4), ev(wire.EventHost, 5), ev(wire.EventPodDelete, 6)})
	assert.Equal(t, first+3, next)
	s.Remove([]uint64{next + 1}) // the host sample was dropped (overflow)
	s.Form(InFlight{Session: "s1", Seq: 2, FirstID: next, LastID: next})
	require.NoError(t, s.Close())

	s2, m := open(t, dir, 0)
	c := s2.Replay()
	require.Len(t, c.Records, 2)
	assert.Equal(t, Record{ID: next, Session: "s1", Event: ev(wire.EventPodUpsert, 4)}, c.Records[0])
	assert.Equal(t, Record{ID: next + 2, Session: "s1", Event: ev(wire.EventPodDelete, 6)}, c.Records[1])
	assert.Equal(t, map[string]Session{"s1": {ID: "s1", Node: "n1", Namespace: "catops", AgentVersion: "1.2.3", LastSeq: 2}}, c.Sessions)
	assert.Equal(t, &InFlight{Session: "s1", Seq: 2, FirstID: next, LastID: next}, c.InFlight)
	assert.Zero(t, c.Skipped)
	assert.Equal(t, 2.0, promtest.Value(m.SpoolReplayedEvents))
	assert.Empty(t, s2.Replay().Records, "Replay gives the contents once")

	// A new run appends after the old records, under its own session.
	s2.Begin(Session{ID: "s2", Node: "n1"})
	assert.Equal(t, next+3, s2.Append("", []wire.EncodedEvent{ev(wire.EventSnapshotBegin, 7)}))
}

func TestSessionsWithoutRecordsAndStaleInFlightAreForgotten(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, 0)
	s.Begin(Session{ID: "old", Node: "n1"})
	id := s.Append("", []wire.EncodedEvent{ev(wire.EventPodUpsert, 1)})
	s.Form(InFlight{Session: "old", Seq: 5, FirstID: id, LastID: id})
	s.Finish("old", []uint64{id}, 5)
	s.Form(InFlight{Session: "old", Seq: 6, FirstID: id + 10, LastID: id + 11}) // names no stored record
	require.NoError(t, s.Close())

	s2, _ := open(t, dir, 0)
	c := s2.Replay()
	assert.Empty(t, c.Records)
	assert.Empty(t, c.Sessions)
	assert.Nil(t, c.InFlight)
}

func TestRecordsOfAnotherSessionAreKeptWithTheirHeader(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, 0)
	s.Begin(Session{ID: "s2", Node: "n1"})
	// Records replayed from s1 are queued again under s1 by the sender
	// only in memory; here: a batch of s1 formed by the run of s2.
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		return putSession(tx, Session{ID: "s1", Node: "n1", LastSeq: 3})
	}))
	id := s.Append("s1", []wire.EncodedEvent{ev(wire.EventPodUpsert, 1)})
	s.Form(InFlight{Session: "s1", Seq: 4, FirstID: id, LastID: id})
	s.Append("", []wire.EncodedEvent{ev(wire.EventSnapshotBegin, 2)})
	require.NoError(t, s.Close())

	c := func() Contents { s2, _ := open(t, dir, 0); return s2.Replay() }()
	require.Len(t, c.Records, 2)
	assert.Equal(t, "s1", c.Records[0].Session)
	assert.Equal(t, "s2", c.Records[1].Session)
	assert.Equal(t, uint64(4), c.Sessions["s1"].LastSeq)
	assert.Equal(t, uint64(0), c.Sessions["s2"].LastSeq)
	assert.Equal(t, &InFlight{Session: "s1", Seq: 4, FirstID: id, LastID: id}, c.InFlight)
}

func TestUnreadableRecordsAreSkippedAndCounted(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, 0)
	s.Begin(Session{ID: "s1", Node: "n1"})
	id := s.Append("", []wire.EncodedEvent{ev(wire.EventPodUpsert, 1), ev(wire.EventPodUpsert, 2), ev(wire.EventPodUpsert, 3)})
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		if err := b.Put(idKey(id+1), []byte{recordVersion, 2, 's', '1', 3, 'p'}); err != nil { // cut short
			return err
		}
		return b.Put([]byte("junk"), []byte("x"))
	}))
	require.NoError(t, s.Close())

	s2, m := open(t, dir, 0)
	c := s2.Replay()
	require.Len(t, c.Records, 2)
	assert.Equal(t, []uint64{id, id + 2}, []uint64{c.Records[0].ID, c.Records[1].ID})
	assert.Equal(t, 2, c.Skipped)
	assert.Equal(t, 2.0, promtest.Value(m.SpoolSkippedRecords))
}

// A file damaged anywhere (cut short, bytes flipped) never stops the agent:
// it is moved aside, counted, and an empty spool starts.
func TestDamagedFileIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, 0)
	s.Begin(Session{ID: "s1", Node: "n1"})
	for i := range 200 {
		s.Append("", []wire.EncodedEvent{ev(wire.EventPodUpsert, i)})
	}
	require.NoError(t, s.Close())
	good, err := os.ReadFile(filepath.Join(dir, FileName))
	require.NoError(t, err)

	damages := map[string]func([]byte) []byte{
		"empty":        func(b []byte) []byte { return nil },
		"half a page":  func(b []byte) []byte { return b[:2048] },
		"cut in half":  func(b []byte) []byte { return b[:len(b)/2] },
		"meta flipped": func(b []byte) []byte { b = append([]byte(nil), b...); b[20] ^= 0xff; b[4096+20] ^= 0xff; return b },
		"all zeros":    func(b []byte) []byte { return make([]byte, len(b)) },
		"pages flipped": func(b []byte) []byte {
			b = append([]byte(nil), b...)
			for i := 2 * 4096; i < len(b); i += 97 {
				b[i] ^= 0x5a
			}
			return b
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(d, FileName), damage(good), 0o600))
			m := prom.New(prometheus.NewRegistry(), telemetry.All)
			s, err := Open(d, Options{Metrics: m})
			require.NoError(t, err)
			defer s.Close()
			c := s.Replay()
			// Either the damage was confined to records (skipped) or the
			// file was moved aside; never a panic, never invented records.
			for _, r := range c.Records {
				assert.True(t, json.Valid(r.Event.Data))
			}
			if name == "empty" {
				assert.Empty(t, c.Records, "an empty file is a new spool")
			} else if promtest.Value(m.SpoolSkippedRecords) == 0 {
				assert.Len(t, c.Records, 200, "nothing counted, so everything must be there")
			}
			s.Begin(Session{ID: "s2", Node: "n1"})
			s.Append("", []wire.EncodedEvent{ev(wire.EventSnapshotBegin, 1)})
			assert.False(t, s.Degraded(), "a fresh spool works")
		})
	}
}

func TestFullSpoolDegradesToMemoryAndRecovers(t *testing.T) {
	dir := t.TempDir()
	s, m := open(t, dir, 1<<20)
	now := time.Now()
	s.opts.Now = func() time.Time { return now }
	s.Begin(Session{ID: "s1", Node: "n1"})
	big := wire.EncodedEvent{Type: wire.EventPodUpsert, Data: json.RawMessage(`"` + strings.Repeat("x", 64<<10) + `"`)}
	var ids []uint64
	for range 40 { // 2.5 MiB > the 1 MiB cap
		ids = append(ids, s.Append("", []wire.EncodedEvent{big}))
		if s.Degraded() {
			break
		}
	}
	require.True(t, s.Degraded())
	assert.Equal(t, 1.0, promtest.Value(m.SpoolDegraded))
	assert.Equal(t, 1.0, promtest.Value(m.SpoolWriteFailures.WithLabelValues("full")))
	_, err := os.Stat(filepath.Join(dir, FileName))
	assert.ErrorIs(t, err, os.ErrNotExist, "a file that no longer matches the queue is removed")
	// Ids keep coming while degraded; calls are harmless.
	next := s.Append("", []wire.EncodedEvent{ev(wire.EventHost, 1)})
	assert.Equal(t, ids[len(ids)-1]+1, next)
	s.Remove(ids)
	s.Finish("s1", ids, 1)

	s.Reset() // within a minute of the failure: not yet
	assert.True(t, s.Degraded())
	now = now.Add(2 * time.Minute)
	s.Reset()
	require.False(t, s.Degraded())
	assert.Equal(t, 0.0, promtest.Value(m.SpoolDegraded))
	id := s.Append("", []wire.EncodedEvent{ev(wire.EventPodUpsert, 2)})
	require.NoError(t, s.Close())

	c := func() Contents { s2, _ := open(t, dir, 1<<20); return s2.Replay() }()
	require.Len(t, c.Records, 1)
	assert.Equal(t, id, c.Records[0].ID)
	assert.Equal(t, uint64(1), c.Sessions["s1"].LastSeq, "the running session is written again in the fresh file")
}

func TestUnusableDirectoryIsAnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err := Open(filepath.Join(file, "spool"), Options{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "\n")
	assert.Contains(t, err.Error(), "spool")
}

// TestKilledWriterLeavesAReadableSpool kills a process that writes the
// spool as fast as it can, at a different moment each round, with SIGKILL:
// every reopen must read whole records in order, with the writer's last
// acknowledged id (printed after each commit) there and the removal
// committed before it done.
func TestKilledWriterLeavesAReadableSpool(t *testing.T) {
	if os.Getenv("SPOOL_WRITER_DIR") != "" {
		writer(os.Getenv("SPOOL_WRITER_DIR"))
		return
	}
	if testing.Short() {
		t.Skip("runs a child process 10 times")
	}
	dir := t.TempDir()
	for round := range 10 {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestKilledWriterLeavesAReadableSpool$")
		cmd.Env = append(os.Environ(), "SPOOL_WRITER_DIR="+dir)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		// Let it write for a while that differs each round, then kill it.
		buf := make([]byte, 1<<16)
		var seen string
		deadline := time.Now().Add(time.Duration(50+37*round) * time.Millisecond)
		for time.Now().Before(deadline) || strings.Count(seen, "\n") < 3 {
			n, rerr := out.Read(buf)
			seen += string(buf[:n])
			if rerr != nil {
				break
			}
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		lines := strings.Fields(seen)
		require.NotEmpty(t, lines, "round %d: the writer printed nothing", round)
		lastAcked, err := strconv.ParseUint(lines[len(lines)-2], 10, 64) // the last line may be cut
		require.NoError(t, err)

		s, m := open(t, dir, 0)
		c := s.Replay()
		assert.Zero(t, c.Skipped, "round %d", round)
		assert.Zero(t, promtest.Value(m.SpoolSkippedRecords), "round %d", round)
		require.NotEmpty(t, c.Records, "round %d", round)
		ids := map[uint64]bool{}
		for i, r := range c.Records {
			ids[r.ID] = true
			if i > 0 {
				assert.Greater(t, r.ID, c.Records[i-1].ID, "round %d: records in order", round)
			}
			assert.Equal(t, ev(wire.EventPodUpsert, int(r.ID)), r.Event, "round %d: record %d is whole", round, r.ID)
		}
		assert.True(t, ids[lastAcked], "round %d: committed record %d is there", round, lastAcked)
		assert.False(t, ids[lastAcked-500], "round %d: a committed removal holds", round)
		require.NoError(t, s.Close())
	}
}

// writer appends records and removes old ones forever, printing each
// committed id.
func writer(dir string) {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s.Replay()
	s.Begin(Session{ID: "w", Node: "n1"})
	for {
		id := s.nextID
		s.Append("", []wire.EncodedEvent{ev(wire.EventPodUpsert, int(id))})
		if id > 500 {
			s.Remove([]uint64{id - 500})
		}
		fmt.Println(id)
	}
}

// A disk already full at start does not stop the agent: the spool starts
// degraded and is tried again once the queue drains.
func TestFullDiskAtStartDegrades(t *testing.T) {
	assert.True(t, transient(fmt.Errorf("write spool.db: %w", syscall.ENOSPC)))
	assert.True(t, transient(fmt.Errorf("write spool.db: %w", syscall.EIO)))
	assert.False(t, unusable(fmt.Errorf("write spool.db: %w", syscall.ENOSPC)))
	assert.True(t, unusable(&os.PathError{Op: "open", Path: "spool.db", Err: syscall.EACCES}))
	assert.True(t, unusable(&os.PathError{Op: "open", Path: "spool.db", Err: syscall.EROFS}))

	// A cap below bbolt's first allocation is a full disk at start.
	m := prom.New(prometheus.NewRegistry(), telemetry.All)
	s, err := Open(t.TempDir(), Options{MaxBytes: 4096, Metrics: m})
	require.NoError(t, err, "a full disk is not a reason not to start")
	defer s.Close()
	assert.True(t, s.Degraded())
	assert.Equal(t, 1.0, promtest.Value(m.SpoolDegraded))
	assert.Equal(t, 1.0, promtest.Value(m.SpoolWriteFailures.WithLabelValues("full")))
	assert.Empty(t, s.Replay().Records)
	s.Begin(Session{ID: "s1", Node: "n1"})
	s.Append("", []wire.EncodedEvent{ev(wire.EventPodUpsert, 1)}) // harmless
}

// Compacting a healthy spool is not a recovery: nothing is logged, the
// gauge stays 0; a compaction that fails degrades like a failed write.
func TestCompactionOfAHealthySpool(t *testing.T) {
	dir := t.TempDir()
	s, m := open(t, dir, 4<<20)
	s.Begin(Session{ID: "s1", Node: "n1", LastSeq: 7})
	big := wire.EncodedEvent{Type: wire.EventPodUpsert, Data: json.RawMessage(`"` + strings.Repeat("x", 64<<10) + `"`)}
	var ids []uint64
	for range 24 { // 1.5 MiB > a quarter of the cap
		ids = append(ids, s.Append("", []wire.EncodedEvent{big}))
	}
	require.False(t, s.Degraded())
	s.Finish("s1", ids, 8)
	before := s.size()
	require.Greater(t, before, int64(1<<20))
	s.Reset()
	require.False(t, s.Degraded())
	assert.Less(t, s.size(), before, "a fresh, small file")
	assert.Equal(t, 0.0, promtest.Value(m.SpoolDegraded))
	assert.Equal(t, 0.0, promtest.Value(m.SpoolWriteFailures.WithLabelValues("error")))
	require.NoError(t, s.Close())
	c := func() Contents { s2, _ := open(t, dir, 4<<20); return s2.Replay() }()
	assert.Empty(t, c.Records)
}

// With ids appended in order and pages packed full, a spool of 4x the
// queue's bound holds a full queue of small or large events.
func TestSpoolHoldsAFullQueueAtFourTimesItsBound(t *testing.T) {
	const queue = 1 << 20
	for _, size := range []int{200, 1000, 3000, 5000} {
		s, _ := open(t, t.TempDir(), 4*queue)
		s.Begin(Session{ID: "s1", Node: "n1"})
		data := json.RawMessage(`"` + strings.Repeat("x", size-2) + `"`)
		for held := 0; held < queue; held += size {
			s.Append("", []wire.EncodedEvent{{Type: wire.EventPodUpsert, Data: data}})
		}
		assert.False(t, s.Degraded(), "%d-byte events", size)
	}
}
