package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secret = "tok-do-not-print-9f8e7d"

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func base() map[string]string {
	return map[string]string{"NODE_NAME": "node-a", "CATOPS_AUTH_TOKEN": secret}
}

func with(extra map[string]string) map[string]string {
	m := base()
	for k, v := range extra {
		if v == "<unset>" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

func TestDefaults(t *testing.T) {
	o := NewOptions("catops-k8s")
	require.NoError(t, o.Parse(nil, env(base())))
	c, err := o.Validate()
	require.NoError(t, err)
	assert.Equal(t, "https://api.catops.io", c.BackendURL)
	assert.Equal(t, 60*time.Second, c.CollectionInterval)
	assert.Equal(t, 10*time.Minute, c.SnapshotInterval)
	assert.Equal(t, FormatDelta, c.WireFormat)
	assert.Equal(t, SourceMetricsAPI, c.PodMetricsSource)
	assert.Equal(t, ":8080", c.HealthAddr)
	assert.Equal(t, 8<<20, c.QueueMaxBytes)
}

func TestFlagBeatsEnvBeatsDefault(t *testing.T) {
	o := NewOptions("catops-k8s")
	require.NoError(t, o.Parse([]string{"--collection-interval=30s"}, env(with(map[string]string{
		"COLLECTION_INTERVAL": "20", "CATOPS_BACKEND_URL": "http://127.0.0.1:9000/", "CATOPS_QUEUE_MAX_BYTES": "16Mi",
	}))))
	c, err := o.Validate()
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, c.CollectionInterval)
	assert.Equal(t, "http://127.0.0.1:9000", c.BackendURL, "loopback http is allowed; trailing slash trimmed")
	assert.Equal(t, 16<<20, c.QueueMaxBytes)
}

func TestBadConfigIsRejectedWithOneClearLine(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no node", map[string]string{"NODE_NAME": "<unset>"}, nil, "NODE_NAME is not set"},
		{"no token", map[string]string{"CATOPS_AUTH_TOKEN": "<unset>"}, nil, "no auth token: set CATOPS_AUTH_TOKEN"},
		{"not a url", map[string]string{"CATOPS_BACKEND_URL": "api.catops.io"}, nil, "CATOPS_BACKEND_URL must be an absolute http(s) URL"},
		{"bad scheme", map[string]string{"CATOPS_BACKEND_URL": "ftp://x"}, nil, "CATOPS_BACKEND_URL must be an absolute http(s) URL"},
		{"credentials in url", map[string]string{"CATOPS_BACKEND_URL": "https://u:p@x"}, nil, "must not hold credentials"},
		{"plain http remote", map[string]string{"CATOPS_BACKEND_URL": "http://backend.example:80"}, nil, "set CATOPS_ALLOW_INSECURE_HTTP=true"},
		{"non-numeric interval", map[string]string{"COLLECTION_INTERVAL": "often"}, nil, `COLLECTION_INTERVAL must be a number of seconds or a duration such as 30s, got "often"`},
		{"interval too small", map[string]string{"COLLECTION_INTERVAL": "2"}, nil, "COLLECTION_INTERVAL must be at least 10s, got 2s"},
		{"flag named in error", nil, []string{"--collection-interval=1s"}, "--collection-interval must be at least 10s"},
		{"seconds beyond a Duration are not wrapped around", map[string]string{"COLLECTION_INTERVAL": "18446744133"}, nil, `COLLECTION_INTERVAL must be a number of seconds or a duration such as 30s, got "18446744133"`},
		{"snapshot shorter than interval", map[string]string{"COLLECTION_INTERVAL": "120", "CATOPS_SNAPSHOT_INTERVAL": "1m"}, nil, "must not be shorter than COLLECTION_INTERVAL"},
		{"bad wire format", map[string]string{"CATOPS_WIRE_FORMAT": "xml"}, nil, "CATOPS_WIRE_FORMAT must be one of delta, snapshot"},
		{"bad source", map[string]string{"CATOPS_POD_METRICS_SOURCE": "cadvisor"}, nil, "CATOPS_POD_METRICS_SOURCE must be one of metrics-api, kubelet, none"},
		{"bad watch-list mode", map[string]string{"CATOPS_WATCH_LIST": "yes"}, nil, "CATOPS_WATCH_LIST must be one of auto, on, off"},
		{"kubelet url over http", map[string]string{"CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_KUBELET_URL": "http://10.0.0.5:10255/metrics/resource"}, nil, `CATOPS_KUBELET_URL must be an absolute https URL without credentials such as https://10.0.0.5:10250/metrics/resource, got "http://10.0.0.5:10255/metrics/resource"`},
		{"kubelet url with credentials", map[string]string{"CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_KUBELET_URL": "https://user:pa ss@10.0.0.5:10250/"}, nil, "CATOPS_KUBELET_URL must be an absolute https URL without credentials"},
		{"kubelet url without kubelet source", map[string]string{"CATOPS_KUBELET_URL": "https://10.0.0.5:10250/metrics/resource"}, nil, "CATOPS_KUBELET_URL is set but CATOPS_POD_METRICS_SOURCE is metrics-api: set CATOPS_POD_METRICS_SOURCE=kubelet"},
		{"kubelet skip-verify without kubelet source", map[string]string{"CATOPS_POD_METRICS_SOURCE": "none", "CATOPS_KUBELET_INSECURE_SKIP_VERIFY": "true"}, nil, "CATOPS_KUBELET_INSECURE_SKIP_VERIFY is set but CATOPS_POD_METRICS_SOURCE is none"},
		{"kubelet skip-verify not a bool", map[string]string{"CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_KUBELET_INSECURE_SKIP_VERIFY": "maybe"}, nil, `CATOPS_KUBELET_INSECURE_SKIP_VERIFY must be true or false, got "maybe"`},
		{"kubelet summary not a bool", map[string]string{"CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_KUBELET_SUMMARY": "maybe"}, nil, `CATOPS_KUBELET_SUMMARY must be true or false, got "maybe"`},
		{"kubelet CA file missing", map[string]string{"CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_KUBELET_CA_FILE": "/nonexistent/ca.crt"}, nil, `CATOPS_KUBELET_CA_FILE: cannot read "/nonexistent/ca.crt": no such file or directory`},
		{"kubelet CA file not PEM", map[string]string{"CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_KUBELET_CA_FILE": "config_test.go"}, nil, `CATOPS_KUBELET_CA_FILE: "config_test.go" holds no PEM certificate`},
		{"kubelet CA file and skip-verify", map[string]string{"CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_KUBELET_CA_FILE": "config_test.go", "CATOPS_KUBELET_INSECURE_SKIP_VERIFY": "true"}, nil, "CATOPS_KUBELET_CA_FILE and CATOPS_KUBELET_INSECURE_SKIP_VERIFY are both set"},
		{"host IP not an IP", map[string]string{"HOST_IP": "node-a"}, nil, `HOST_IP must be an IP address (the downward API field status.hostIP), got "node-a"`},
		{"bad level", map[string]string{"CATOPS_LOG_LEVEL": "loud"}, nil, "CATOPS_LOG_LEVEL must be debug, info, warn or error"},
		{"bad queue", map[string]string{"CATOPS_QUEUE_MAX_BYTES": "lots"}, nil, "CATOPS_QUEUE_MAX_BYTES must be a number of bytes"},
		{"queue too small", map[string]string{"CATOPS_QUEUE_MAX_BYTES": "1000"}, nil, "must be at least 1048576 bytes"},
		{"queue beyond int64 is not wrapped around", map[string]string{"CATOPS_QUEUE_MAX_BYTES": "18446744073710600192"}, nil, `CATOPS_QUEUE_MAX_BYTES must be a number of bytes such as 8388608 or 8Mi, got "18446744073710600192"`},
		{"queue far too large", map[string]string{"CATOPS_QUEUE_MAX_BYTES": "1e30"}, nil, `CATOPS_QUEUE_MAX_BYTES must be a number of bytes such as 8388608 or 8Mi, got "1e30"`},
		{"queue with an exponent that takes minutes to expand", map[string]string{"CATOPS_QUEUE_MAX_BYTES": "1e-999999999"}, nil, `CATOPS_QUEUE_MAX_BYTES must be a number of bytes such as 8388608 or 8Mi, got "1e-999999999"`},
		{"batch over queue", map[string]string{"CATOPS_BATCH_MAX_BYTES": "4Mi", "CATOPS_QUEUE_MAX_BYTES": "2Mi"}, nil, "must not be larger than CATOPS_QUEUE_MAX_BYTES"},
		{"bad health addr", map[string]string{"CATOPS_HEALTH_ADDR": "8080"}, nil, "CATOPS_HEALTH_ADDR must be host:port"},
		{"bad concurrency", map[string]string{"CATOPS_METRICS_API_CONCURRENCY": "0"}, nil, "must be a whole number from 1 to 64"},
		{"stray argument", nil, []string{"run"}, `unexpected argument "run"`},
		{"unknown flag with a line break", nil, []string{"--no-such\nflag"}, `unknown flag: --no-such\nflag`},
		{"token file missing", map[string]string{"CATOPS_AUTH_TOKEN": "<unset>", "CATOPS_AUTH_TOKEN_FILE": "/nonexistent/token"}, nil, "CATOPS_AUTH_TOKEN_FILE: auth token file \"/nonexistent/token\""},
		{"token file name with a line break", map[string]string{"CATOPS_AUTH_TOKEN": "<unset>", "CATOPS_AUTH_TOKEN_FILE": "/nonexistent/to\nken"}, nil, `CATOPS_AUTH_TOKEN_FILE: auth token file "/nonexistent/to\nken": stat /nonexistent/to\nken: no such file or directory`},
		{"blank token flag", map[string]string{"CATOPS_AUTH_TOKEN": "<unset>"}, []string{"--auth-token", "  "}, "no auth token"},
		{"unparsable url hides its text", map[string]string{"CATOPS_BACKEND_URL": "https://user:pa ss@host"}, nil, "CATOPS_BACKEND_URL is not a valid URL"},
		{"bare question mark", map[string]string{"CATOPS_BACKEND_URL": "https://backend?"}, nil, "without query or fragment"},
		{"bad backend port", map[string]string{"CATOPS_BACKEND_URL": "https://backend:99999"}, nil, "port from 1 to 65535"},
		{"flush delay too long", map[string]string{"CATOPS_FLUSH_DELAY": "1h"}, nil, "CATOPS_FLUSH_DELAY must be at most 10s"},
		{"insecure not a bool", map[string]string{"CATOPS_ALLOW_INSECURE_HTTP": "yes please"}, nil, "CATOPS_ALLOW_INSECURE_HTTP must be true or false"},
		{"health port out of range", map[string]string{"CATOPS_HEALTH_ADDR": ":99999"}, nil, "port from 0 to 65535"},
		{"malformed include pattern", map[string]string{"CATOPS_HOST_INCLUDE_INTERFACES": "eth0, eth[0"}, nil, `CATOPS_HOST_INCLUDE_INTERFACES has a malformed pattern "eth[0" (syntax error in pattern): use shell patterns such as veth* or eth[0-9], separated by commas`},
		{"malformed exclude pattern flag", nil, []string{"--host-exclude-interfaces=br-\\"}, `--host-exclude-interfaces has a malformed pattern "br-\\"`},
		{"bad host source", map[string]string{"CATOPS_HOST_SOURCE": "sysfs"}, nil, `CATOPS_HOST_SOURCE must be one of proc, kubelet, got "sysfs"`},
		{"host source kubelet with the Metrics API", map[string]string{"CATOPS_HOST_SOURCE": "kubelet"}, nil,
			"CATOPS_HOST_SOURCE=kubelet takes the node's figures from the kubelet summary the usage source reads: set CATOPS_POD_METRICS_SOURCE=kubelet and CATOPS_KUBELET_SUMMARY=true (they are metrics-api and true), or CATOPS_HOST_SOURCE=proc"},
		{"host source kubelet without usage", map[string]string{"CATOPS_POD_METRICS_SOURCE": "none"}, []string{"--host-source=kubelet"},
			"--host-source=kubelet takes the node's figures from the kubelet summary the usage source reads: set CATOPS_POD_METRICS_SOURCE=kubelet and CATOPS_KUBELET_SUMMARY=true (they are none and true), or --host-source=proc"},
		{"host source kubelet without the summary", map[string]string{"CATOPS_HOST_SOURCE": "kubelet", "CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_KUBELET_SUMMARY": "false"}, nil,
			"set CATOPS_POD_METRICS_SOURCE=kubelet and CATOPS_KUBELET_SUMMARY=true (they are kubelet and false)"},
		{"host source kubelet with a host path", map[string]string{"CATOPS_HOST_SOURCE": "kubelet", "CATOPS_POD_METRICS_SOURCE": "kubelet", "HOST_PROC": "/host/proc"}, nil,
			"HOST_PROC is set but CATOPS_HOST_SOURCE is kubelet, which reads no host directory: unset HOST_PROC (chart: hostMetrics.enabled=false), or set CATOPS_HOST_SOURCE=proc"},
		{"host source kubelet with a host path flag", map[string]string{"CATOPS_HOST_SOURCE": "kubelet", "CATOPS_POD_METRICS_SOURCE": "kubelet"}, []string{"--host-root=/host/root"},
			"--host-root is set but CATOPS_HOST_SOURCE is kubelet"},
		{"bad throttling source", map[string]string{"CATOPS_THROTTLING_SOURCE": "kubelet"}, nil, `CATOPS_THROTTLING_SOURCE must be one of cgroup, cadvisor, none, got "kubelet"`},
		{"cadvisor throttling with the Metrics API", map[string]string{"CATOPS_THROTTLING_SOURCE": "cadvisor"}, nil,
			"CATOPS_THROTTLING_SOURCE=cadvisor reads the kubelet's /metrics/cadvisor beside its resource metrics: set CATOPS_POD_METRICS_SOURCE=kubelet (it is metrics-api), or CATOPS_THROTTLING_SOURCE=cgroup"},
		{"cgroup throttling without host mounts", map[string]string{"CATOPS_HOST_SOURCE": "kubelet", "CATOPS_POD_METRICS_SOURCE": "kubelet"}, []string{"--throttling-source=cgroup"},
			"--throttling-source=cgroup reads the node's cgroups under HOST_SYS, which CATOPS_HOST_SOURCE=kubelet goes without: set --throttling-source=none, or cadvisor"},
		{"the retired throttling switch", map[string]string{"CATOPS_KUBELET_THROTTLING": "true"}, nil,
			"CATOPS_KUBELET_THROTTLING=true is no longer read: set CATOPS_THROTTLING_SOURCE=cadvisor (with CATOPS_POD_METRICS_SOURCE=kubelet) to read the kubelet's /metrics/cadvisor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions("catops-k8s")
			err := o.Parse(tc.args, env(with(tc.env)))
			if err == nil {
				_, err = o.Validate()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n", "one line")
			assert.NotContains(t, err.Error(), secret, "the token never appears")
			assert.NotContains(t, err.Error(), "pa ss", "credentials in a URL are never echoed")
		})
	}
}

