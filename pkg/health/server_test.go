package health

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return rec.Code, string(body)
}

// metricsHandler stands for an exposition's handler: /metrics serves it.
var metricsHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	_, _ = w.Write([]byte("catops_batches_sent_total 3\n"))
})

func TestProbes(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	st := NewStatus(time.Minute, clk.now)
	h := Handler(st, metricsHandler)

	code, body := get(t, h, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready before the caches sync")
	assert.Contains(t, body, "not synced")
	st.SetReady(true)
	code, _ = get(t, h, "/readyz")
	assert.Equal(t, http.StatusOK, code)

	code, _ = get(t, h, "/healthz")
	assert.Equal(t, http.StatusOK, code, "live during start-up")
	clk.add(2 * time.Minute)
	code, body = get(t, h, "/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "no tick for longer than the limit")
	assert.Contains(t, body, "last collection tick was 2m0s ago")
	st.Tick()
	code, _ = get(t, h, "/healthz")
	assert.Equal(t, http.StatusOK, code)

	code, body = get(t, h, "/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, strings.Contains(body, "catops_batches_sent_total 3"), body)
}

func TestServeReportsPortClash(t *testing.T) {
	stop, err := Serve("127.0.0.1:0", Handler(NewStatus(time.Minute, nil), metricsHandler), zapNop())
	require.NoError(t, err)
	defer stop()
	_, err = Serve("127.0.0.1:-1", Handler(NewStatus(time.Minute, nil), metricsHandler), zapNop())
	require.ErrorContains(t, err, "CATOPS_HEALTH_ADDR")
}

func zapNop() *zap.Logger { return zap.NewNop() }

// Liveness ages are measured on the monotonic clock: a tick keeps the
// monotonic reading of time.Now (shown as "m=" by String), so a wall-clock
// step cannot make the last tick look hours old and restart the agent.
func TestLivenessUsesTheMonotonicClock(t *testing.T) {
	st := NewStatus(time.Minute, nil)
	st.Tick()
	last := st.lastTick.Load()
	require.NotNil(t, last)
	assert.Contains(t, last.String(), "m=+", "the tick kept its monotonic reading")
	assert.Contains(t, st.started.String(), "m=+")
	ok, why := st.Live()
	assert.True(t, ok, why)
}

// A failing probe names the check that failed; the others are listed too,
// and each check has its own path.
func TestProbesNameTheFailingCheck(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	st := NewStatus(time.Minute, clk.now)
	h := Handler(st, metricsHandler)

	code, body := get(t, h, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "[-]informer-sync failed: the pod and node caches have not synced yet\n[+]backend-auth ok\nreadyz check failed\n", body)

	st.SetReady(true)
	code, body = get(t, h, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	_, body = get(t, h, "/readyz?verbose")
	assert.Equal(t, "[+]informer-sync ok\n[+]backend-auth ok\nreadyz check passed\n", body)

	// A refused token fails readiness until a batch is accepted; other
	// refusals and outages do not touch it.
	st.BackendAnswered(http.StatusServiceUnavailable, false)
	code, _ = get(t, h, "/readyz")
	assert.Equal(t, http.StatusOK, code, "a backend outage is not the agent's fault")
	st.BackendAnswered(http.StatusForbidden, false)
	code, _ = get(t, h, "/readyz")
	assert.Equal(t, http.StatusOK, code, "a 403 may come from a proxy or WAF: not blamed on the token")
	st.BackendAnswered(http.StatusUnauthorized, false)
	code, body = get(t, h, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "[-]backend-auth failed: the backend refused the auth token (HTTP 401) at 1970-01-01T00:16:40Z")
	assert.Contains(t, body, "[+]informer-sync ok")
	code, body = get(t, h, "/readyz/backend-auth")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "CATOPS_AUTH_TOKEN")
	code, _ = get(t, h, "/readyz/informer-sync")
	assert.Equal(t, http.StatusOK, code)
	st.BackendAnswered(http.StatusBadRequest, false)
	code, _ = get(t, h, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "still refused: no batch accepted since")
	st.BackendAnswered(http.StatusOK, true)
	code, _ = get(t, h, "/readyz")
	assert.Equal(t, http.StatusOK, code)

	clk.add(2 * time.Minute)
	code, body = get(t, h, "/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "[-]collection-loop failed: last collection tick was 2m0s ago (limit 1m0s)\nhealthz check failed\n", body)
	code, _ = get(t, h, "/healthz/collection-loop")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	code, _ = get(t, h, "/healthz/nothing")
	assert.Equal(t, http.StatusNotFound, code)
}
