package receiver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/catops/cli/pkg/wire"
)

func TestNewValidatesOptions(t *testing.T) {
	_, err := New(Options{})
	require.ErrorContains(t, err, "Token")
	_, err = New(Options{Token: "x", MaxBodyBytes: -1})
	require.ErrorContains(t, err, "MaxBodyBytes")
	r, err := New(Options{Token: "x"})
	require.NoError(t, err)
	assert.Equal(t, DefaultMaxBodyBytes, r.maxBody)
}

func TestAuth(t *testing.T) {
	first := mustJSON(t, batch("n1", "s1", 1, begin(1), upsert("default", "web", "Running"), end(1)))
	tests := []struct {
		name      string
		auth      string
		wantCode  int
		wantError string
	}{
		{name: "none", auth: "-", wantCode: http.StatusUnauthorized, wantError: "missing bearer token"},
		{name: "wrong token", auth: "Bearer nope", wantCode: http.StatusUnauthorized, wantError: "wrong bearer token"},
		{name: "token prefix", auth: "Bearer " + testToken[:5], wantCode: http.StatusUnauthorized, wantError: "wrong bearer token"},
		{name: "not bearer", auth: "Basic " + testToken, wantCode: http.StatusUnauthorized, wantError: "not a bearer token"},
		{name: "right", auth: "Bearer " + testToken, wantCode: http.StatusOK},
		{name: "right, lower-case scheme", auth: "bearer " + testToken, wantCode: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			rec, resp := h.do(request{auth: tt.auth, body: first})
			require.Equal(t, tt.wantCode, rec.Code)
			if tt.wantError == "" {
				assert.Empty(t, resp.Error)
				assert.Len(t, h.node("n1").Pods, 1)
				return
			}
			assert.Contains(t, resp.Error, tt.wantError)
			assert.Equal(t, `Bearer realm="catops"`, rec.Header().Get("WWW-Authenticate"))
			assert.Empty(t, h.r.Nodes(), "a rejected batch must apply nothing")
			assert.Equal(t, uint64(1), h.r.Stats().Rejected)
		})
	}
}

func TestStateNeedsToken(t *testing.T) {
	h := newHarness(t)
	rec, _ := h.do(request{method: http.MethodGet, path: StatePath, auth: "-"})
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	rec, _ = h.do(request{method: http.MethodGet, path: StatePath, auth: "Bearer wrong"})
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	rec, _ = h.do(request{method: http.MethodGet, path: StatePath})
	assert.Equal(t, http.StatusOK, rec.Code)
	rec, _ = h.do(request{method: http.MethodPost, path: StatePath})
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

func TestHealthz(t *testing.T) {
	h := newHarness(t)
	rec, _ := h.do(request{method: http.MethodGet, path: HealthPath, auth: "-"})
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "ok\n", rec.Body.String())
}

