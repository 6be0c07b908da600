// Package backendclient builds the HTTP client the sender posts with: the
// backend's CA bundle and the agent's client certificate (mTLS), both
// re-read when their files change, and the proxy from the environment.
//
// Reloading rebuilds the transport: each request stats the files (cheap),
// and when one changed they are all read again and a fresh transport with
// the standard certificate verification replaces the old one, whose idle
// connections are closed. Files that no longer load (a half-written
// rotation) leave the previous transport in use and are tried again when
// they change next.
//
// A proxy that refuses the CONNECT to an https backend fails the request
// with an error that names the proxy; a 407 there is given to the caller as
// a 407 answer, the same as a proxy in front of an http:// backend gives.
package backendclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// Options choose the client's TLS files and proxy.
type Options struct {
	// CAFile is a PEM bundle trusted in place of the system roots for the
	// backend's certificate; empty: the system roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key shown to
	// a backend that asks for one (mTLS); both or neither.
	CertFile, KeyFile string
	// Proxy picks the proxy of each request; default
	// http.ProxyFromEnvironment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, read
	// once; never for loopback destinations).
	Proxy func(*http.Request) (*url.URL, error)
	// Logger says when the files were reloaded or could not be.
	Logger *zap.Logger
}

// New checks and loads the files and returns the client.
func New(opts Options) (*http.Client, error) {
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, errors.New("a client certificate needs both a certificate file and a key file")
	}
	if opts.Proxy == nil {
		opts.Proxy = http.ProxyFromEnvironment
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	r := &reloading{opts: opts}
	for _, p := range []string{opts.CAFile, opts.CertFile, opts.KeyFile} {
		if p != "" {
			r.files = append(r.files, p)
		}
	}
	stamps := r.stamp()
	t, err := r.build()
	if err != nil {
		return nil, err
	}
	r.current, r.loaded, r.tried = t, stamps, stamps
	return &http.Client{Transport: r}, nil
}

// reloading is the client's RoundTripper.
type reloading struct {
	opts  Options
	files []string

	mu      sync.Mutex
	current *http.Transport
	loaded  []os.FileInfo // the files' state when current was built
	tried   []os.FileInfo // the state last tried, loaded or not
}

// RoundTrip sends req on the current transport, rebuilt first when a file
// changed.
func (r *reloading) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.transport().RoundTrip(req)
	var pe *ProxyError
	if err != nil && errors.As(err, &pe) && pe.Status == http.StatusProxyAuthRequired {
		return &http.Response{
			Status: pe.StatusText, StatusCode: pe.Status,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{},
			Body:    io.NopCloser(strings.NewReader(pe.Error())),
			Request: req,
		}, nil
	}
	return resp, err
}

// CloseIdleConnections closes the current transport's idle connections
// (without looking at the files).
func (r *reloading) CloseIdleConnections() {
	r.mu.Lock()
	t := r.current
	r.mu.Unlock()
	t.CloseIdleConnections()
}

func (r *reloading) transport() *http.Transport {
	if len(r.files) == 0 {
		return r.current
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	stamps := r.stamp()
	if same(stamps, r.loaded) || same(stamps, r.tried) {
		return r.current
	}
	r.tried = stamps
	t, err := r.build()
	if err != nil {
		r.opts.Logger.Warn("Backend TLS files changed but do not load; still using the previous ones", zap.Error(err))
		return r.current
	}
	old := r.current
	r.current, r.loaded = t, stamps
	old.CloseIdleConnections()
	r.opts.Logger.Info("Backend TLS files changed; reloaded them", zap.Strings("files", r.files))
	return r.current
}

// stamp stats every file; a file that cannot be stat'ed has a nil entry.
func (r *reloading) stamp() []os.FileInfo {
	out := make([]os.FileInfo, len(r.files))
	for i, p := range r.files {
		if st, err := os.Stat(p); err == nil {
			out[i] = st
		}
	}
	return out
}

// same reports whether two stampings saw the same files, unchanged.
func same(a, b []os.FileInfo) bool {
	for i := range a {
		if a[i] == nil || b[i] == nil {
			if a[i] != b[i] {
				return false
			}
			continue
		}
		if !os.SameFile(a[i], b[i]) || !a[i].ModTime().Equal(b[i].ModTime()) || a[i].Size() != b[i].Size() {
			return false
		}
	}
	return true
}

// build reads the files and returns a new transport.
func (r *reloading) build() (*http.Transport, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.opts.CAFile != "" {
		pool, err := LoadCA(r.opts.CAFile)
		if err != nil {
			return nil, err
		}
		tlsConfig.RootCAs = pool
	}
	if r.opts.CertFile != "" {
		cert, err := LoadKeyPair(r.opts.CertFile, r.opts.KeyFile)
		if err != nil {
			return nil, err
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tlsConfig
	t.Proxy = r.opts.Proxy
	t.OnProxyConnectResponse = proxyConnectResponse
	return t, nil
}

// LoadCA reads a PEM CA bundle; an error when it holds no certificate.
func LoadCA(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: reading the configured CA file is the job
	if err != nil {
		return nil, fmt.Errorf("cannot read the CA file %q: %w", path, unwrapPath(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("the CA file %q holds no PEM certificate", path)
	}
	return pool, nil
}

// LoadKeyPair reads a PEM client certificate and its key; an error when
// either does not load or the key is not the certificate's.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	for _, p := range []string{certFile, keyFile} {
		if _, err := os.Stat(p); err != nil {
			return tls.Certificate{}, fmt.Errorf("cannot read %q: %w", p, unwrapPath(err))
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return tls.Certificate{}, fmt.Errorf("the key in %q is not the key of the certificate in %q", keyFile, certFile)
		}
		return tls.Certificate{}, fmt.Errorf("client certificate %q and key %q: %w", certFile, keyFile, err)
	}
	return cert, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ProxyError is a proxy's refusal of the CONNECT to the backend.
type ProxyError struct {
	Proxy      string // the proxy's URL, without credentials
	Target     string // host:port the CONNECT asked for
	Status     int
	StatusText string // e.g. "403 Forbidden"
}

func (e *ProxyError) Error() string {
	msg := fmt.Sprintf("proxy %s refused to connect to %s: %s", e.Proxy, e.Target, e.StatusText)
	if e.Status == http.StatusProxyAuthRequired {
		msg += " (it asks for credentials: put user:password@ in HTTPS_PROXY)"
	}
	return msg
}

func proxyConnectResponse(_ context.Context, proxy *url.URL, req *http.Request, resp *http.Response) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return &ProxyError{Proxy: proxy.Redacted(), Target: req.Host, Status: resp.StatusCode, StatusText: resp.Status}
}
