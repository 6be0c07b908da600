// Package spool keeps the sender's queue on disk, so that events the backend
// has not acknowledged survive a restart of the agent (an OOM kill, a crash,
// SIGKILL). It is a write-ahead copy of the queue: every event is written
// before it can be sent, every batch formed from the queue is recorded with
// its session and seq before it is sent, and events leave the spool when the
// backend acknowledges them or the sender drops them. The next run reads
// what is left and sends it first, under the sessions and seqs it was
// given, so a backend that dedupes on (session, seq) applies each batch once.
//
// The store is one bbolt file (spool.db in the directory): every change is
// one transaction, so a process killed at any instant leaves either the
// change or nothing, never a torn record. Writes are not fsync'd: the spool
// survives the death of the process, not of the machine; a file a machine
// crash left inconsistent is usually detected (bbolt checksums its meta
// pages only), moved aside (spool.db.corrupt), and the agent starts with
// an empty spool.
//
// A write that fails (disk full, the size cap reached, an I/O error)
// degrades the spool: the file is removed and events are kept in memory
// only (catops_spool_degraded 1) until the queue drains, when a fresh file
// is tried again.
package spool

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"

	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/wire"
)

// FileName is the spool's file in its directory.
const FileName = "spool.db"

var (
	bucketEvents   = []byte("events")   // 8-byte big-endian id → record
	bucketSessions = []byte("sessions") // session id → JSON Session
	bucketState    = []byte("state")    // keyInFlight → JSON InFlight
	keyInFlight    = []byte("inflight")
)

// recordVersion is the first byte of every stored event record.
const recordVersion = 1

// Options configure a Spool.
type Options struct {
	// MaxBytes caps the file's size; a write that would grow it past the
	// cap degrades the spool. Zero: 64 MiB.
	MaxBytes int
	Logger   *zap.Logger
	Metrics  *telemetry.Metrics
	Now      func() time.Time // default time.Now
}

