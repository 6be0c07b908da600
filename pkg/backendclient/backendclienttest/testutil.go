// Package backendclienttest has what tests of the backend client need: a
// throwaway CA that issues server and client certificates, and a CONNECT
// proxy on loopback that only ever dials the one backend it is told of.
package backendclienttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	PEM  []byte
}

var serial atomic.Int64

// NewCA makes a CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pair is a certificate and its key, in PEM.
type Pair struct{ CertPEM, KeyPEM []byte }

// TLS is the pair as a tls.Certificate.
func (p Pair) TLS(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Server issues a serving certificate for the DNS names (and 127.0.0.1).
func (ca *CA) Server(t testing.TB, names ...string) Pair {
	return ca.issue(t, names[0], names, x509.ExtKeyUsageServerAuth)
}

// Client issues a client certificate named cn.
func (ca *CA) Client(t testing.TB, cn string) Pair {
	return ca.issue(t, cn, nil, x509.ExtKeyUsageClientAuth)
}

// Pool is a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func (ca *CA) issue(t testing.TB, cn string, names []string, usage x509.ExtKeyUsage) Pair {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: names,
	}
	if names != nil {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// WriteFile writes data to dir/name the way a mounted Secret or ConfigMap
// changes: a new file renamed over the old one. It returns the path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// ProxyConfig says what a Proxy does.
type ProxyConfig struct {
	Target string // host:port the CONNECT must name, e.g. backend.test:4431
	Dial   string // where Target really is, e.g. 127.0.0.1:4431
	// Status, if not 0, answers every CONNECT with it instead of tunnelling.
	Status int
	// User and Password, if set, are required (407 without them).
	User, Password string
}

// Proxy is a CONNECT proxy on loopback. It tunnels only to Target, which
// it dials at Dial (a loopback address), and refuses anything else with
// 403; it never dials another address.
type Proxy struct {
	ProxyConfig
	srv      *httptest.Server
	mu       sync.Mutex
	tunnels  int
	refusals []string
}

// StartProxy starts a proxy and returns it and its URL.
func StartProxy(t testing.TB, cfg ProxyConfig) (*Proxy, *url.URL) {
	t.Helper()
	p := &Proxy{ProxyConfig: cfg}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	u, err := url.Parse(p.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return p, u
}

// Tunnels is how many CONNECTs p tunnelled.
func (p *Proxy) Tunnels() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tunnels
}

// Refused lists the targets p refused because they were not Target.
func (p *Proxy) Refused() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.refusals...)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	if r.Host != p.Target {
		p.mu.Lock()
		p.refusals = append(p.refusals, r.Host)
		p.mu.Unlock()
		http.Error(w, "not the test backend", http.StatusForbidden)
		return
	}
	if p.User != "" {
		req := &http.Request{Header: http.Header{"Authorization": r.Header["Proxy-Authorization"]}}
		if u, pw, ok := req.BasicAuth(); !ok || u != p.User || pw != p.Password {
			w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
			http.Error(w, "credentials needed", http.StatusProxyAuthRequired)
			return
		}
	}
	if p.Status != 0 {
		http.Error(w, "refused by test", p.Status)
		return
	}
	up, err := net.Dial("tcp", p.Dial)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = up.Close()
		return
	}
	p.mu.Lock()
	p.tunnels++
	p.mu.Unlock()
	_, _ = conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	go func() {
		_, _ = io.Copy(up, buf)
		_ = up.Close()
	}()
	_, _ = io.Copy(conn, up)
	_ = conn.Close()
}
