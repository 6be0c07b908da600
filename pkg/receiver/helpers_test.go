package receiver

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/catops/cli/pkg/wire"
)

const testToken = "s3cret-t0ken"

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// harness is a receiver with an observed logger and a fixed clock.
type harness struct {
	t    *testing.T
	r    *Receiver
	h    http.Handler
	logs *observer.ObservedLogs
}

func newHarness(t *testing.T, mutate ...func(*Options)) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	opts := Options{
		Token:  testToken,
		Logger: zap.New(core),
		Now:    func() time.Time { return testNow },
	}
	for _, m := range mutate {
		m(&opts)
	}
	r, err := New(opts)
	require.NoError(t, err)
	return &harness{t: t, r: r, h: r.Handler(), logs: logs}
}

// request describes one POST; zero fields mean a plain, authorised delta
// batch.
type request struct {
	method      string
	path        string
	contentType string
	encoding    string // "gzip" compresses the body
	auth        string // "-" sends no Authorization header
	headers     map[string]string
	body        []byte
}

func (h *harness) do(req request) (*httptest.ResponseRecorder, wire.Response) {
	h.t.Helper()
	if req.method == "" {
		req.method = http.MethodPost
	}
	if req.path == "" {
		req.path = wire.Path
	}
	if req.contentType == "" {
		req.contentType = wire.ContentTypeDelta
	}
	body := req.body
	if strings.HasSuffix(req.encoding, "gzip") {
		body = gzipBytes(h.t, body)
	}
	hr := httptest.NewRequest(req.method, req.path, bytes.NewReader(body))
	hr.Header.Set("Content-Type", req.contentType)
	if req.encoding != "" {
		hr.Header.Set("Content-Encoding", req.encoding)
	}
	switch req.auth {
	case "":
		hr.Header.Set("Authorization", "Bearer "+testToken)
	case "-":
	default:
		hr.Header.Set("Authorization", req.auth)
	}
	for k, v := range req.headers {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, hr)
	var resp wire.Response
	if ct := rec.Header().Get("Content-Type"); ct == "application/json" && (req.path == wire.Path || req.path == wire.ClusterPath || req.path == wire.HostPath) {
		require.NoError(h.t, json.Unmarshal(rec.Body.Bytes(), &resp), "body %q", rec.Body.String())
	}
	return rec, resp
}

// send POSTs a delta batch with identity headers and returns the answer.
func (h *harness) send(b wire.Batch) (int, wire.Response) {
	h.t.Helper()
	rec, resp := h.do(request{body: mustJSON(h.t, b), headers: identityHeaders(b)})
	return rec.Code, resp
}

// mustApply POSTs a delta batch and requires it to be applied.
func (h *harness) mustApply(b wire.Batch) {
	h.t.Helper()
	code, resp := h.send(b)
	require.Equal(h.t, http.StatusOK, code, "answer %+v", resp)
	require.False(h.t, resp.Duplicate, "batch seq %d was a duplicate", b.Seq)
}

func (h *harness) node(name string) NodeState {
	h.t.Helper()
	st, ok := h.r.Node(name)
	require.True(h.t, ok, "no state for node %q", name)
	return st
}

func identityHeaders(b wire.Batch) map[string]string {
	return map[string]string{
		wire.HeaderSession: b.Session,
		wire.HeaderSeq:     strconv.FormatUint(b.Seq, 10),
		wire.HeaderBatchID: b.BatchID,
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func batch(node, session string, seq uint64, events ...wire.Event) wire.Batch {
	return wire.Batch{
		Header: wire.Header{
			Version:      wire.Version,
			Node:         node,
			Namespace:    "catops",
			AgentVersion: "test",
			Session:      session,
			Seq:          seq,
			BatchID:      session + "-" + strconv.FormatUint(seq, 10),
			SentAt:       testNow,
		},
		Events: events,
	}
}

func begin(id uint64) wire.Event {
	return wire.Event{Type: wire.EventSnapshotBegin, Time: testNow,
		Snapshot: &wire.SnapshotMark{ID: id, Reason: wire.ReasonStart}}
}

func end(id uint64) wire.Event {
	return wire.Event{Type: wire.EventSnapshotEnd, Time: testNow,
		Snapshot: &wire.SnapshotMark{ID: id, Reason: wire.ReasonStart}}
}

func upsert(namespace, name, phase string) wire.Event {
	return wire.Event{Type: wire.EventPodUpsert, Time: testNow, Pod: &wire.Pod{
		PodRef:     wire.PodRef{Namespace: namespace, Name: name, UID: "uid-" + name},
		Phase:      phase,
		CreatedAt:  testNow.Add(-time.Hour),
		Containers: []wire.Container{{Name: "app", State: wire.StateRunning}},
	}}
}

func del(namespace, name string) wire.Event {
	return wire.Event{Type: wire.EventPodDelete, Time: testNow,
		PodRef: &wire.PodRef{Namespace: namespace, Name: name}}
}

func reading(cpu float64, mem int64) wire.ResourceUsage {
	return wire.ResourceUsage{Timestamp: testNow, WindowSeconds: 15, CPUCores: cpu, MemoryBytes: mem}
}

func podUsage(namespace, name string, cpu float64, mem int64) wire.PodUsage {
	return wire.PodUsage{Namespace: namespace, Name: name, ResourceUsage: reading(cpu, mem)}
}

func usage(node *wire.ResourceUsage, pods ...wire.PodUsage) wire.Event {
	return wire.Event{Type: wire.EventUsage, Time: testNow, Usage: &wire.Usage{
		Available: true, Source: "metrics-api", Node: node, Pods: pods}}
}

func usageUnavailable(reason string) wire.Event {
	return wire.Event{Type: wire.EventUsage, Time: testNow, Usage: &wire.Usage{
		Available: false, Source: "metrics-api", Reason: reason}}
}

func podKeys(st NodeState) []string {
	keys := make([]string, 0, len(st.Pods))
	for k := range st.Pods {
		keys = append(keys, k)
	}
	return keys
}
