package receiver

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/wire"
)

// FuzzHandleBatch feeds arbitrary bodies to a receiver that already holds a
// node, as a delta batch or a legacy snapshot, plain, gzipped, or sent raw
// as if gzipped (fuzzing the gzip reader). It asserts that the receiver
// does not panic, answers 2xx or 4xx with a JSON wire.Response, and that a
// 4xx leaves the node's state exactly as it was.
func FuzzHandleBatch(f *testing.F) {
	seed := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	for _, b := range [][]byte{
		seed(batch("n1", "s1", 2, upsert("default", "b", "Running"), del("default", "a"))),
		seed(batch("n1", "s1", 1, upsert("default", "b", "Running"))),
		seed(batch("n1", "s1", 5, upsert("default", "b", "Running"), end(2))),
		seed(batch("n1", "s3", 1, del("default", "a"))),
		seed(batch("n1", "s1", 7, begin(3), upsert("default", "b", "Running"), end(3))),
		seed(batch("n1", "s2", 1, begin(1), end(1), usageUnavailable("down"))),
		seed(batch("n2", "s9", 1, usage(new(reading(1, 2)), podUsage("default", "a", 1, 2)))),
		seed(batch("n1", "s1", 2, wire.Event{Type: wire.EventNode, Node: &wire.Node{Name: "n1"}},
			wire.Event{Type: wire.EventHost, Host: &wire.HostSample{}}, end(1))),
		seed(batch("n1", "s1", 3, wire.Event{Type: wire.EventHost, Host: &wire.HostSample{Source: wire.HostSourceKubelet,
			Memory: &wire.MemorySample{TotalBytes: 1}, Filesystem: &wire.FilesystemUsage{CapacityBytes: new(uint64(1))},
			Network: []wire.NetIface{{Name: "eth0", RxErrors: new(uint64(0))}}}})),
		seed(wire.Snapshot{NodeName: "n1", Pods: []wire.SnapshotPod{{Name: "a", Namespace: "default"}}}),
		[]byte(`{"version":"catops.k8s/v1","node":"n1","session":"s1","seq":2,"batch_id":"x","events":[{"type":"pod_upsert","pod":null}]}`),
		[]byte(`{"events":[{"type":"usage","usage":{"available":true,"pods":[{}]}}]}`),
		[]byte(`null`),
		[]byte(`[]`),
		[]byte(``),
		[]byte("\x1f\x8b\x08\x00"),
	} {
		f.Add(b, false, encPlain)
		f.Add(b, true, encPlain)
		f.Add(b, false, encGzip)
	}
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"), false, encRawGzip)

	// Start every input from a node with a session, pods, usage and a
	// snapshot in progress, so that the dedupe, gap and sweep paths are
	// reachable.
	start := seed(batch("n1", "s1", 1, begin(1), upsert("default", "a", "Running"), end(1),
		usage(nil, podUsage("default", "a", 1, 1)), begin(2)))

	f.Fuzz(func(t *testing.T, body []byte, legacy bool, enc uint8) {
		r, err := New(Options{Token: testToken, Logger: zap.NewNop(), MaxBodyBytes: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		h := r.Handler()
		post := func(body []byte, contentType string, enc uint8) *httptest.ResponseRecorder {
			if enc%3 == encGzip {
				body = gzipPooled(body)
			}
			req := httptest.NewRequest(http.MethodPost, wire.Path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", contentType)
			if enc%3 != encPlain {
				req.Header.Set("Content-Encoding", "gzip")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		if rec := post(start, wire.ContentTypeDelta, encPlain); rec.Code != http.StatusOK {
			t.Fatalf("start batch: %d %s", rec.Code, rec.Body.String())
		}
		before, _ := r.Node("n1")

		contentType := wire.ContentTypeDelta
		if legacy {
			contentType = wire.ContentTypeSnapshot
		}
		rec := post(body, contentType, enc)
		if rec.Code < 200 || rec.Code >= 500 || (rec.Code >= 300 && rec.Code < 400) {
			t.Fatalf("status %d, want 2xx or 4xx; body %s", rec.Code, rec.Body.String())
		}
		var resp wire.Response
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("answer is not a wire.Response: %v: %q", err, rec.Body.String())
		}
		if rec.Code >= 400 {
			if resp.Error == "" {
				t.Fatalf("status %d without an error message", rec.Code)
			}
			after, _ := r.Node("n1")
			after.Counters = before.Counters
			if !equalJSON(t, before, after) {
				t.Fatalf("a %d changed the state:\nbefore %+v\nafter  %+v", rec.Code, before, after)
			}
			if len(r.Nodes()) != 1 {
				t.Fatalf("a %d created state: nodes %v", rec.Code, r.Nodes())
			}
		}
		// The state must still be servable.
		req := httptest.NewRequest(http.MethodGet, StatePath, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		srec := httptest.NewRecorder()
		h.ServeHTTP(srec, req)
		if srec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", StatePath, srec.Code, srec.Body.String())
		}
	})
}

// Body encodings of FuzzHandleBatch (its enc argument, modulo 3).
const (
	encPlain   uint8 = 0 // As is, no Content-Encoding.
	encGzip    uint8 = 1 // Gzipped, Content-Encoding: gzip.
	encRawGzip uint8 = 2 // As is, but Content-Encoding: gzip.
)

// gzipWriters saves the fuzzer allocating a compressor for every input.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}

func gzipPooled(b []byte) []byte {
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	var buf bytes.Buffer
	zw.Reset(&buf)
	_, _ = zw.Write(b) // Writes to a bytes.Buffer do not fail.
	_ = zw.Close()
	return buf.Bytes()
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}
