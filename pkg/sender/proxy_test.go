package sender

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/catops/cli/pkg/backendclient"
	"github.com/catops/cli/pkg/backendclient/backendclienttest"
)

// proxied is a TLS backend named backend.test, reached only through a
// CONNECT proxy on loopback that maps that name to it: no packet leaves
// the machine, and the proxy refuses any other target.
func proxied(t *testing.T, cfg backendclienttest.ProxyConfig) (*backend, *harness, *backendclienttest.Proxy, string) {
	t.Helper()
	ca := backendclienttest.NewCA(t, "test CA")
	be := &backend{t: t}
	be.srv = httptest.NewUnstartedServer(http.HandlerFunc(be.serve))
	be.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "backend.test").TLS(t)}, MinVersion: tls.VersionTLS12}
	be.srv.StartTLS()
	t.Cleanup(be.srv.Close)
	cfg.Target = "backend.test:" + strconv.Itoa(be.srv.Listener.Addr().(*net.TCPAddr).Port)
	cfg.Dial = be.srv.Listener.Addr().String()
	p, proxyURL := backendclienttest.StartProxy(t, cfg)
	client, err := backendclient.New(backendclient.Options{
		CAFile: backendclienttest.WriteFile(t, t.TempDir(), "ca.crt", ca.PEM),
		Proxy:  http.ProxyURL(proxyURL),
	})
	require.NoError(t, err)
	h := newSender(t, "https://"+p.Target, func(o *Options) { o.Client = client })
	return be, h, p, proxyURL.String()
}

func TestDeliversThroughAProxy(t *testing.T) {
	be, h, p, _ := proxied(t, backendclienttest.ProxyConfig{})
	h.s.Enqueue(podEv(t, "a"), podEv(t, "b"))
	h.run(t)
	eventually(t, func() bool { return len(be.delivered()) == 2 }, "delivered through the proxy")
	assert.Equal(t, 1, p.Tunnels())
	assert.Empty(t, p.Refused())
	// The backend has the events before the sender has read its answer.
	eventually(t, func() bool { return h.logs.FilterMessage("First batch accepted by the backend").Len() == 1 }, "the answer read")
}

func TestProxyAskingForCredentialsIsThe407Row(t *testing.T) {
	be, h, p, proxyURL := proxied(t, backendclienttest.ProxyConfig{User: "agent", Password: "pw"})
	h.s.Enqueue(podEv(t, "a"))
	h.run(t)
	const msg = "A proxy between the agent and the backend asks for credentials (407); check HTTPS_PROXY. Keeping events queued and retrying later"
	eventually(t, func() bool { return h.logs.FilterMessage(msg).Len() > 0 }, "the 407 row logged")
	line := h.logs.FilterMessage(msg).All()[0]
	assert.Equal(t, zapcore.ErrorLevel, line.Level)
	assert.EqualValues(t, http.StatusProxyAuthRequired, line.ContextMap()["status"])
	assert.Contains(t, line.ContextMap()["error"], "proxy "+proxyURL)
	// Logged right after the row's line, on the sender's goroutine.
	eventually(t, func() bool {
		return h.logs.FilterMessage("First batch refused by the backend; nothing is delivered until this is fixed").Len() == 1
	}, "the first refusal logged")
	assert.Empty(t, be.snapshot(), "nothing reached the backend")
	assert.Zero(t, p.Tunnels())
}

func TestProxyRefusingTheConnectNamesIt(t *testing.T) {
	be, h, p, proxyURL := proxied(t, backendclienttest.ProxyConfig{Status: http.StatusForbidden})
	h.s.Enqueue(podEv(t, "a"))
	h.run(t)
	const msg = "Backend unreachable; keeping events queued and retrying"
	eventually(t, func() bool { return h.logs.FilterMessage(msg).Len() > 0 }, "the network row logged")
	lines := h.logs.FilterMessage(msg).All()
	require.Len(t, lines, 1, "one line for the streak; the retries log at debug")
	assert.Equal(t, zapcore.WarnLevel, lines[0].Level)
	errText, _ := lines[0].ContextMap()["error"].(string)
	assert.Contains(t, errText, "proxy "+proxyURL+" refused to connect to "+p.Target+": 403 Forbidden")
	assert.Empty(t, be.snapshot(), "nothing reached the backend")
}
