package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/backendclient/backendclienttest"
)

func TestBackendTLSFilesAreAccepted(t *testing.T) {
	dir := t.TempDir()
	ca := backendclienttest.NewCA(t, "ca")
	pair := ca.Client(t, "agent")
	caFile := backendclienttest.WriteFile(t, dir, "ca.crt", ca.PEM)
	certFile := backendclienttest.WriteFile(t, dir, "tls.crt", pair.CertPEM)
	keyFile := backendclienttest.WriteFile(t, dir, "tls.key", pair.KeyPEM)
	o := NewOptions("catops-k8s")
	require.NoError(t, o.Parse([]string{"--backend-ca-file=" + caFile}, env(with(map[string]string{
		"CATOPS_BACKEND_CERT_FILE": certFile, "CATOPS_BACKEND_KEY_FILE": keyFile,
		"HTTPS_PROXY": "http://user:pw@proxy.corp:3128", "http_proxy": "proxy.corp:3128", "NO_PROXY": "10.0.0.0/8",
	}))))
	c, err := o.Validate()
	require.NoError(t, err)
	assert.Equal(t, caFile, c.BackendCAFile)
	assert.Equal(t, certFile, c.BackendCertFile)
	assert.Equal(t, keyFile, c.BackendKeyFile)
}

func TestBackendTLSAndProxyMistakesAreOneLine(t *testing.T) {
	dir := t.TempDir()
	ca := backendclienttest.NewCA(t, "ca")
	a, b := ca.Client(t, "a"), ca.Client(t, "b")
	notPEM := backendclienttest.WriteFile(t, dir, "ca.crt", []byte("-----BEGIN NOTHING-----\n"))
	certA := backendclienttest.WriteFile(t, dir, "a.crt", a.CertPEM)
	keyB := backendclienttest.WriteFile(t, dir, "b.key", b.KeyPEM)
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"CA not PEM": {map[string]string{"CATOPS_BACKEND_CA_FILE": notPEM},
			`CATOPS_BACKEND_CA_FILE: the CA file "` + notPEM + `" holds no PEM certificate`},
		"CA missing": {map[string]string{"CATOPS_BACKEND_CA_FILE": filepath.Join(dir, "none")},
			"CATOPS_BACKEND_CA_FILE: cannot read the CA file"},
		"cert without key": {map[string]string{"CATOPS_BACKEND_CERT_FILE": certA},
			"CATOPS_BACKEND_CERT_FILE is set but CATOPS_BACKEND_KEY_FILE is not: set both"},
		"key without cert": {map[string]string{"CATOPS_BACKEND_KEY_FILE": keyB},
			"CATOPS_BACKEND_KEY_FILE is set but CATOPS_BACKEND_CERT_FILE is not: set both"},
		"key of another cert": {map[string]string{"CATOPS_BACKEND_CERT_FILE": certA, "CATOPS_BACKEND_KEY_FILE": keyB},
			`CATOPS_BACKEND_CERT_FILE and CATOPS_BACKEND_KEY_FILE: the key in "` + keyB + `" is not the key of the certificate in "` + certA + `"`},
		"cert not PEM": {map[string]string{"CATOPS_BACKEND_CERT_FILE": notPEM, "CATOPS_BACKEND_KEY_FILE": keyB},
			"CATOPS_BACKEND_CERT_FILE and CATOPS_BACKEND_KEY_FILE: client certificate"},
		"proxy does not parse": {map[string]string{"HTTPS_PROXY": "http://user:" + secret + "@proxy%zz:3128"},
			"HTTPS_PROXY is not a valid proxy URL"},
		"proxy with a space": {map[string]string{"HTTPS_PROXY": "http://user:" + secret + "@proxy corp:3128"},
			"HTTPS_PROXY holds a space or a line break"},
		"proxy with a newline": {map[string]string{"HTTPS_PROXY": "http://user:" + secret + "@proxy.corp:3128\n"},
			"HTTPS_PROXY holds a space or a line break (a Secret made with --from-file keeps the file's newline)"},
		"proxy bad port": {map[string]string{"https_proxy": "http://proxy:99999"},
			"https_proxy is not a valid proxy URL"},
		"proxy no host": {map[string]string{"HTTP_PROXY": "http://"},
			"HTTP_PROXY is not a valid proxy URL"},
		"proxy other scheme": {map[string]string{"HTTPS_PROXY": "ftp://proxy:21"},
			"HTTPS_PROXY is not a valid proxy URL"},
	} {
		t.Run(name, func(t *testing.T) {
			o := NewOptions("catops-k8s")
			require.NoError(t, o.Parse(nil, env(with(tc.env))))
			_, err := o.Validate()
			require.Error(t, err)
			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			assert.Contains(t, err.Error(), tc.want)
			assert.False(t, strings.Contains(err.Error(), "\n"), "one line: %q", err)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}
