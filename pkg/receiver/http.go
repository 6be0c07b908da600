package receiver

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/wire"
)

// StatePath serves the state of every node as JSON (State).
const StatePath = "/api/state"

// HealthPath answers 200 while the receiver runs.
const HealthPath = "/healthz"

// State is the JSON body of GET StatePath.
type State struct {
	// Nodes are keyed by node name.
	Nodes map[string]NodeState `json:"nodes"`
	// Clusters are keyed by ClusterKey: cluster_id, else the cluster's
	// name.
	Clusters map[string]ClusterState `json:"clusters"`
	Hosts    map[string]HostState    `json:"hosts"`
	Stats    Stats                   `json:"stats"`
}

// Handler serves POST wire.Path (the node stream's two wire formats), POST
// wire.ClusterPath (the cluster stream), GET StatePath (bearer token
// required) and GET HealthPath.
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(wire.Path, r.ingestHandler(wire.Path))
	mux.HandleFunc(wire.ClusterPath, r.ingestHandler(wire.ClusterPath))
	mux.HandleFunc(wire.HostPath, r.ingestHandler(wire.HostPath))
	mux.HandleFunc(StatePath, r.serveState)
	mux.HandleFunc(HealthPath, r.serveHealth)
	return mux
}

// httpError is a request the receiver answers with a 4xx.
type httpError struct {
	status int
	msg    string
}

func errorf(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// ingestHandler serves POSTs to path, wire.Path or wire.ClusterPath.
func (r *Receiver) ingestHandler(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			r.reject(w, req, errorf(http.StatusMethodNotAllowed, "method %s not allowed: POST batches to %s", req.Method, path))
			return
		}
		if status := r.injectedStatus(); status != 0 {
			r.log.Info("Answered with an injected failure", zap.Int("status", status), zap.String("remote", req.RemoteAddr))
			writeJSON(w, status, wire.Response{Error: fmt.Sprintf("injected failure (%d %s)", status, http.StatusText(status))})
			return
		}
		if herr := r.authorize(req); herr != nil {
			r.reject(w, req, herr)
			return
		}
		f, herr := formatOf(req, path)
		if herr != nil {
			r.reject(w, req, herr)
			return
		}
		body, wireBytes, herr := r.readBody(req)
		r.mu.Lock()
		r.stats.BytesReceived += uint64(wireBytes)
		r.stats.DecodedBytes += uint64(len(body))
		r.mu.Unlock()
		if herr != nil {
			r.reject(w, req, herr)
			return
		}
		switch f {
		case formatDelta:
			r.ingestBatch(w, req, body, wireBytes)
		case formatSnapshot:
			r.ingestSnapshot(w, req, body, wireBytes)
		case formatCluster:
			r.ingestClusterBatch(w, req, body, wireBytes)
		case formatHost:
			r.ingestHostBatch(w, req, body, wireBytes)
		}
	}
}

func (r *Receiver) ingestBatch(w http.ResponseWriter, req *http.Request, body []byte, wireBytes int64) {
	var b wire.Batch
	if err := json.Unmarshal(body, &b); err != nil {
		r.reject(w, req, errorf(http.StatusBadRequest, "body: invalid delta batch JSON: %v", err))
		return
	}
	if err := validateBatch(&b, r.known); err != nil {
		r.reject(w, req, errorf(http.StatusBadRequest, "%v", err))
		return
	}
	r.ingest(w, req, (*nodeBatch)(&b), wireBytes)
}

// nodeBatch is a node stream's batch on the ingest path.
type nodeBatch wire.Batch

func (b *nodeBatch) header() *wire.Header { return &b.Header }
func (b *nodeBatch) events() int          { return len(b.Events) }

func (b *nodeBatch) logFields() []zap.Field {
	return []zap.Field{zap.String("node", clip(b.Node))}
}

func (b *nodeBatch) admitLocked(r *Receiver) (verdict, string) {
	return admit(r.nodes[b.Node], (*wire.Batch)(b))
}

func (b *nodeBatch) duplicateLocked(r *Receiver, wireBytes int64) {
	st := r.nodes[b.Node]
	st.Counters.Duplicates++
	st.Counters.BytesReceived += uint64(wireBytes)
}

func (b *nodeBatch) refusedLocked(r *Receiver, _ verdict) {
	if st := r.nodes[b.Node]; st != nil {
		st.Counters.Conflicts++
	}
}

func (b *nodeBatch) applyLocked(r *Receiver, wireBytes int64) {
	st := r.nodeLocked(b.Node)
	applyBatch(st, (*wire.Batch)(b))
	st.LastBatchAt = r.now()
	st.Counters.BytesReceived += uint64(wireBytes)
	if r.onBatch != nil {
		r.onBatch((*wire.Batch)(b))
	}
}