func TestBodyEncodings(t *testing.T) {
	valid := mustJSON(t, batch("n1", "s1", 1, begin(1), upsert("default", "web", "Running"), end(1)))
	tests := []struct {
		name        string
		contentType string
		encoding    string
		body        []byte
		wantCode    int
		wantError   string
	}{
		{name: "plain", body: valid, wantCode: http.StatusOK},
		{name: "gzip", encoding: "gzip", body: valid, wantCode: http.StatusOK},
		{name: "content type with parameters", contentType: wire.ContentTypeDelta + "; charset=utf-8", body: valid, wantCode: http.StatusOK},
		{name: "identity encoding", encoding: "identity", body: valid, wantCode: http.StatusOK},
		{name: "x-gzip encoding", encoding: "x-gzip", body: valid, wantCode: http.StatusOK},
		{name: "gzip header on a plain body", encoding: "gzip-lie", body: valid, wantCode: http.StatusBadRequest, wantError: "invalid gzip"},
		{name: "unknown encoding", encoding: "br", body: valid, wantCode: http.StatusUnsupportedMediaType, wantError: "Content-Encoding"},
		{name: "unknown content type", contentType: "text/plain", body: valid, wantCode: http.StatusUnsupportedMediaType, wantError: "Content-Type"},
		{name: "not JSON", body: []byte("{nope"), wantCode: http.StatusBadRequest, wantError: "invalid delta batch JSON"},
		{name: "trailing garbage", body: append(bytes.Clone(valid), "}"...), wantCode: http.StatusBadRequest, wantError: "invalid delta batch JSON"},
		{name: "empty body", body: nil, wantCode: http.StatusBadRequest, wantError: "invalid delta batch JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			req := request{contentType: tt.contentType, encoding: tt.encoding, body: tt.body}
			if tt.encoding == "gzip-lie" {
				req.encoding = ""
				req.headers = map[string]string{"Content-Encoding": "gzip"}
			}
			rec, resp := h.do(req)
			require.Equal(t, tt.wantCode, rec.Code, "answer %s", rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			if tt.wantError != "" {
				assert.Contains(t, resp.Error, tt.wantError)
				assert.NotContains(t, resp.Error, "\n", "the error must be one line")
				assert.Empty(t, h.r.Nodes())
				return
			}
			st := h.node("n1")
			assert.Contains(t, st.Pods, "default/web")
			s := h.r.Stats()
			assert.Equal(t, uint64(len(tt.body)), s.DecodedBytes)
			if strings.HasSuffix(tt.encoding, "gzip") {
				assert.Equal(t, uint64(len(gzipBytes(t, tt.body))), s.BytesReceived)
			} else {
				assert.Equal(t, uint64(len(tt.body)), s.BytesReceived)
			}
			assert.Equal(t, s.BytesReceived, st.Counters.BytesReceived)
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			h := newHarness(t)
			rec, resp := h.do(request{method: method, body: mustJSON(t, batch("n1", "s1", 1, begin(1)))})
			assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
			assert.Equal(t, http.MethodPost, rec.Header().Get("Allow"))
			assert.Contains(t, resp.Error, "POST")
			assert.Empty(t, h.r.Nodes())
		})
	}
}

func TestBodyLimit(t *testing.T) {
	valid := mustJSON(t, batch("n1", "s1", 1, begin(1), upsert("default", "web", "Running"), end(1)))
	// A body of exactly the limit is accepted; the limit applies to the
	// decompressed body, however small it is on the wire.
	padded := append(bytes.Repeat([]byte(" "), 4096), valid...)
	tests := []struct {
		name     string
		limit    int64
		encoding string
		body     []byte
		wantCode int
	}{
		{name: "at the limit", limit: int64(len(valid)), body: valid, wantCode: http.StatusOK},
		{name: "one byte over", limit: int64(len(valid)) - 1, body: valid, wantCode: http.StatusRequestEntityTooLarge},
		{name: "gzip at the limit", limit: int64(len(padded)), encoding: "gzip", body: padded, wantCode: http.StatusOK},
		{name: "gzip small on the wire, over the limit decompressed", limit: int64(len(padded)) - 1, encoding: "gzip", body: padded, wantCode: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.MaxBodyBytes = tt.limit })
			rec, resp := h.do(request{encoding: tt.encoding, body: tt.body})
			require.Equal(t, tt.wantCode, rec.Code, "answer %s", rec.Body.String())
			if tt.wantCode == http.StatusRequestEntityTooLarge {
				assert.Contains(t, resp.Error, "limit")
				assert.Empty(t, h.r.Nodes())
			}
		})
	}
}