func TestInterfacePatterns(t *testing.T) {
	o := NewOptions("catops-k8s")
	require.NoError(t, o.Parse(nil, env(base())))
	c, err := o.Validate()
	require.NoError(t, err)
	assert.Nil(t, c.HostIncludeInterfaces, "no override by default")
	assert.Nil(t, c.HostExcludeInterfaces)

	o = NewOptions("catops-k8s")
	require.NoError(t, o.Parse([]string{"--host-exclude-interfaces=eth1"}, env(with(map[string]string{
		"CATOPS_HOST_INCLUDE_INTERFACES": " weird0, eth[0-9]* ,,",
		"CATOPS_HOST_EXCLUDE_INTERFACES": "ens*"}))))
	c, err = o.Validate()
	require.NoError(t, err)
	assert.Equal(t, []string{"weird0", "eth[0-9]*"}, c.HostIncludeInterfaces)
	assert.Equal(t, []string{"eth1"}, c.HostExcludeInterfaces, "the flag wins over the variable")
}

func TestKubeletSource(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "kubelet-ca.crt")
	require.NoError(t, os.WriteFile(ca, selfSignedPEM(t), 0o600))
	o := NewOptions("catops-k8s")
	require.NoError(t, o.Parse([]string{"--kubelet-ca-file=" + ca}, env(with(map[string]string{
		"CATOPS_POD_METRICS_SOURCE": "kubelet", "HOST_IP": "10.0.0.5",
		"CATOPS_KUBELET_URL": "https://10.0.0.5:10250/metrics/resource"}))))
	c, err := o.Validate()
	require.NoError(t, err)
	assert.Equal(t, SourceKubelet, c.PodMetricsSource)
	assert.Equal(t, "https://10.0.0.5:10250/metrics/resource", c.KubeletURL)
	assert.Equal(t, ca, c.KubeletCAFile)
	assert.False(t, c.KubeletInsecureSkipVerify)
	assert.Equal(t, "10.0.0.5", c.HostIP)
	assert.True(t, c.KubeletSummary, "the summary by default")
	assert.Equal(t, ThrottlingCgroup, c.ThrottlingSource, "throttling from the cgroups by default: /metrics/cadvisor costs the kubelet")

	o = NewOptions("catops-k8s")
	require.NoError(t, o.Parse([]string{"--throttling-source=cadvisor"}, env(with(map[string]string{"CATOPS_POD_METRICS_SOURCE": "kubelet"}))))
	c, err = o.Validate()
	require.NoError(t, err)
	assert.Equal(t, ThrottlingCadvisor, c.ThrottlingSource)

	// Earlier charts wrote CATOPS_KUBELET_THROTTLING=false: ignored.
	o = NewOptions("catops-k8s")
	require.NoError(t, o.Parse(nil, env(with(map[string]string{"CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_KUBELET_THROTTLING": "false"}))))
	c, err = o.Validate()
	require.NoError(t, err)
	assert.Equal(t, ThrottlingCgroup, c.ThrottlingSource)

	// Set to true it is refused, but --version still answers.
	o = NewOptions("catops-k8s")
	require.NoError(t, o.Parse([]string{"--version"}, env(with(map[string]string{"CATOPS_KUBELET_THROTTLING": "true"}))))
	assert.True(t, o.VersionRequested())

	o = NewOptions("catops-k8s")
	require.NoError(t, o.Parse(nil, env(with(map[string]string{
		"CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_KUBELET_INSECURE_SKIP_VERIFY": "true"}))))
	c, err = o.Validate()
	require.NoError(t, err)
	assert.True(t, c.KubeletInsecureSkipVerify)
	assert.Empty(t, c.KubeletURL, "empty: derived from the Node")
	assert.Empty(t, c.KubeletCAFile, "empty: the API server's CA")

	o = NewOptions("catops-k8s")
	require.NoError(t, o.Parse([]string{"--kubelet-summary=false"}, env(with(map[string]string{"CATOPS_POD_METRICS_SOURCE": "kubelet"}))))
	c, err = o.Validate()
	require.NoError(t, err)
	assert.False(t, c.KubeletSummary)
}

