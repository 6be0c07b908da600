package rig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI holds the paths of the certificates and keys of one rig run, all in
// PEM files under <data dir>/pki.
type PKI struct {
	Dir string

	CACert, CAKey string // signs serving certs and client certs (the cluster CA)

	APIServerCert, APIServerKey string // kube-apiserver serving cert
	AdminCert, AdminKey         string // CN=rig-admin, O=system:masters

	FrontProxyCACert, FrontProxyCAKey         string // aggregation layer request-header CA
	FrontProxyClientCert, FrontProxyClientKey string // CN=front-proxy-client

	ServiceAccountKey, ServiceAccountPub string // service-account token signing key pair

	ServingCert, ServingKey string // generic 127.0.0.1/localhost serving cert (kwok, metrics-server, test servers)
}

type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// certValidity: long enough for a demo cluster left up for days.
const certValidity = 30 * 24 * time.Hour

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

// sign makes a fresh key and a certificate for tmpl, signed by parent, or
// self-signed when parent is nil. It fills the serial number and validity.
func sign(tmpl *x509.Certificate, parent *keyPair) (der []byte, key *ecdsa.PrivateKey, err error) {
	key, err = newKey()
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(certValidity)
	signer, signerCert := crypto.Signer(key), tmpl
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signer)
	return der, key, err
}

func newCA(cn string) (*keyPair, []byte, error) {
	der, key, err := sign(&x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"catops test rig"}},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return &keyPair{cert: cert, key: key}, der, nil
}

type certSpec struct {
	cn     string
	orgs   []string
	dns    []string
	ips    []net.IP
	server bool
	client bool
}

func (ca *keyPair) issue(spec certSpec) (der []byte, key *ecdsa.PrivateKey, err error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: spec.cn, Organization: spec.orgs},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:    spec.dns,
		IPAddresses: spec.ips,
	}
	if spec.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	return sign(tmpl, ca)
}

func writeCertPEM(path string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeKeyPEM(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// loopbackIPs are the addresses every serving cert of the rig is valid for,
// plus the first address of the service range (the in-cluster
// "kubernetes" Service).
var loopbackIPs = []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback, net.ParseIP(serviceClusterFirstIP)}

// pkiPaths names the files of a PKI folder.
func pkiPaths(dir string) *PKI {
	return &PKI{
		Dir:                  dir,
		CACert:               filepath.Join(dir, "ca.crt"),
		CAKey:                filepath.Join(dir, "ca.key"),
		APIServerCert:        filepath.Join(dir, "apiserver.crt"),
		APIServerKey:         filepath.Join(dir, "apiserver.key"),
		AdminCert:            filepath.Join(dir, "admin.crt"),
		AdminKey:             filepath.Join(dir, "admin.key"),
		FrontProxyCACert:     filepath.Join(dir, "front-proxy-ca.crt"),
		FrontProxyCAKey:      filepath.Join(dir, "front-proxy-ca.key"),
		FrontProxyClientCert: filepath.Join(dir, "front-proxy-client.crt"),
		FrontProxyClientKey:  filepath.Join(dir, "front-proxy-client.key"),
		ServiceAccountKey:    filepath.Join(dir, "sa.key"),
		ServiceAccountPub:    filepath.Join(dir, "sa.pub"),
		ServingCert:          filepath.Join(dir, "serving.crt"),
		ServingKey:           filepath.Join(dir, "serving.key"),
	}
}

// generatePKI writes a complete set of certificates and keys into dir.
func generatePKI(dir string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := pkiPaths(dir)

	ca, caDER, err := newCA("catops-rig-ca")
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	if err := writeCertPEM(p.CACert, caDER); err != nil {
		return nil, err
	}
	if err := writeKeyPEM(p.CAKey, ca.key); err != nil {
		return nil, err
	}

	fp, fpDER, err := newCA("catops-rig-front-proxy-ca")
	if err != nil {
		return nil, fmt.Errorf("front-proxy CA: %w", err)
	}
	if err := writeCertPEM(p.FrontProxyCACert, fpDER); err != nil {
		return nil, err
	}
	if err := writeKeyPEM(p.FrontProxyCAKey, fp.key); err != nil {
		return nil, err
	}

	issued := []struct {
		ca              *keyPair
		spec            certSpec
		certOut, keyOut string
	}{
		{ca, certSpec{
			cn:     "kube-apiserver",
			dns:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips:    loopbackIPs,
			server: true,
		}, p.APIServerCert, p.APIServerKey},
		{ca, certSpec{cn: "rig-admin", orgs: []string{"system:masters"}, client: true}, p.AdminCert, p.AdminKey},
		{ca, certSpec{cn: "rig-serving", dns: []string{"localhost"}, ips: loopbackIPs, server: true}, p.ServingCert, p.ServingKey},
		{fp, certSpec{cn: "front-proxy-client", client: true}, p.FrontProxyClientCert, p.FrontProxyClientKey},
	}
	for _, is := range issued {
		der, key, err := is.ca.issue(is.spec)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", is.spec.cn, err)
		}
		if err := writeCertPEM(is.certOut, der); err != nil {
			return nil, err
		}
		if err := writeKeyPEM(is.keyOut, key); err != nil {
			return nil, err
		}
	}

	saKey, err := newKey()
	if err != nil {
		return nil, err
	}
	if err := writeKeyPEM(p.ServiceAccountKey, saKey); err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.ServiceAccountPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return nil, err
	}
	return p, nil
}