func TestBodyLimitOnTheWire(t *testing.T) {
	// Empty gzip members decode to nothing: a body made of many of them is
	// small decoded but unbounded on the wire, and is refused all the same.
	valid := mustJSON(t, batch("n1", "s1", 1, begin(1), end(1)))
	h := newHarness(t, func(o *Options) { o.MaxBodyBytes = 4096 })
	body := append(gzipBytes(t, valid), bytes.Repeat(gzipBytes(t, nil), 1000)...)
	rec, resp := h.do(request{body: body, headers: map[string]string{"Content-Encoding": "gzip"}})
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, "answer %s", rec.Body.String())
	assert.Contains(t, resp.Error, "limit")
	// A few of them are fine.
	body = append(gzipBytes(t, valid), bytes.Repeat(gzipBytes(t, nil), 10)...)
	rec, _ = h.do(request{body: body, headers: map[string]string{"Content-Encoding": "gzip"}})
	require.Equal(t, http.StatusOK, rec.Code, "answer %s", rec.Body.String())
}

func TestValidationErrors(t *testing.T) {
	ok := func(mut func(*wire.Batch)) []byte {
		b := batch("n1", "s1", 1, begin(1), upsert("default", "web", "Running"), end(1))
		mut(&b)
		return mustJSON(t, b)
	}
	tests := []struct {
		name      string
		body      []byte
		wantError string
	}{
		{"wrong version", ok(func(b *wire.Batch) { b.Version = "catops.k8s/v0" }), `version: want "catops.k8s/v1", got "catops.k8s/v0"`},
		{"no version", ok(func(b *wire.Batch) { b.Version = "" }), "version:"},
		{"no node", ok(func(b *wire.Batch) { b.Node = "" }), "node: must not be empty"},
		{"no session", ok(func(b *wire.Batch) { b.Session = "" }), "session: must not be empty"},
		{"no batch id", ok(func(b *wire.Batch) { b.BatchID = "" }), "batch_id: must not be empty"},
		{"seq zero", ok(func(b *wire.Batch) { b.Seq = 0 }), "seq: must be at least 1"},
		{"negative seq", []byte(`{"version":"catops.k8s/v1","node":"n1","session":"s","seq":-1,"batch_id":"b","events":[]}`), "seq"},
		{"unknown event type", ok(func(b *wire.Batch) { b.Events[1].Type = "pod_explode" }), `events[1].type: unknown event type "pod_explode"`},
		{"empty event type", ok(func(b *wire.Batch) { b.Events[2].Type = "" }), "events[2].type: must not be empty"},
		{"upsert without pod", ok(func(b *wire.Batch) { b.Events[1].Pod = nil }), `events[1]: pod_upsert event needs exactly the "pod" payload, has none`},
		{"upsert with two payloads", ok(func(b *wire.Batch) { b.Events[1].PodRef = &wire.PodRef{Namespace: "a", Name: "b"} }), `events[1]: pod_upsert event needs exactly the "pod" payload, has pod, pod_ref`},
		{"upsert with the wrong payload", ok(func(b *wire.Batch) {
			b.Events[1] = wire.Event{Type: wire.EventPodUpsert, PodRef: &wire.PodRef{Namespace: "a", Name: "b"}}
		}), `has pod_ref`},
		{"upsert without namespace", ok(func(b *wire.Batch) { b.Events[1].Pod.Namespace = "" }), "events[1].pod.namespace: must not be empty"},
		{"upsert without name", ok(func(b *wire.Batch) { b.Events[1].Pod.Name = "" }), "events[1].pod.name: must not be empty"},
		{"delete without pod_ref", ok(func(b *wire.Batch) { b.Events[1] = wire.Event{Type: wire.EventPodDelete} }), `events[1]: pod_delete event needs exactly the "pod_ref" payload`},
		{"delete without name", ok(func(b *wire.Batch) { b.Events[1] = del("default", "") }), "events[1].pod_ref.name: must not be empty"},
		{"delete without namespace", ok(func(b *wire.Batch) { b.Events[1] = del("", "web") }), "events[1].pod_ref.namespace: must not be empty"},
		{"snapshot_begin without mark", ok(func(b *wire.Batch) { b.Events[0].Snapshot = nil }), `events[0]: snapshot_begin event needs exactly the "snapshot" payload`},
		{"snapshot_end without mark", ok(func(b *wire.Batch) { b.Events[2].Snapshot = nil }), `events[2]: snapshot_end event needs exactly the "snapshot" payload`},
		{"node without record", ok(func(b *wire.Batch) { b.Events = append(b.Events, wire.Event{Type: wire.EventNode}) }), `events[3]: node event needs exactly the "node" payload`},
		{"host without sample", ok(func(b *wire.Batch) { b.Events = append(b.Events, wire.Event{Type: wire.EventHost}) }), `events[3]: host event needs exactly the "host" payload`},
		{"usage without readings", ok(func(b *wire.Batch) { b.Events = append(b.Events, wire.Event{Type: wire.EventUsage}) }), `events[3]: usage event needs exactly the "usage" payload`},
		{"usage pod without name", ok(func(b *wire.Batch) { b.Events = append(b.Events, usage(nil, podUsage("default", "", 1, 1))) }), "events[3].usage.pods[0].name: must not be empty"},
		{"field of the wrong type", []byte(`{"version":"catops.k8s/v1","node":"n1","session":"s","seq":"1","batch_id":"b"}`), "seq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			rec, resp := h.do(request{body: tt.body})
			require.Equal(t, http.StatusBadRequest, rec.Code, "answer %s", rec.Body.String())
			assert.Contains(t, resp.Error, tt.wantError)
			assert.NotContains(t, resp.Error, "\n")
			assert.Empty(t, h.r.Nodes(), "a rejected batch must apply nothing")
			assert.Equal(t, Stats{Rejected: 1, BytesReceived: uint64(len(tt.body)), DecodedBytes: uint64(len(tt.body))}, h.r.Stats())
		})
	}
}

