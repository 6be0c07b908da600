package rig

import (
	"encoding/base64"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// writeKubeconfig writes the admin kubeconfig with the certificates
// embedded, so the file can be copied elsewhere and still work.
func (c *Cluster) writeKubeconfig() error {
	read := func(p string) (string, error) {
		b, err := os.ReadFile(p)
		return base64.StdEncoding.EncodeToString(b), err
	}
	ca, err := read(c.PKI.CACert)
	if err != nil {
		return err
	}
	crt, err := read(c.PKI.AdminCert)
	if err != nil {
		return err
	}
	key, err := read(c.PKI.AdminKey)
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: catops-rig
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: rig-admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: catops-rig
  context:
    cluster: catops-rig
    user: rig-admin
    namespace: default
current-context: catops-rig
`, c.APIServerURL, ca, crt, key)
	return os.WriteFile(c.Kubeconfig, []byte(cfg), 0o600)
}

// RESTConfig returns a client-go config for the admin user.
func (c *Cluster) RESTConfig() *rest.Config {
	return &rest.Config{
		Host: c.APIServerURL,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile:   c.PKI.CACert,
			CertFile: c.PKI.AdminCert,
			KeyFile:  c.PKI.AdminKey,
		},
		QPS:   100,
		Burst: 200,
		Dial:  c.opts.Dial,
	}
}

// TokenRESTConfig returns a client-go config that authenticates with a
// bearer token (e.g. a ServiceAccount's, from TokenRequest or
// `kubectl create token`) instead of the admin certificate.
func (c *Cluster) TokenRESTConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.APIServerURL,
		TLSClientConfig: rest.TLSClientConfig{CAFile: c.PKI.CACert},
		BearerToken:     token,
		QPS:             100,
		Burst:           200,
		Dial:            c.opts.Dial,
	}
}

// Clientset returns an admin clientset.
func (c *Cluster) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(c.RESTConfig())
}