func (b *nodeBatch) applied(r *Receiver) {
	if r.onApply != nil {
		r.onApply(b.Node)
	}
}

func (r *Receiver) ingestSnapshot(w http.ResponseWriter, req *http.Request, body []byte, wireBytes int64) {
	var s wire.Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		r.reject(w, req, errorf(http.StatusBadRequest, "body: invalid snapshot JSON: %v", err))
		return
	}
	if err := validateSnapshot(&s); err != nil {
		r.reject(w, req, errorf(http.StatusBadRequest, "%v", err))
		return
	}
	r.mu.Lock()
	now := r.now()
	st := r.nodeLocked(s.NodeName)
	st.Legacy = &LegacyView{ReceivedAt: now, Snapshot: s}
	st.LastBatchAt = now
	st.Counters.LegacySnapshots++
	st.Counters.BytesReceived += uint64(wireBytes)
	r.stats.LegacySnapshots++
	r.notifyLocked()
	r.mu.Unlock()

	r.log.Info("Applied legacy snapshot",
		zap.String("node", clip(s.NodeName)), zap.Int("pods", len(s.Pods)), zap.Int64("bytes", wireBytes))
	writeJSON(w, http.StatusOK, wire.Response{})
	if r.onApply != nil {
		r.onApply(s.NodeName)
	}
}

func (r *Receiver) serveState(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, wire.Response{Error: fmt.Sprintf("method %s not allowed: GET %s", req.Method, StatePath)})
		return
	}
	if herr := r.authorize(req); herr != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="catops"`)
		writeJSON(w, herr.status, wire.Response{Error: herr.msg})
		return
	}
	r.mu.Lock()
	state := State{Nodes: make(map[string]NodeState, len(r.nodes)), Clusters: make(map[string]ClusterState, len(r.clusters)), Stats: r.stats}
	for name, st := range r.nodes {
		state.Nodes[name] = *st // Marshalled below, before the lock is released.
	}
	for key, st := range r.clusters {
		state.Clusters[key] = *st // Likewise.
	}
	state.Hosts = make(map[string]HostState, len(r.hosts))
	for key, st := range r.hosts {
		state.Hosts[key] = *st // Likewise.
	}
	b, err := json.Marshal(state)
	r.mu.Unlock()
	if err != nil {
		r.log.Error("Marshal receiver state", zap.Error(err))
		writeJSON(w, http.StatusInternalServerError, wire.Response{Error: "marshal state"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (r *Receiver) serveHealth(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// reject answers a 4xx on the ingest path, counts and logs it.
func (r *Receiver) reject(w http.ResponseWriter, req *http.Request, herr *httpError) {
	r.mu.Lock()
	r.stats.Rejected++
	r.mu.Unlock()
	if herr.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="catops"`)
	}
	r.log.Warn("Rejected batch",
		zap.Int("status", herr.status), zap.String("reason", herr.msg), zap.String("remote", req.RemoteAddr))
	writeJSON(w, herr.status, wire.Response{Error: herr.msg})
}

// authorize checks the bearer token in constant time (hashing both sides
// first, so neither the content nor the length of the token leaks).
func (r *Receiver) authorize(req *http.Request) *httpError {
	h := req.Header.Get("Authorization")
	if h == "" {
		return errorf(http.StatusUnauthorized, "unauthorized: missing bearer token")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errorf(http.StatusUnauthorized, "unauthorized: Authorization is not a bearer token")
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	want := sha256.Sum256([]byte(r.token))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return errorf(http.StatusUnauthorized, "unauthorized: wrong bearer token")
	}
	return nil
}

// headerMismatch compares the X-Catops-* headers that are present with the
// batch's identity and says how they differ ("" when they agree).
func headerMismatch(h http.Header, b *wire.Header) string {
	var diffs []string
	if v := h.Get(wire.HeaderSession); v != "" && v != b.Session {
		diffs = append(diffs, fmt.Sprintf("%s %q, body session %q", wire.HeaderSession, clip(v), clip(b.Session)))
	}
	if v := h.Get(wire.HeaderSeq); v != "" {
		if seq, err := strconv.ParseUint(v, 10, 64); err != nil || seq != b.Seq {
			diffs = append(diffs, fmt.Sprintf("%s %q, body seq %d", wire.HeaderSeq, clip(v), b.Seq))
		}
	}
	if v := h.Get(wire.HeaderBatchID); v != "" && v != b.BatchID {
		diffs = append(diffs, fmt.Sprintf("%s %q, body batch_id %q", wire.HeaderBatchID, clip(v), clip(b.BatchID)))
	}
	return strings.Join(diffs, "; ")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