func TestLongValuesAreClippedInAnswersAndLogs(t *testing.T) {
	h := newHarness(t)
	long := strings.Repeat("x", 100_000)
	b := batch("n1", "s1", 1, begin(1), wire.Event{Type: wire.EventType(long)})
	code, resp := h.send(b)
	require.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, resp.Error, `events[1].type: unknown event type "xxxx`)
	assert.Less(t, len(resp.Error), 200)

	b = batch(long, long, 1, upsert("default", "a", "Running"))
	code, resp = h.send(b)
	require.Equal(t, http.StatusConflict, code)
	assert.Less(t, len(resp.Error), 300)
	for _, e := range h.logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok {
				assert.Less(t, len(s), 300, "log field %s", k)
			}
		}
	}
}

func TestValidationAppliesNothingOfAnInvalidBatch(t *testing.T) {
	h := newHarness(t)
	h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "web", "Running"), end(1)))
	// The second event is invalid: the first must not be applied either.
	b := batch("n1", "s1", 2, upsert("default", "api", "Running"), wire.Event{Type: wire.EventPodUpsert})
	code, _ := h.send(b)
	require.Equal(t, http.StatusBadRequest, code)
	st := h.node("n1")
	assert.ElementsMatch(t, []string{"default/web"}, podKeys(st))
	assert.Equal(t, uint64(1), st.LastSeq)
	// Seq 2 was not used up by the invalid batch.
	h.mustApply(batch("n1", "s1", 2, upsert("default", "api", "Running")))
}

