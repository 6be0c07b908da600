package rig

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP apiserver_request_total [STABLE] Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="cluster",subresource="",verb="LIST",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="nodes",scope="cluster",subresource="",verb="WATCH",version="v1"} 3
odd_metric{msg="a \"quoted\" value, with {braces}"} 1.5e+02
plain_metric 4 1700000000000
inf_metric +Inf
`
	s, err := ParseMetrics(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 6 {
		t.Fatalf("got %d samples", len(s))
	}
	if got := s.APIRequests("LIST", "pods"); got != 9 {
		t.Errorf("LIST pods = %v", got)
	}
	if got := s.APIRequests("WATCH", ""); got != 3 {
		t.Errorf("WATCH = %v", got)
	}
	if got := s.Sum("apiserver_request_total", map[string]string{"scope": "cluster"}); got != 5 {
		t.Errorf("cluster scope = %v", got)
	}
	odd := s.Filter("odd_metric", nil)
	if len(odd) != 1 || odd[0].Labels["msg"] != `a "quoted" value, with {braces}` || odd[0].Value != 150 {
		t.Errorf("odd = %+v", odd)
	}
	if s.Sum("plain_metric", nil) != 4 {
		t.Errorf("plain = %v", s.Sum("plain_metric", nil))
	}
	if _, err := ParseMetrics("broken{a=\"x} 1\n"); err == nil {
		t.Error("want error for unterminated label")
	}
}

func TestPKI(t *testing.T) {
	p, err := generatePKI(filepath.Join(t.TempDir(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	pool := func(path string) *x509.CertPool {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cp := x509.NewCertPool()
		if !cp.AppendCertsFromPEM(data) {
			t.Fatalf("%s: no certs", path)
		}
		return cp
	}
	leaf := func(certFile, keyFile string) *x509.Certificate {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(kp.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca, fpca := pool(p.CACert), pool(p.FrontProxyCACert)

	srv := leaf(p.APIServerCert, p.APIServerKey)
	for _, name := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc"} {
		if _, err := srv.Verify(x509.VerifyOptions{DNSName: name, Roots: ca}); err != nil {
			t.Errorf("apiserver cert for %s: %v", name, err)
		}
	}
	admin := leaf(p.AdminCert, p.AdminKey)
	if _, err := admin.Verify(x509.VerifyOptions{Roots: ca, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin cert: %v", err)
	}
	if admin.Subject.CommonName != "rig-admin" || strings.Join(admin.Subject.Organization, ",") != "system:masters" {
		t.Errorf("admin subject %v", admin.Subject)
	}
	fp := leaf(p.FrontProxyClientCert, p.FrontProxyClientKey)
	if _, err := fp.Verify(x509.VerifyOptions{Roots: fpca, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("front-proxy client cert: %v", err)
	}
	if _, err := fp.Verify(x509.VerifyOptions{Roots: ca, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("front-proxy client cert must not verify against the cluster CA")
	}
	for _, f := range []string{p.ServiceAccountKey, p.ServiceAccountPub, p.ServingCert, p.ServingKey} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestRepoRootAndMissingBinary(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "hack", "build-tools.sh")); err != nil {
		t.Errorf("root %s has no hack/build-tools.sh", root)
	}
	_, err = binaryIn(t.TempDir(), BinKubeAPIServer)
	if err == nil || !strings.Contains(err.Error(), "make tools") || !strings.Contains(err.Error(), "hack/build-tools.sh") {
		t.Errorf("missing-binary error should say how to build: %v", err)
	}
}

// FreePort's ports are below the kernel's ephemeral range, where no
// outgoing connection takes them before the process that was given one
// listens on it, and can be listened on.
func TestFreePortIsOutsideTheEphemeralRange(t *testing.T) {
	lo := ephemeralLow()
	if lo == 0 {
		t.Skip("no /proc/sys/net/ipv4/ip_local_port_range here")
	}
	seen := map[int]bool{}
	for range 20 {
		port, err := FreePort()
		require.NoError(t, err)
		assert.Less(t, port, lo)
		assert.GreaterOrEqual(t, port, 10000)
		seen[port] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		require.NoError(t, err, "port %d", port)
		require.NoError(t, l.Close())
	}
	assert.Greater(t, len(seen), 1, "drawn, not fixed")
}