// Session is what the spool keeps of a session: the batch header fields
// its batches carry, and the seq of the last batch formed from its events.
type Session struct {
	ID           string `json:"id"`
	Node         string `json:"node"`
	Host         string `json:"host,omitempty"`
	MachineID    string `json:"machine_id,omitempty"`
	Namespace    string `json:"namespace,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
	LastSeq      uint64 `json:"last_seq"`
}

// Record is one queued event: ID orders records across runs, Session names
// the session it was queued under.
type Record struct {
	ID      uint64
	Session string
	Event   wire.EncodedEvent
}

// InFlight is the batch formed last and not yet acknowledged or dropped:
// the records of Session with FirstID ≤ ID ≤ LastID, sent as Seq.
type InFlight struct {
	Session string `json:"session"`
	Seq     uint64 `json:"seq"`
	FirstID uint64 `json:"first_id"`
	LastID  uint64 `json:"last_id"`
}

// Contents is what an earlier run left in the spool.
type Contents struct {
	// Sessions that still have records, by ID.
	Sessions map[string]Session
	// Records in the order they were queued.
	Records []Record
	// InFlight is the batch that was being sent, or nil.
	InFlight *InFlight
	// Skipped counts records that could not be read and were left out.
	Skipped int
}

// Spool is the on-disk copy of the send queue. Its methods are called by
// the sender with the sender's lock held, one at a time; they never fail:
// a write error degrades the spool (see the package doc).
type Spool struct {
	path string
	opts Options

	db       *bolt.DB // nil while degraded
	nextID   uint64
	current  Session // the running session, written again after a reset
	contents *Contents
	// retryAt is the earliest time Reset opens a fresh file after a
	// degradation, so a disk that stays full is not retried in a loop.
	retryAt time.Time
}

// Open opens (or creates) the spool in dir and reads what an earlier run
// left. It fails only when dir cannot be used at all (not creatable, not
// writable): a file it cannot read is moved aside and a fresh one started.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Metrics == nil {
		opts.Metrics = telemetry.Discard()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil { //nolint:gosec // G703: the directory is the operator's setting
		return nil, fmt.Errorf("create spool directory: %w", err)
	}
	s := &Spool{path: filepath.Join(dir, FileName), opts: opts}
	c, err := s.openAndRead()
	if err != nil {
		if unusable(err) {
			s.closeDB()
			return nil, fmt.Errorf("open spool %s: %w", s.path, err)
		}
		if transient(err) { // a full disk: the node most needs watching then
			s.degrade("open", err)
			s.contents = &Contents{}
			return s, nil
		}
		aside := s.path + ".corrupt"
		s.closeDB()
		if rerr := os.Rename(s.path, aside); rerr != nil && !errors.Is(rerr, os.ErrNotExist) { //nolint:gosec // G703: in the operator's directory
			return nil, fmt.Errorf("open spool %s: %w (and cannot move it aside: %w)", s.path, err, rerr)
		}
		opts.Logger.Warn("Spool file unreadable; moved it aside and started an empty spool",
			zap.String("path", s.path), zap.String("movedTo", aside), zap.Error(err))
		opts.Metrics.SpoolSkippedRecords.Inc()
		if c, err = s.openAndRead(); err != nil {
			return nil, fmt.Errorf("open spool %s: %w", s.path, err)
		}
	}
	s.contents = c
	opts.Metrics.SpoolSkippedRecords.Add(float64(c.Skipped))
	s.updateSize()
	return s, nil
}

// openAndRead opens the file and reads it whole. A page fault or a panic
// in bbolt on a damaged file is turned into an error.
func (s *Spool) openAndRead() (c *Contents, err error) {
	defer func(old bool) {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = fmt.Errorf("read spool: %v", r)
		}
	}(debug.SetPanicOnFault(true))
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{
		Timeout:    time.Second, // another process holds the file
		NoSync:     true,        // see the package doc: process death, not machine crash
		NoGrowSync: true,
		MaxSize:    s.opts.MaxBytes,
	})
	if err != nil {
		return nil, err
	}
	db.AllocSize = 1 << 20 // grow by 1 MiB, not bbolt's 16 MiB: the cap is small
	s.db = db
	c = &Contents{Sessions: map[string]Session{}}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketSessions, bucketState} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return read(tx, c, &s.nextID)
	})
	return c, err
}

// unusable reports whether an Open error says the directory or the file
// cannot be used at all (permissions, a read-only filesystem, another
// process holding the file): the operator must fix it.
func unusable(err error) bool {
	for _, e := range []error{syscall.EACCES, syscall.EPERM, syscall.EROFS, syscall.ENOTDIR, syscall.EISDIR, berrors.ErrTimeout} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// transient reports whether an error is about room or the device (a full
// disk, a quota, an I/O error): the spool degrades and tries again later.
func transient(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EFBIG, berrors.ErrMaxSizeReached} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// read fills c from the file, drops sessions without records and an
// in-flight batch whose records are not at the head, and sets next to the
// first free id.
func read(tx *bolt.Tx, c *Contents, next *uint64) error {
	var bad [][]byte
	err := tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			bad = append(bad, k)
			return nil
		}
		id := binary.BigEndian.Uint64(k)
		*next = max(*next, id)
		rec, ok := decodeRecord(id, v)
		if !ok {
			bad = append(bad, k)
			return nil
		}
		c.Records = append(c.Records, rec)
		return nil
	})
	if err != nil {
		return err
	}
	*next++
	events := tx.Bucket(bucketEvents)
	for _, k := range bad {
		c.Skipped++
		if err := events.Delete(k); err != nil {
			return err
		}
	}
	used := map[string]bool{}
	for _, r := range c.Records {
		used[r.Session] = true
	}
	sessions := tx.Bucket(bucketSessions)
	var unused [][]byte
	err = sessions.ForEach(func(k, v []byte) error {
		if s, ok := decodeSession(k, v); ok && used[s.ID] {
			c.Sessions[s.ID] = s
		} else {
			unused = append(unused, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range unused {
		if err := sessions.Delete(k); err != nil {
			return err
		}
	}
	// Records of a session the spool has no header for cannot be sent.
	kept := c.Records[:0]
	for _, r := range c.Records {
		if _, ok := c.Sessions[r.Session]; ok {
			kept = append(kept, r)
			continue
		}
		c.Skipped++
		if err := events.Delete(idKey(r.ID)); err != nil {
			return err
		}
	}
	c.Records = kept
	state := tx.Bucket(bucketState)
	var f InFlight
	if v := state.Get(keyInFlight); v != nil && json.Unmarshal(v, &f) == nil &&
		len(c.Records) > 0 && c.Records[0].Session == f.Session && c.Records[0].ID >= f.FirstID && c.Records[0].ID <= f.LastID {
		c.InFlight = &f
	}
	if c.InFlight == nil {
		return state.Delete(keyInFlight)
	}
	return nil
}

// Replay returns what the earlier run left, once; later calls return an
// empty Contents.
func (s *Spool) Replay() Contents {
	c := s.contents
	s.contents = nil
	if c == nil {
		return Contents{}
	}
	s.opts.Metrics.SpoolReplayedEvents.Add(float64(len(c.Records)))
	return *c
}

// Begin records the running session's header.
func (s *Spool) Begin(sess Session) {
	s.current = sess
	s.update("begin", func(tx *bolt.Tx) error { return putSession(tx, sess) })
}

// Append stores events queued under session ("" is the running session)
// and returns the id of the first; the others follow one by one. Ids are
// given even while the spool is degraded.
func (s *Spool) Append(session string, evs []wire.EncodedEvent) (first uint64) {
	first = s.nextID
	s.nextID += uint64(len(evs))
	if session == "" {
		session = s.current.ID
	}
	s.update("append", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		b.FillPercent = 1 // ids only grow: pack pages full rather than half
		for i, ev := range evs {
			if err := b.Put(idKey(first+uint64(i)), encodeRecord(session, ev)); err != nil {
				return err
			}
		}
		return nil
	})
	return first
}

// Remove deletes records the sender dropped from its queue.
func (s *Spool) Remove(ids []uint64) {
	if len(ids) == 0 {
		return
	}
	s.update("remove", func(tx *bolt.Tx) error { return deleteIDs(tx, ids) })
}

// Form records the batch in flight (a new one, or the first half left of a
// split one): its session's last seq becomes f.Seq.
func (s *Spool) Form(f InFlight) {
	s.noteSeq(f.Session, f.Seq)
	s.update("form", func(tx *bolt.Tx) error {
		if err := s.setLastSeq(tx, f.Session, f.Seq); err != nil {
			return err
		}
		v, _ := json.Marshal(f)
		return tx.Bucket(bucketState).Put(keyInFlight, v)
	})
}

// Finish ends the batch in flight: its records (ids) leave the spool and
// its session's last seq becomes lastSeq (the batch's seq, or one less when
// the seq was given back).
func (s *Spool) Finish(session string, ids []uint64, lastSeq uint64) {
	s.noteSeq(session, lastSeq)
	s.update("finish", func(tx *bolt.Tx) error {
		if err := deleteIDs(tx, ids); err != nil {
			return err
		}
		if err := s.setLastSeq(tx, session, lastSeq); err != nil {
			return err
		}
		return tx.Bucket(bucketState).Delete(keyInFlight)
	})
}

// Degraded reports whether events are kept in memory only.
func (s *Spool) Degraded() bool { return s.db == nil }

// Reset is called when the queue is empty: a degraded spool then tries a
// fresh file (at most once a minute), and a healthy one whose file grew
// past a quarter of the cap starts a fresh, small file.
func (s *Spool) Reset() {
	now := s.opts.Now()
	degraded := s.db == nil
	if !degraded && s.size() <= int64(s.opts.MaxBytes/4) {
		return
	}
	if degraded && now.Before(s.retryAt) {
		return
	}
	s.closeDB()
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		// The old records would be read back as new ones.
		s.degrade("reset", err)
		return
	}
	if _, err := s.openAndRead(); err != nil {
		s.degrade("reset", err)
		return
	}
	if s.current.ID != "" {
		s.Begin(s.current)
	}
	if degraded && s.db != nil {
		s.opts.Metrics.SpoolDegraded.Set(0)
		s.opts.Logger.Info("Spool in use again", zap.String("path", s.path))
	}
	s.updateSize()
}

// Close closes the file; what it holds is read by the next Open.
func (s *Spool) Close() error {
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// noteSeq keeps the running session's last seq in memory too, so that a
// fresh file after a degradation starts with it.
func (s *Spool) noteSeq(session string, seq uint64) {
	if session == "" || session == s.current.ID {
		s.current.LastSeq = seq
	}
}

func (s *Spool) setLastSeq(tx *bolt.Tx, session string, seq uint64) error {
	if session == "" || session == s.current.ID {
		return putSession(tx, s.current)
	}
	b := tx.Bucket(bucketSessions)
	var sess Session
	if v := b.Get([]byte(session)); v == nil || json.Unmarshal(v, &sess) != nil {
		return fmt.Errorf("no header for session %q", session)
	}
	sess.LastSeq = seq
	return putSession(tx, sess)
}

// update runs fn in one transaction; a failure degrades the spool.
func (s *Spool) update(op string, fn func(tx *bolt.Tx) error) {
	if s.db == nil {
		return
	}
	err := s.db.Update(fn)
	if err == nil {
		s.updateSize()
		return
	}
	s.degrade(op, err)
}

// degrade keeps events in memory only: the file is closed and removed, so
// that a restart cannot send records that no longer match the queue.
func (s *Spool) degrade(op string, err error) {
	reason := "error"
	if errors.Is(err, berrors.ErrMaxSizeReached) {
		reason = "full"
	} else if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		reason = "no_space"
	}
	s.opts.Metrics.SpoolWriteFailures.WithLabelValues(reason).Inc()
	s.opts.Metrics.SpoolDegraded.Set(1)
	s.opts.Logger.Warn("Cannot write the spool; keeping events in memory only until the queue drains",
		zap.String("op", op), zap.String("reason", reason), zap.Int("maxBytes", s.opts.MaxBytes),
		zap.String("path", s.path), zap.Error(err))
	s.closeDB()
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		s.opts.Logger.Warn("Cannot remove the spool file", zap.String("path", s.path), zap.Error(rerr))
	}
	s.retryAt = s.opts.Now().Add(time.Minute)
	s.opts.Metrics.SpoolBytes.Set(0)
}

func (s *Spool) closeDB() {
	if s.db != nil {
		_ = s.db.Close()
		s.db = nil
	}
}

func (s *Spool) size() int64 {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (s *Spool) updateSize() { s.opts.Metrics.SpoolBytes.Set(float64(s.size())) }

func putSession(tx *bolt.Tx, sess Session) error {
	v, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketSessions).Put([]byte(sess.ID), v)
}

func deleteIDs(tx *bolt.Tx, ids []uint64) error {
	b := tx.Bucket(bucketEvents)
	for _, id := range ids {
		if err := b.Delete(idKey(id)); err != nil {
			return err
		}
	}
	return nil
}

func idKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), id)
}

// encodeRecord lays out a record: version, session, event type (each
// length-prefixed), then the event's JSON.
func encodeRecord(session string, ev wire.EncodedEvent) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen16+len(session)+len(ev.Type)+len(ev.Data))
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(len(session)))
	b = append(b, session...)
	b = binary.AppendUvarint(b, uint64(len(ev.Type)))
	b = append(b, ev.Type...)
	return append(b, ev.Data...)
}

func decodeRecord(id uint64, v []byte) (Record, bool) {
	if len(v) == 0 || v[0] != recordVersion {
		return Record{}, false
	}
	v = v[1:]
	session, v, ok := field(v)
	if !ok || session == "" {
		return Record{}, false
	}
	typ, v, ok := field(v)
	if !ok || typ == "" || len(v) == 0 || !json.Valid(v) {
		return Record{}, false
	}
	// v points into bbolt's memory map, valid only during the transaction.
	data := append(json.RawMessage(nil), v...)
	return Record{ID: id, Session: session, Event: wire.EncodedEvent{Type: wire.EventType(typ), Data: data}}, true
}

func decodeSession(k, v []byte) (Session, bool) {
	var s Session
	err := json.Unmarshal(v, &s)
	return s, err == nil && s.ID == string(k)
}

// field reads a length-prefixed string off the front of v.
func field(v []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)-k) { //nolint:gosec // G115: len(v)-k ≥ 0
		return "", nil, false
	}
	end := k + int(n) //nolint:gosec // G115: n ≤ len(v)-k, checked above
	return string(v[k:end]), v[end:], true
}