func TestFaultInjection(t *testing.T) {
	h := newHarness(t)
	body := mustJSON(t, batch("n1", "s1", 1, begin(1), end(1)))

	h.r.SetFailNext(2, http.StatusRequestEntityTooLarge)
	for range 2 {
		rec, resp := h.do(request{body: body})
		assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
		assert.Contains(t, resp.Error, "injected")
	}
	assert.Empty(t, h.r.Nodes())
	rec, _ := h.do(request{body: body})
	assert.Equal(t, http.StatusOK, rec.Code)

	h.r.SetDown(true)
	rec, _ = h.do(request{body: mustJSON(t, batch("n1", "s1", 2))})
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	rec, _ = h.do(request{body: mustJSON(t, batch("n1", "s1", 2)), auth: "-"})
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "a down receiver does not look at the request")
	rec, _ = h.do(request{method: http.MethodGet, path: HealthPath})
	assert.Equal(t, http.StatusOK, rec.Code, "healthz is not affected")
	rec, _ = h.do(request{method: http.MethodGet, path: StatePath})
	assert.Equal(t, http.StatusOK, rec.Code, "state is not affected")
	assert.Equal(t, uint64(1), h.node("n1").LastSeq)

	h.r.SetDown(false)
	h.mustApply(batch("n1", "s1", 2))
	assert.Equal(t, uint64(4), h.r.Stats().Injected)

	h.r.SetFailNext(5, http.StatusBadGateway)
	h.r.SetFailNext(0, 0) // Cancels.
	h.mustApply(batch("n1", "s1", 3))
}

func TestStateJSON(t *testing.T) {
	h := newHarness(t)
	h.mustApply(batch("n1", "s1", 1, begin(7),
		upsert("default", "web", "Running"),
		wire.Event{Type: wire.EventNode, Time: testNow, Node: &wire.Node{Name: "n1", KubeletVersion: "v1.37.2"}},
		wire.Event{Type: wire.EventHost, Time: testNow, Host: &wire.HostSample{Time: testNow, UptimeSeconds: new(uint64(42))}},
		usage(new(reading(0.5, 1<<30)), podUsage("default", "web", 0.25, 1<<20)),
	))
	rec, _ := h.do(request{method: http.MethodGet, path: StatePath})
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))

	// The shape, as a client without our Go types sees it.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
	require.Contains(t, raw, "nodes")
	require.Contains(t, raw, "stats")
	n1 := raw["nodes"].(map[string]any)["n1"].(map[string]any)
	assert.Equal(t, "s1", n1["session"])
	assert.Equal(t, float64(1), n1["last_seq"])
	assert.Equal(t, "s1-1", n1["last_batch_id"])
	assert.Equal(t, "2026-03-01T12:00:00Z", n1["last_batch_at"])
	assert.Contains(t, n1["pods"], "default/web")
	assert.Equal(t, "v1.37.2", n1["node"].(map[string]any)["kubelet_version"])
	assert.Equal(t, float64(42), n1["host"].(map[string]any)["uptime_seconds"])
	u := n1["usage"].(map[string]any)
	assert.Equal(t, true, u["available"])
	assert.Equal(t, 0.5, u["node"].(map[string]any)["cpu_cores"])
	assert.Equal(t, 0.25, u["pods"].(map[string]any)["default/web"].(map[string]any)["cpu_cores"])
	snap := n1["snapshot"].(map[string]any)
	assert.Equal(t, float64(7), snap["id"])
	assert.Equal(t, map[string]any{"default/web": true}, snap["confirmed"])
	assert.Equal(t, float64(1), n1["counters"].(map[string]any)["batches_applied"])
	assert.Equal(t, float64(5), raw["stats"].(map[string]any)["events_applied"])

	// And it decodes into State, agreeing with Node.
	var state State
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &state))
	assert.Equal(t, h.node("n1"), state.Nodes["n1"])
	assert.Equal(t, h.r.Stats(), state.Stats)
}

