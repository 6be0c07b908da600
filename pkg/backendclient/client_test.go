package backendclient

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/catops/cli/pkg/backendclient/backendclienttest"
)

// noProxy keeps the tests away from the process environment.
func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

func tlsServer(t *testing.T, cert tls.Certificate, mtls *backendclienttest.CA) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
			return
		}
		_, _ = io.WriteString(w, "anonymous")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if mtls != nil {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		srv.TLS.ClientCAs = mtls.Pool()
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestCAFileIsTrustedAndReloaded(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := backendclienttest.NewCA(t, "old"), backendclienttest.NewCA(t, "new")
	oldSrv := tlsServer(t, oldCA.Server(t, "localhost").TLS(t), nil)
	newSrv := tlsServer(t, newCA.Server(t, "localhost").TLS(t), nil)
	caFile := backendclienttest.WriteFile(t, dir, "ca.crt", oldCA.PEM)

	core, logs := observer.New(zap.InfoLevel)
	c, err := New(Options{CAFile: caFile, Proxy: noProxy, Logger: zap.New(core)})
	require.NoError(t, err)
	body, err := get(c, oldSrv.URL)
	require.NoError(t, err)
	assert.Equal(t, "anonymous", body)
	_, err = get(c, newSrv.URL)
	require.Error(t, err, "a CA not in the file is not trusted")
	assert.Contains(t, err.Error(), "certificate signed by unknown authority")

	backendclienttest.WriteFile(t, dir, "ca.crt", newCA.PEM)
	_, err = get(c, newSrv.URL)
	require.NoError(t, err, "the rewritten CA file is trusted at the next request")
	_, err = get(c, oldSrv.URL)
	require.Error(t, err, "the CA no longer in the file is not trusted")
	assert.Equal(t, 1, logs.FilterMessage("Backend TLS files changed; reloaded them").Len())

	// A broken rewrite keeps the previous CA, with one warning.
	backendclienttest.WriteFile(t, dir, "ca.crt", []byte("not pem"))
	for range 3 {
		_, err = get(c, newSrv.URL)
		require.NoError(t, err)
	}
	warn := logs.FilterMessage("Backend TLS files changed but do not load; still using the previous ones").All()
	require.Len(t, warn, 1)
	assert.Contains(t, warn[0].ContextMap()["error"], "holds no PEM certificate")
}

func TestClientCertificateForMTLSIsReloaded(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA := backendclienttest.NewCA(t, "server"), backendclienttest.NewCA(t, "clients")
	srv := tlsServer(t, serverCA.Server(t, "localhost").TLS(t), clientCA)
	caFile := backendclienttest.WriteFile(t, dir, "ca.crt", serverCA.PEM)

	noCert, err := New(Options{CAFile: caFile, Proxy: noProxy})
	require.NoError(t, err)
	_, err = get(noCert, srv.URL)
	require.Error(t, err, "the server requires a client certificate")

	first := clientCA.Client(t, "agent-1")
	certFile := backendclienttest.WriteFile(t, dir, "tls.crt", first.CertPEM)
	keyFile := backendclienttest.WriteFile(t, dir, "tls.key", first.KeyPEM)
	c, err := New(Options{CAFile: caFile, CertFile: certFile, KeyFile: keyFile, Proxy: noProxy})
	require.NoError(t, err)
	body, err := get(c, srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "agent-1", body)

	second := clientCA.Client(t, "agent-2")
	backendclienttest.WriteFile(t, dir, "tls.crt", second.CertPEM)
	backendclienttest.WriteFile(t, dir, "tls.key", second.KeyPEM)
	body, err = get(c, srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "agent-2", body, "the new certificate is shown on a new connection")
}

func TestBadFilesAreOneLine(t *testing.T) {
	dir := t.TempDir()
	ca := backendclienttest.NewCA(t, "ca")
	a, b := ca.Client(t, "a"), ca.Client(t, "b")
	certA := backendclienttest.WriteFile(t, dir, "a.crt", a.CertPEM)
	keyB := backendclienttest.WriteFile(t, dir, "b.key", b.KeyPEM)
	notPEM := backendclienttest.WriteFile(t, dir, "ca.crt", []byte("hello"))

	for name, tc := range map[string]struct {
		opts Options
		want string
	}{
		"key of another cert": {Options{CertFile: certA, KeyFile: keyB}, "is not the key of the certificate in"},
		"cert without key":    {Options{CertFile: certA}, "needs both a certificate file and a key file"},
		"CA not PEM":          {Options{CAFile: notPEM}, "holds no PEM certificate"},
		"CA missing":          {Options{CAFile: filepath.Join(dir, "nope")}, "no such file or directory"},
		"key missing":         {Options{CertFile: certA, KeyFile: filepath.Join(dir, "nope")}, "no such file or directory"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
	_, err := os.Stat(certA)
	require.NoError(t, err)
}

func TestProxyRefusalNamesTheProxy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		proxy  backendclienttest.ProxyConfig
		status int    // answer the caller sees; 0: an error
		want   string // in the error or the body
	}{
		{"403", backendclienttest.ProxyConfig{Status: http.StatusForbidden}, 0, "refused to connect to backend.test:"},
		{"407", backendclienttest.ProxyConfig{User: "u", Password: "p"}, http.StatusProxyAuthRequired, "asks for credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := backendclienttest.NewCA(t, "ca")
			srv := tlsServer(t, ca.Server(t, "backend.test").TLS(t), nil)
			port := srv.Listener.Addr().(*net.TCPAddr).Port
			cfg := tc.proxy
			cfg.Target, cfg.Dial = "backend.test:"+strconv.Itoa(port), srv.Listener.Addr().String()
			p, proxyURL := backendclienttest.StartProxy(t, cfg)
			caFile := backendclienttest.WriteFile(t, t.TempDir(), "ca.crt", ca.PEM)
			c, err := New(Options{CAFile: caFile, Proxy: http.ProxyURL(proxyURL)})
			require.NoError(t, err)
			resp, err := c.Get("https://" + p.Target + "/")
			if tc.status == 0 {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "proxy "+proxyURL.String())
				assert.Contains(t, err.Error(), tc.want)
				assert.Contains(t, err.Error(), "403 Forbidden")
				return
			}
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Contains(t, string(body), tc.want)
			assert.Contains(t, string(body), "proxy "+proxyURL.String())
			assert.Zero(t, p.Tunnels())
		})
	}
}

func TestProxyDefaultsToTheEnvironment(t *testing.T) {
	c, err := New(Options{})
	require.NoError(t, err)
	tr := c.Transport.(*reloading).current
	assert.Equal(t, reflect.ValueOf(http.ProxyFromEnvironment).Pointer(), reflect.ValueOf(tr.Proxy).Pointer())
	assert.NotNil(t, tr.OnProxyConnectResponse)
	assert.Equal(t, uint16(tls.VersionTLS12), tr.TLSClientConfig.MinVersion)
}
