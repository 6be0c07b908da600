package podcache

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// fakeAPIServer answers the agent's pod and node LIST and WATCH requests on
// loopback, in JSON, the way a real API server (or a proxy in front of an
// old one) does. It never sends the initial-events-end bookmark: it
// ignores sendInitialEvents and streams the objects as plain ADDED events.
type fakeAPIServer struct {
	closeWatches bool // end every watch right after its events

	mu       sync.Mutex
	requests map[string]int // "list pods", "watch pods", "watchlist pods", …
}

func (f *fakeAPIServer) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[kind]
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resource := strings.TrimPrefix(r.URL.Path, "/api/v1/")
	var items []any
	switch resource {
	case "pods":
		items = []any{&corev1.Pod{TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1", ResourceVersion: "10"},
			Spec:       corev1.PodSpec{NodeName: "node-a"}}}
	case "nodes":
		items = []any{&corev1.Node{TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: "node-a", ResourceVersion: "10"}}}
	default:
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	kind := "list "
	if q.Get("watch") == "true" {
		kind = "watch "
		if q.Get("sendInitialEvents") == "true" {
			kind = "watchlist "
		}
	}
	f.mu.Lock()
	f.requests[kind+resource]++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if kind == "list " {
		kindName := map[string]string{"pods": "PodList", "nodes": "NodeList"}[resource]
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": kindName, "apiVersion": "v1",
			"metadata": map[string]any{"resourceVersion": "10"}, "items": items})
		return
	}
	w.WriteHeader(http.StatusOK)
	if kind == "watchlist " || q.Get("resourceVersion") == "" {
		for _, it := range items {
			_ = json.NewEncoder(w).Encode(map[string]any{"type": "ADDED", "object": it})
		}
	}
	w.(http.Flusher).Flush()
	if f.closeWatches {
		return
	}
	<-r.Context().Done()
}

func startFake(t *testing.T, f *fakeAPIServer, opts Options) (*Cache, *observer.ObservedLogs) {
	t.Helper()
	f.requests = map[string]int{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return startObserved(t, srv.URL, zap.InfoLevel, nil, opts)
}

func waitSynced(t *testing.T, c *Cache, within time.Duration) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return c.WaitForSync(ctx)
}

// An API server or proxy that ignores sendInitialEvents: the caches sync
// all the same, through LIST + WATCH, after the bound, with one warning.
func TestWatchListIgnoredFallsBackToListAndWatch(t *testing.T) {
	f := &fakeAPIServer{}
	c, logs := startFake(t, f, Options{FallbackAfter: time.Second})
	require.True(t, waitSynced(t, c, 20*time.Second), "the caches sync after the fallback")
	_, ok := c.Pod("ns/web")
	assert.True(t, ok)
	_, ok = c.Node()
	assert.True(t, ok)
	assert.Positive(t, f.count("watchlist pods"), "WatchList was tried first")
	assert.Equal(t, 1, f.count("list pods"), "then one LIST")
	warn := logs.FilterMessageSnippet("Falling back to LIST + WATCH").All()
	require.Len(t, warn, 1, "one clear line")
	assert.Equal(t, zap.WarnLevel, warn[0].Level)
}

// The same server with WatchList off: LIST + WATCH from the start, no wait.
func TestWatchListOffListsAtOnce(t *testing.T) {
	f := &fakeAPIServer{}
	c, logs := startFake(t, f, Options{WatchList: WatchListOff, FallbackAfter: time.Hour})
	require.True(t, waitSynced(t, c, 10*time.Second))
	assert.Zero(t, f.count("watchlist pods")+f.count("watchlist nodes"), "no WatchList request")
	assert.Equal(t, 1, f.count("list pods"))
	assert.Zero(t, logs.FilterMessageSnippet("Falling back").Len())
}

// With WatchList forced on, the agent never falls back by itself.
func TestWatchListOnNeverFallsBack(t *testing.T) {
	f := &fakeAPIServer{}
	c, _ := startFake(t, f, Options{WatchList: WatchListOn, FallbackAfter: 100 * time.Millisecond})
	assert.False(t, waitSynced(t, c, 2*time.Second), "no bookmark, no sync")
	assert.Zero(t, f.count("list pods")+f.count("list nodes"), "never a LIST")
}

// A server that closes every watch at once must not be hammered: watches
// are spaced by client-go's reflector backoff (≈ 34,000 requests in 5 s
// before). Both modes: the WatchList loop and the LIST + WATCH loop.
func TestWatchesClosedAtOnceAreSpaced(t *testing.T) {
	for _, mode := range []string{WatchListOn, WatchListOff} {
		t.Run(mode, func(t *testing.T) {
			f := &fakeAPIServer{closeWatches: true}
			startFake(t, f, Options{WatchList: mode})
			time.Sleep(5 * time.Second)
			n := f.count("watchlist pods") + f.count("watch pods")
			t.Logf("pod WATCH requests in 5 s against a server that closes them at once: %d", n)
			// 0.8 s doubling (jittered up to ×2): at most one at 0 and a
			// handful after; a tight loop makes thousands.
			assert.LessOrEqual(t, n, 8, "watches are spaced by a backoff")
			assert.GreaterOrEqual(t, n, 2, "and still retried")
		})
	}
}

func TestPacedListWatchDelays(t *testing.T) {
	p := newPacedListWatch(nil, true)
	now := time.Unix(1000, 0)
	p.now = func() time.Time { return now }
	assert.Zero(t, p.delay(), "the first watch goes at once")
	var last time.Duration
	for i := range 6 {
		d := p.delay() // immediately after the previous one
		assert.GreaterOrEqual(t, d, 800*time.Millisecond, "step %d", i)
		assert.LessOrEqual(t, d, 60*time.Second, "step %d", i)
		if i > 0 && i < 5 {
			assert.Greater(t, d, last/2, "grows, jitter aside")
		}
		last = d
		now = now.Add(d) // the watch starts after its delay and ends at once
	}
	now = now.Add(10 * time.Minute) // a watch that lived long
	assert.Zero(t, p.delay(), "a long-lived watch starts the backoff over")
}

// An API server that does not answer (here: 503 to everything) is not one
// that ignores sendInitialEvents: LIST would not help, so there is no
// fallback and no misleading warning.
func TestNoFallbackWhileTheAPIServerDoesNotAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	client, err := NewClient(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	core, logs := observer.New(zap.InfoLevel)
	c, err := New(client, "node-a", zap.New(core), Options{FallbackAfter: 200 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); c.Shutdown(context.Background()) })
	c.Start(ctx)
	assert.False(t, waitSynced(t, c, 2*time.Second))
	assert.Zero(t, logs.FilterMessageSnippet("Falling back").Len(), "no fallback blamed on sendInitialEvents")
	assert.True(t, c.set.Load().watchList, "still the WatchList informers")
}