func TestLogs(t *testing.T) {
	h := newHarness(t)
	good := batch("n1", "s1", 1, begin(1), upsert("default", "web", "Running"), end(1))
	h.mustApply(good)
	code, _ := h.send(batch("n1", "s1", 5, upsert("default", "api", "Running")))
	require.Equal(t, http.StatusConflict, code)
	rec, _ := h.do(request{body: []byte(`{"version":"nope"}`)})
	require.Equal(t, http.StatusBadRequest, rec.Code)
	rec, _ = h.do(request{body: mustJSON(t, good), auth: "Bearer " + testToken + "x"})
	require.Equal(t, http.StatusUnauthorized, rec.Code)

	applied := h.logs.FilterMessage("Applied batch").All()
	require.Len(t, applied, 1)
	assert.Equal(t, zapcore.InfoLevel, applied[0].Level)
	fields := applied[0].ContextMap()
	assert.Equal(t, "n1", fields["node"])
	assert.Equal(t, uint64(1), fields["batchSeq"])
	assert.Equal(t, int64(3), fields["events"])
	assert.Equal(t, int64(len(mustJSON(t, good))), fields["bytes"])

	warns := h.logs.FilterLevelExact(zapcore.WarnLevel).All()
	require.Len(t, warns, 3)
	assert.Equal(t, int64(http.StatusConflict), warns[0].ContextMap()["status"])
	assert.Contains(t, warns[0].ContextMap()["reason"], "resync required")
	assert.Equal(t, int64(http.StatusBadRequest), warns[1].ContextMap()["status"])
	assert.Contains(t, warns[1].ContextMap()["reason"], "version")
	assert.Equal(t, int64(http.StatusUnauthorized), warns[2].ContextMap()["status"])

	for _, e := range h.logs.All() {
		line, err := json.Marshal(map[string]any{"msg": e.Message, "fields": e.ContextMap()})
		require.NoError(t, err)
		assert.NotContains(t, string(line), testToken, "the token must never be logged")
		assert.NotContains(t, string(line), "uid-web", "a payload must never be logged")
	}
}

func TestHeaderMismatchBodyWins(t *testing.T) {
	h := newHarness(t)
	b := batch("n1", "s1", 1, begin(1), upsert("default", "web", "Running"), end(1))
	rec, _ := h.do(request{body: mustJSON(t, b), headers: map[string]string{
		wire.HeaderSession: "other", wire.HeaderSeq: "9", wire.HeaderBatchID: b.BatchID,
	}})
	require.Equal(t, http.StatusOK, rec.Code)
	st := h.node("n1")
	assert.Equal(t, "s1", st.Session)
	assert.Equal(t, uint64(1), st.LastSeq)
	assert.Equal(t, uint64(1), h.r.Stats().HeaderMismatches)
	// Matching headers, and absent ones, are no mismatch.
	h.mustApply(batch("n1", "s1", 2))
	rec, _ = h.do(request{body: mustJSON(t, batch("n1", "s1", 3))})
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, uint64(1), h.r.Stats().HeaderMismatches)
}

// TestOverHTTP drives the receiver through a real server and client, with
// several agents posting at once (run with -race).
func TestOverHTTP(t *testing.T) {
	var mu sync.Mutex
	applied := map[string]int{}
	h := newHarness(t, func(o *Options) {
		o.OnApply = func(node string) {
			mu.Lock()
			applied[node]++
			mu.Unlock()
		}
	})
	srv := httptest.NewServer(h.r.Handler())
	defer srv.Close()

	post := func(b wire.Batch) (int, wire.Response) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+wire.Path, bytes.NewReader(gzipBytes(t, mustJSON(t, b))))
		if err != nil {
			return 0, wire.Response{Error: err.Error()}
		}
		req.Header.Set("Content-Type", wire.ContentTypeDelta)
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			return 0, wire.Response{Error: err.Error()}
		}
		defer func() { _ = resp.Body.Close() }()
		var out wire.Response
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	nodes := []string{"n1", "n2", "n3", "n4"}
	var wg sync.WaitGroup
	for _, node := range nodes {
		wg.Go(func() {
			code, resp := post(batch(node, "s-"+node, 1, begin(1), upsert("default", "web-"+node, "Running"), end(1)))
			assert.Equal(t, http.StatusOK, code, "%s: %+v", node, resp)
			for seq := uint64(2); seq <= 20; seq++ {
				code, resp := post(batch(node, "s-"+node, seq, upsert("default", "pod-"+strings.Repeat("x", int(seq)), "Running")))
				assert.Equal(t, http.StatusOK, code, "%s seq %d: %+v", node, seq, resp)
			}
			_, resp = post(batch(node, "s-"+node, 20))
			assert.True(t, resp.Duplicate)
		})
	}
	wg.Wait()

	assert.Equal(t, nodes, h.r.Nodes())
	for _, node := range nodes {
		st := h.node(node)
		assert.Equal(t, uint64(20), st.LastSeq)
		assert.Len(t, st.Pods, 20)
	}
	s := h.r.Stats()
	assert.Equal(t, uint64(80), s.BatchesApplied)
	assert.Equal(t, uint64(4), s.Duplicates)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, map[string]int{"n1": 20, "n2": 20, "n3": 20, "n4": 20}, applied)
}

