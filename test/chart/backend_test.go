package chart

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The backend connection options: a CA bundle from a ConfigMap, a client
// certificate from a kubernetes.io/tls Secret, a proxy.
func TestBackendCAAndClientCertificate(t *testing.T) {
	r := render(t, "--set", "auth.token=x",
		"--set", "backend.caConfigMap=corp-ca", "--set", "backend.caConfigMapKey=bundle.pem",
		"--set", "backend.clientCertSecret=catops-client")
	env := r.env(t)
	assert.Equal(t, "/etc/catops/backend-ca/ca.crt", env["CATOPS_BACKEND_CA_FILE"])
	assert.Equal(t, "/etc/catops/backend-tls/tls.crt", env["CATOPS_BACKEND_CERT_FILE"])
	assert.Equal(t, "/etc/catops/backend-tls/tls.key", env["CATOPS_BACKEND_KEY_FILE"])

	mounts := r.mounts(t)
	assert.Equal(t, "/etc/catops/backend-ca", mounts["backend-ca"].MountPath)
	assert.True(t, mounts["backend-ca"].ReadOnly)
	assert.Empty(t, mounts["backend-ca"].SubPath, "a directory mount sees the ConfigMap's updates")
	assert.Equal(t, "/etc/catops/backend-tls", mounts["backend-tls"].MountPath)
	assert.True(t, mounts["backend-tls"].ReadOnly)
	assert.Empty(t, mounts["backend-tls"].SubPath)

	vols := r.volumes()
	ca := vols["backend-ca"].ConfigMap
	require.NotNil(t, ca)
	assert.Equal(t, "corp-ca", ca.Name)
	require.Len(t, ca.Items, 1)
	assert.Equal(t, "bundle.pem", ca.Items[0].Key)
	assert.Equal(t, "ca.crt", ca.Items[0].Path)
	sec := vols["backend-tls"].Secret
	require.NotNil(t, sec)
	assert.Equal(t, "catops-client", sec.SecretName)
	require.Len(t, sec.Items, 2)
	assert.Equal(t, "tls.crt", sec.Items[0].Key)
	assert.Equal(t, "tls.key", sec.Items[1].Key)
}

func TestBackendOptionsOffByDefault(t *testing.T) {
	r := render(t, "--set", "auth.token=x")
	env := r.env(t)
	for _, name := range []string{"CATOPS_BACKEND_CA_FILE", "CATOPS_BACKEND_CERT_FILE", "CATOPS_BACKEND_KEY_FILE", "HTTPS_PROXY", "NO_PROXY"} {
		assert.NotContains(t, env, name)
	}
	assert.NotContains(t, r.volumes(), "backend-ca")
	assert.NotContains(t, r.volumes(), "backend-tls")
}

func TestProxyValues(t *testing.T) {
	r := render(t, "--set", "auth.token=x", "--set", "proxy.httpsProxy=http://proxy.corp:3128", "--set", `proxy.noProxy=.corp.example\,10.0.0.0/8`)
	env := r.env(t)
	assert.Equal(t, "http://proxy.corp:3128", env["HTTPS_PROXY"])
	assert.Equal(t, ".corp.example,10.0.0.0/8,$(KUBERNETES_SERVICE_HOST)", env["NO_PROXY"],
		"the API server is reached directly")

	r = render(t, "--set", "auth.token=x", "--set", "proxy.httpsProxy=http://proxy.corp:3128", "--set", "podMetrics.source=kubelet")
	env = r.env(t)
	assert.Equal(t, "$(KUBERNETES_SERVICE_HOST),$(HOST_IP)", env["NO_PROXY"], "so is the kubelet")
	names := []string{}
	for _, e := range r.container(t).Env {
		names = append(names, e.Name)
	}
	assert.Less(t, indexOf(names, "HOST_IP"), indexOf(names, "NO_PROXY"), "$(HOST_IP) needs HOST_IP defined before")

	r = render(t, "--set", "auth.token=x", "--set", "proxy.noProxy=internal.example")
	assert.Equal(t, "internal.example", r.env(t)["NO_PROXY"])
	assert.NotContains(t, r.env(t), "HTTPS_PROXY")
}

// A proxy given through extraEnv (the way to keep its password in a
// Secret) also gets the API server added to NO_PROXY; a NO_PROXY in
// extraEnv is the user's alone (never two variables of one name).
func TestProxyFromExtraEnv(t *testing.T) {
	r := render(t, "--set", "auth.token=x", "--set", "extraEnv[0].name=HTTPS_PROXY", "--set", "extraEnv[0].value=http://proxy.corp:3128")
	assert.Equal(t, "$(KUBERNETES_SERVICE_HOST)", r.env(t)["NO_PROXY"])

	r = render(t, "--set", "auth.token=x", "--set", "proxy.httpsProxy=http://proxy.corp:3128",
		"--set", "extraEnv[0].name=NO_PROXY", "--set", `extraEnv[0].value=10.96.0.1\,.corp.example`)
	count := 0
	for _, e := range r.container(t).Env {
		if e.Name == "NO_PROXY" {
			count++
			assert.Equal(t, "10.96.0.1,.corp.example", e.Value)
		}
	}
	assert.Equal(t, 1, count)
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func TestSchemaRefusesBadBackendOptions(t *testing.T) {
	for _, tc := range []struct {
		set, want string
	}{
		{"backend.caConfigMap=Corp_CA", "backend.caConfigMap"},
		{"backend.clientCertSecret=Bad Name", "backend.clientCertSecret"},
		{"backend.caConfigMapKey=../x", "backend.caConfigMapKey"},
		{"proxy.httpsProxy=proxy corp:3128", "proxy.httpsProxy"},
		{"proxy.httpsProxy=ftp://proxy:21", "proxy.httpsProxy"},
		{"proxy.noProxy=a b", "proxy.noProxy"},
		{"proxy.httpProxy=http://x", "httpProxy"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			_, err := template(t, "--set", "auth.token=x", "--set", tc.set)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestHelmLintBackendOptions(t *testing.T) {
	out, err := runHelm(t, "lint", "--strict", chartDir(t), "--set", "auth.token=lint-token",
		"--set", "backend.caConfigMap=corp-ca", "--set", "backend.clientCertSecret=catops-client",
		"--set", "proxy.httpsProxy=http://proxy.corp:3128", "--set", "proxy.noProxy=.corp.example")
	require.NoError(t, err, out)
	assert.Contains(t, out, "1 chart(s) linted, 0 chart(s) failed")
}