func TestHostSource(t *testing.T) {
	o := NewOptions("catops-k8s")
	require.NoError(t, o.Parse(nil, env(with(map[string]string{"HOST_PROC": "/host/proc"}))))
	c, err := o.Validate()
	require.NoError(t, err)
	assert.Equal(t, HostSourceProc, c.HostSource, "proc by default")
	assert.Equal(t, "/host/proc", c.HostProc)

	// The kubelet source shares the usage source's summary read; the
	// interface patterns apply to it too.
	o = NewOptions("catops-k8s")
	require.NoError(t, o.Parse([]string{"--host-source=kubelet"}, env(with(map[string]string{
		"CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_HOST_EXCLUDE_INTERFACES": "cni*"}))))
	c, err = o.Validate()
	require.NoError(t, err)
	assert.Equal(t, HostSourceKubelet, c.HostSource)
	assert.True(t, c.KubeletSummary)
	assert.Empty(t, c.HostProc+c.HostSys+c.HostRoot+c.HostDev, "no host directory is read")
	assert.Equal(t, []string{"cni*"}, c.HostExcludeInterfaces)
	assert.Equal(t, ThrottlingNone, c.ThrottlingSource, "no HOST_SYS: the cgroups are not read by default")

	o = NewOptions("catops-k8s")
	require.NoError(t, o.Parse([]string{"--host-source=kubelet"}, env(with(map[string]string{
		"CATOPS_POD_METRICS_SOURCE": "kubelet", "CATOPS_THROTTLING_SOURCE": "cadvisor"}))))
	c, err = o.Validate()
	require.NoError(t, err)
	assert.Equal(t, ThrottlingCadvisor, c.ThrottlingSource, "the kubelet's needs no host mount")
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubelet-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestInsecureHTTPOptIn(t *testing.T) {
	o := NewOptions("catops-k8s")
	require.NoError(t, o.Parse(nil, env(with(map[string]string{
		"CATOPS_BACKEND_URL": "http://backend.internal:8000", "CATOPS_ALLOW_INSECURE_HTTP": "true"}))))
	c, err := o.Validate()
	require.NoError(t, err)
	assert.Equal(t, "http://backend.internal:8000", c.BackendURL)
}

func TestTokenFileIsAccepted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte(secret+"\n"), 0o600))
	o := NewOptions("catops-k8s")
	require.NoError(t, o.Parse(nil, env(with(map[string]string{"CATOPS_AUTH_TOKEN": "<unset>", "CATOPS_AUTH_TOKEN_FILE": path}))))
	c, err := o.Validate()
	require.NoError(t, err)
	assert.Equal(t, path, c.AuthTokenFile)
}

