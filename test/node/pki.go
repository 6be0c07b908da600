package node

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

type kubeletCerts struct {
	clientCert, clientKey   string // CN=system:node:<name>, O=system:nodes
	servingCert, servingKey string // <name>, localhost, 127.0.0.1, NodeIP
}

// issueKubeletCerts signs the kubelet's client and serving certificates
// with the control plane's CA (test/rig's pki/ca.{crt,key}).
func issueKubeletCerts(caCertFile, caKeyFile, name, dir string) (kubeletCerts, error) {
	caCert, caKey, err := loadCA(caCertFile, caKeyFile)
	if err != nil {
		return kubeletCerts{}, err
	}
	out := kubeletCerts{
		clientCert: filepath.Join(dir, "kubelet-client.crt"), clientKey: filepath.Join(dir, "kubelet-client.key"),
		servingCert: filepath.Join(dir, "kubelet-serving.crt"), servingKey: filepath.Join(dir, "kubelet-serving.key"),
	}
	specs := []struct {
		tmpl     x509.Certificate
		crt, key string
	}{
		{x509.Certificate{
			Subject:     pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, out.clientCert, out.clientKey},
		{x509.Certificate{
			Subject:     pkix.Name{CommonName: name},
			DNSNames:    []string{name, "localhost"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(NodeIP)},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}, out.servingCert, out.servingKey},
	}
	for _, s := range specs {
		if err := issue(s.tmpl, caCert, caKey, s.crt, s.key); err != nil {
			return out, fmt.Errorf("%s: %w", s.tmpl.Subject.CommonName, err)
		}
	}
	return out, nil
}

// IssueServingCert writes dir/name.crt and dir/name.key: a serving
// certificate for ips signed by the control plane's CA (the CA every pod's
// ServiceAccount ca.crt holds), e.g. for a receiver pods reach at NodeIP.
func (n *Node) IssueServingCert(dir, name string, ips ...string) (certFile, keyFile string, err error) {
	caCert, caKey, err := loadCA(n.Cluster.PKI.CACert, n.Cluster.PKI.CAKey)
	if err != nil {
		return "", "", err
	}
	tmpl := x509.Certificate{Subject: pkix.Name{CommonName: name}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, ip := range ips {
		p := net.ParseIP(ip)
		if p == nil {
			return "", "", fmt.Errorf("node: %q is not an IP address", ip)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, p)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	return certFile, keyFile, issue(tmpl, caCert, caKey, certFile, keyFile)
}

func loadCA(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("CA: no PEM block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("CA key: %T is not a signer", k)
	}
	return cert, signer, nil
}

func issue(tmpl x509.Certificate, ca *x509.Certificate, caKey crypto.Signer, crtFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126)); err != nil {
		return err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), ca.NotAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca, key.Public(), caKey)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(crtFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}
