package podcache

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"k8s.io/client-go/rest"
)

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

type hookCounts struct {
	mu       sync.Mutex
	errors   map[string]int
	requests map[string]int
}

func (h *hookCounts) hooks() Hooks {
	h.errors, h.requests = map[string]int{}, map[string]int{}
	return Hooks{
		WatchError: func(resource string, _ error) { h.mu.Lock(); h.errors[resource]++; h.mu.Unlock() },
		Request:    func(resource, verb string) { h.mu.Lock(); h.requests[resource+" "+verb]++; h.mu.Unlock() },
	}
}

func (h *hookCounts) get(m map[string]int, k string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return m[k]
}

// startObserved starts a Cache against the API server at host, counting
// its hooks into counts (unless nil) and logging at level and above.
func startObserved(t *testing.T, host string, level zapcore.Level, counts *hookCounts, opts Options) (*Cache, *observer.ObservedLogs) {
	t.Helper()
	client, err := NewClient(&rest.Config{Host: host})
	require.NoError(t, err)
	core, logs := observer.New(level)
	if counts != nil {
		opts.Hooks = counts.hooks()
	}
	c, err := New(client, "node-a", zap.New(core), opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); c.Shutdown(context.Background()) })
	c.Start(ctx)
	return c, logs
}

// An API server nobody answers for ("connection refused", which client-go's
// reflector retries by itself without a word): every failed request is
// counted, the first one is logged at once at WARN and the next ones at
// most every ErrorLogEvery, WaitForSync warns with the last error, and the
// shutdown does not wait for reflectors sleeping in their backoff.
func TestUnreachableAPIServerIsLoggedAndCounted(t *testing.T) {
	client, err := NewClient(&rest.Config{Host: "http://" + closedPort(t)})
	require.NoError(t, err)
	core, logs := observer.New(zap.DebugLevel)
	var counts hookCounts
	c, err := New(client, "node-a", zap.New(core), Options{Hooks: counts.hooks(), ErrorLogEvery: time.Hour, SyncWarnAfter: 200 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx)

	require.Eventually(t, func() bool {
		return counts.get(counts.errors, "pods") >= 2 && counts.get(counts.errors, "nodes") >= 2
	}, 20*time.Second, 10*time.Millisecond, "every failed request reaches the hook, retries included")
	assert.GreaterOrEqual(t, counts.get(counts.requests, "pods watch"), 2, "WatchList requests are watches")

	warned := logs.FilterMessage("Kubernetes API request failed; retrying with backoff").All()
	require.Len(t, warned, 1, "one line per ErrorLogEvery, not one per retry")
	assert.Equal(t, zap.WarnLevel, warned[0].Level)
	assert.Contains(t, warned[0].ContextMap()["error"], "connection refused")

	waitCtx, done := context.WithTimeout(context.Background(), time.Second)
	defer done()
	assert.False(t, c.WaitForSync(waitCtx))
	notSynced := logs.FilterMessageSnippet("have not synced yet").All()
	require.NotEmpty(t, notSynced)
	assert.Equal(t, zap.WarnLevel, notSynced[0].Level)
	assert.Contains(t, notSynced[0].ContextMap()["lastError"], "connection refused")

	cancel()
	stopCtx, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer stop()
	c.Shutdown(stopCtx) // returns by the bound whether or not the reflectors woke
	// Let the reflectors finish so the race detector sees no goroutine
	// outliving the test's log observer.
	c.Shutdown(context.Background())
}

// Failures that end: one WARN, then one INFO when requests succeed again,
// and the caches sync.
func TestAPIServerBackAfterFailures(t *testing.T) {
	fake := &fakeAPIServer{requests: map[string]int{}}
	var refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refused.Add(1) <= 2 {
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	var counts hookCounts
	c, logs := startObserved(t, srv.URL, zap.InfoLevel, &counts, Options{WatchList: WatchListOff, ErrorLogEvery: time.Hour})
	require.True(t, waitSynced(t, c, 20*time.Second))
	assert.Equal(t, 2, counts.get(counts.errors, "pods")+counts.get(counts.errors, "nodes"), "each failure counted once")
	assert.Equal(t, 1, logs.FilterMessage("Kubernetes API request failed; retrying with backoff").Len())
	assert.GreaterOrEqual(t, logs.FilterMessage("Kubernetes API requests succeed again").Len(), 1)
}

// An API server without WatchList answers the streamed list with 422;
// client-go lists at once. That is a normal start, not a failure: nothing
// counted, nothing warned.
func TestWatchListRefusedIsNotAFailure(t *testing.T) {
	fake := &fakeAPIServer{requests: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sendInitialEvents") == "true" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Invalid","code":422,"message":"sendInitialEvents is forbidden"}`))
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	var counts hookCounts
	c, logs := startObserved(t, srv.URL, zap.InfoLevel, &counts, Options{})
	require.True(t, waitSynced(t, c, 20*time.Second))
	assert.Equal(t, 1, fake.count("list pods"), "listed at once")
	assert.Zero(t, counts.get(counts.errors, "pods")+counts.get(counts.errors, "nodes"))
	assert.Zero(t, logs.Len(), "no line at info or above: %v", logs.All())
}

// A watch that ends with an ERROR event is restarted by client-go without
// reaching its error handler; it is counted all the same. A 410 (expired
// resourceVersion, after compaction) is routine: counted, not warned.
func TestWatchEndedByAnErrorEventIsCounted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status string
		warn   bool
	}{
		{"expired", `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,"message":"too old resource version"}`, false},
		{"internal error", `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"InternalError","code":500,"message":"etcd is sad"}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeAPIServer{requests: map[string]int{}}
			var sent atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				if q.Get("watch") == "true" && q.Get("resourceVersion") != "" && strings.HasSuffix(r.URL.Path, "/pods") && sent.Add(1) == 1 {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusOK)
					_, _ = w.Write([]byte(`{"type":"ERROR","object":` + tc.status + "}\n"))
					return
				}
				fake.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			var counts hookCounts
			c, logs := startObserved(t, srv.URL, zap.DebugLevel, &counts, Options{WatchList: WatchListOff})
			require.True(t, waitSynced(t, c, 20*time.Second))
			require.Eventually(t, func() bool { return counts.get(counts.errors, "pods") == 1 }, 20*time.Second, 10*time.Millisecond)
			assert.Equal(t, tc.warn, logs.FilterMessage("Kubernetes API request failed; retrying with backoff").Len() == 1)
			assert.Equal(t, !tc.warn, logs.FilterMessage("Watch closed by the API server; resuming").Len() == 1)
		})
	}
}