// A host event of the kubelet source is taken as it is, its figures
// absent where the source has none; keys the receiver does not know (a
// later agent's) are ignored, not refused; a host event without a source
// (an older agent's) is the proc source's.
func TestHostEventSources(t *testing.T) {
	h := newHarness(t)
	body := []byte(`{"version":"catops.k8s/v1","node":"n1","session":"s1","seq":1,"batch_id":"s1-1","sent_at":"2026-03-01T12:00:00Z","events":[
 {"type":"snapshot_begin","time":"2026-03-01T12:00:00Z","snapshot":{"id":1,"reason":"start"}},
 {"type":"snapshot_end","time":"2026-03-01T12:00:00Z","snapshot":{"id":1,"reason":"start"}},
 {"type":"host","time":"2026-03-01T12:00:00Z","host":{"source":"kubelet","time":"2026-03-01T11:59:58Z","cpu":{"logical_cores":4,"usage_percent":32.5},
  "memory":{"total_bytes":17179869184,"available_bytes":10737418240,"used_bytes":6442450944,"used_percent":37.5},
  "filesystem":{"used_bytes":40,"capacity_bytes":100,"available_bytes":60},
  "network":[{"name":"eth0","rx_bytes":5,"tx_bytes":6,"rx_errors":0,"tx_errors":0,"future_counter":1}],
  "a_later_figure":{"x":1}}}]}`)
	rec, resp := h.do(request{body: body, headers: map[string]string{wire.HeaderSession: "s1", wire.HeaderSeq: "1", wire.HeaderBatchID: "s1-1"}})
	require.Equal(t, http.StatusOK, rec.Code, "answer %+v", resp)
	host := h.node("n1").Host
	require.NotNil(t, host)
	assert.Equal(t, wire.HostSourceKubelet, host.Source)
	assert.Nil(t, host.UptimeSeconds, "absent, not zero")
	assert.Nil(t, host.Load)
	assert.Nil(t, host.Memory.SwapTotalBytes)
	assert.Equal(t, new(uint64(100)), host.Filesystem.CapacityBytes)
	require.Len(t, host.Network, 1)
	assert.Nil(t, host.Network[0].RxPackets)
	assert.Equal(t, new(uint64(0)), host.Network[0].RxErrors)

	// The state keeps the absences: a client of /api/state sees no zero.
	rec, _ = h.do(request{method: http.MethodGet, path: StatePath})
	require.Equal(t, http.StatusOK, rec.Code)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
	got := raw["nodes"].(map[string]any)["n1"].(map[string]any)["host"].(map[string]any)
	assert.Equal(t, "kubelet", got["source"])
	for _, k := range []string{"uptime_seconds", "load", "filesystems", "disks"} {
		assert.NotContains(t, got, k)
	}

	h.mustApply(batch("n1", "s1", 2, wire.Event{Type: wire.EventHost, Time: testNow, Host: &wire.HostSample{Time: testNow, UptimeSeconds: new(uint64(7))}}))
	assert.Empty(t, h.node("n1").Host.Source, "an older agent's sample: no source, the proc one")
}