// A key without a row in the table would be a flag without a name.
func TestEveryKeyHasARow(t *testing.T) {
	names, envs := map[string]bool{}, map[string]bool{}
	for k, s := range settings {
		assert.NotEmpty(t, s.name, "key %d has no row in settings", k)
		assert.NotEmpty(t, s.env, "%s has no variable", s.name)
		assert.NotEmpty(t, s.help, "%s has no help", s.name)
		assert.False(t, names[s.name], "flag %s twice", s.name)
		assert.False(t, envs[s.env], "variable %s twice", s.env)
		names[s.name], envs[s.env] = true, true
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	for _, r := range []Role{RoleNode, RoleCluster} {
		usage := NewRoleOptions("catops-k8s", r).Usage()
		for _, name := range RoleEnvNames(r) {
			assert.Equal(t, 1, strings.Count(usage, "env "+name+"\n")+strings.Count(usage, "env "+name+","), "--help of role %d names %s once", r, name)
		}
	}
	assert.NotContains(t, NewRoleOptions("catops-k8s cluster", RoleCluster).Usage(), "NODE_NAME")
	assert.NotContains(t, NewOptions("catops-k8s").Usage(), "CATOPS_LEASE_NAME")
}

// --help is grouped, names the value each flag takes and stays within 80
// columns.
func TestUsageIsGroupedTypedAndNarrow(t *testing.T) {
	for _, r := range []Role{RoleNode, RoleCluster} {
		seen := map[key]int{}
		for _, g := range usageGroups {
			if slices.Contains(g.roles, r) {
				for _, k := range g.keys {
					if slices.Contains(keys(r), k) {
						seen[k]++
					}
				}
			}
		}
		for _, k := range keys(r) {
			assert.Equal(t, 1, seen[k], "%s is in exactly one --help group of role %d", settings[k].name, r)
		}
		assert.Len(t, seen, len(keys(r)), "role %d: no group names a setting it does not have", r)
	}
	for _, s := range settings {
		if !s.boolean {
			assert.NotEmpty(t, s.arg, "%s names its value in --help", s.name)
		}
	}
	usage := NewOptions("catops-k8s").Usage()
	for _, line := range strings.Split(usage, "\n") {
		assert.LessOrEqual(t, utf8.RuneCountInString(line), usageWidth, "%q", line)
	}
	assert.Contains(t, usage, "  --collection-interval SECONDS|DURATION\n")
	assert.Contains(t, usage, "  --allow-insecure-http\n")
	assert.NotContains(t, usage, " string ", "no flag shows pflag's bare type")
}
