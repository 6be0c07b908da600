package chart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/catops/cli/pkg/config"
)

// maxRefusal bounds helm's whole error output for one bad value: the
// "values don't meet the specifications" header and one line naming it.
const maxRefusal = 400

// schemaRefusal renders the chart with args, which must be refused, and
// returns what helm printed on stderr.
func schemaRefusal(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(helmBin(t), append([]string{"template", release, chartDir(t), "--namespace", namespace}, args...)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	require.Error(t, cmd.Run(), "helm accepted %q", args)
	return stderr.String()
}

// assertOneShortLine: the refusal is the schema's, one line at path, and
// short.
func assertOneShortLine(t *testing.T, stderr, path string) {
	t.Helper()
	assert.Less(t, len(stderr), maxRefusal, "a wall of text:\n%s", stderr)
	assert.Contains(t, stderr, "values don't meet the specifications of the schema")
	assert.Contains(t, stderr, "- at '"+path+"': ", "the error must name the value")
	assert.Equal(t, 1, strings.Count(stderr, "- at '"), "one line, not a list of alternatives:\n%s", stderr)
}

// agentConfig runs the agent's own settings check (pkg/config) on the
// environment the chart rendered, so a value the schema lets through is
// one the agent takes. Downward API fields get stand-ins; the token is
// given directly instead of as the mounted file.
func agentConfig(t *testing.T, r *rendered) (*config.Config, error) {
	t.Helper()
	env := r.env(t)
	getenv := func(name string) string {
		switch name {
		case "NODE_NAME":
			return "node-1"
		case "CATOPS_AUTH_TOKEN":
			return "x"
		case "CATOPS_AUTH_TOKEN_FILE":
			return ""
		}
		v := env[name]
		if strings.HasPrefix(v, "fieldRef:") || strings.HasPrefix(v, "resourceFieldRef:") || v == "valueFrom" {
			return ""
		}
		return v
	}
	o := config.NewOptions("catops-k8s")
	require.NoError(t, o.Parse(nil, getenv))
	return o.Validate()
}

// jsonText is a JSON value as the templates print it: a string as is, a
// number in plain decimal.
func jsonText(t *testing.T, js string) string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(js), &v), js)
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	t.Fatalf("%s: not a string or a number", js)
	return ""
}

// schemaField is one value the schema checks and how a test sets it.
type schemaField struct {
	path string                                 // as helm's error names it
	args func(js string) []string               // helm args giving it the JSON value js
	got  func(t *testing.T, r *rendered) string // what reached the rendered objects
}

// setJSON sets key to a JSON value, with any other args it needs.
func setJSON(key string, other ...string) func(string) []string {
	return func(js string) []string { return append([]string{"--set-json", key + "=" + js}, other...) }
}

// extraEnv is the value of extraEnv[i], named name.
func extraEnv(i int, name string) schemaField {
	return schemaField{
		path: fmt.Sprintf("/extraEnv/%d/value", i),
		args: func(js string) []string {
			return []string{"--set-json", fmt.Sprintf(`extraEnv[%d]={"name":%q,"value":%s}`, i, name, js)}
		},
		got: func(t *testing.T, r *rendered) string { return r.env(t)[name] },
	}
}

func resourceField(list, name string) schemaField {
	return schemaField{
		path: "/resources/" + list + "/" + name,
		args: setJSON("resources." + list + "." + name),
		got: func(t *testing.T, r *rendered) string {
			rl := r.container(t).Resources.Requests
			if list == "limits" {
				rl = r.container(t).Resources.Limits
			}
			q, ok := rl[corev1.ResourceName(name)]
			require.True(t, ok, "no %s %s rendered", list, name)
			return q.String()
		},
	}
}

// sameQuantity: the rendered quantity is the one given.
func sameQuantity(t *testing.T, given, got string) {
	want, rendered := resource.MustParse(given), resource.MustParse(got)
	assert.Zero(t, want.Cmp(rendered), "given %s, rendered %s", given, got)
}

func sameText(t *testing.T, given, got string) { assert.Equal(t, given, got) }

// TestSchemaValueKinds: for each kind of value the schema checks beyond its
// type (Kubernetes quantities, durations and byte counts given through
// extraEnv, object names and keys, int-or-percent), values it must accept,
// which then render and reach the objects as given, and values it must
// refuse, each with one short line naming the value. Good values come in
// rows of one per field of the kind (the fields share one rule), one render
// per row; each bad value goes to one field in turn, the others keeping the
// first good row, one render each (helm groups several errors in one object
// under a "validation failed" line, so bad values are not batched).
func TestSchemaValueKinds(t *testing.T) {
	subdomain := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61) // 253
	token := []string{"--set", "auth.token=x"}
	for _, kind := range []struct {
		name      string
		base      []string // args of every render
		fields    []schemaField
		good, bad []string // JSON values; good ones in rows of len(fields)
		same      func(t *testing.T, given, got string)
	}{
		{
			name: "quantity",
			base: token,
			fields: []schemaField{
				resourceField("limits", "memory"), resourceField("requests", "cpu"),
				resourceField("requests", "ephemeral-storage"), resourceField("limits", "cpu"),
				resourceField("requests", "memory"),
			},
			good: []string{
				`"100m"`, `"0.5"`, `"1"`, `"128Mi"`, `"1Gi"`,
				`"1e3"`, `"1.5G"`, `"2k"`, `".5"`, `"1E3"`,
				`"500u"`, `"3Ti"`, `"1e-3"`, `"1."`, `"7n"`,
				`1`, `0.5`, `134217728`, `0`, `1e3`,
			},
			bad:  []string{`"lots"`, `"1 Gi"`, `"Mi"`, `"1GB"`, `"1K"`, `"1e"`, `"1e3.5"`, `"-1"`, `""`, `"+1"`, `"1KiB"`, `"1mi"`, `-1`, `true`},
			same: sameQuantity,
		},
		{
			name:   "byte count in extraEnv",
			base:   token,
			fields: []schemaField{extraEnv(0, "CATOPS_QUEUE_MAX_BYTES"), extraEnv(1, "CATOPS_BATCH_MAX_BYTES")},
			good:   []string{`"8388608"`, `"512Ki"`, `"8Mi"`, `"1e5"`},
			bad:    []string{`"8MB"`, `"8 Mi"`, `"-1"`, `8388608`},
			same:   sameText,
		},
		{
			name:   "duration in extraEnv",
			base:   token,
			fields: []schemaField{extraEnv(0, "CATOPS_SNAPSHOT_INTERVAL"), extraEnv(1, "CATOPS_FLUSH_DELAY"), extraEnv(2, "CATOPS_SHUTDOWN_TIMEOUT")},
			good: []string{
				`"0"`, `"500ms"`, `"30"`,
				`"1m30s"`, `"250us"`, `"1.5h"`,
				`".5m"`, `"2µs"`, `"100ns"`,
			},
			bad:  []string{`"soon"`, `"10 s"`, `"1d"`, `"-1s"`, `"5S"`, `"1.5"`, `"030"`, `"1m30"`, `30`},
			same: sameText,
		},
		{
			name: "name (DNS-1123 subdomain)",
			// auth.existingSecret is in every row: no token.
			fields: []schemaField{
				{path: "/auth/existingSecret", args: setJSON("auth.existingSecret"),
					got: func(t *testing.T, r *rendered) string { return r.volumes()["token"].Secret.SecretName }},
				{path: "/podMetrics/kubelet/caConfigMap", args: setJSON("podMetrics.kubelet.caConfigMap", "--set", "podMetrics.source=kubelet"),
					got: func(t *testing.T, r *rendered) string { return r.volumes()["kubelet-ca"].ConfigMap.Name }},
				{path: "/serviceAccount/name", args: setJSON("serviceAccount.name"),
					got: func(t *testing.T, r *rendered) string { return r.pod().ServiceAccountName }},
				{path: "/priorityClassName", args: setJSON("priorityClassName"),
					got: func(t *testing.T, r *rendered) string { return r.pod().PriorityClassName }},
				{path: "/imagePullSecrets/0/name", args: func(js string) []string { return []string{"--set-json", `imagePullSecrets=[{"name":` + js + `}]`} },
					got: func(t *testing.T, r *rendered) string { return r.pod().ImagePullSecrets[0].Name }},
			},
			good: []string{
				`"catops"`, `"kubelet-ca.v2"`, `"0abc"`, `"system-node-critical"`, `"` + subdomain + `"`,
				`"my-secret"`, `"a"`, `"a-b.c-d"`, `"x1"`, `"a.b"`,
			},
			bad:  []string{`"My_Secret"`, `"-catops"`, `"catops-"`, `"a..b"`, `"with space"`, `"` + subdomain + `x"`, `".x"`, `5`},
			same: sameText,
		},
		{
			name: "name (DNS-1123 label)",
			base: token,
			fields: []schemaField{
				{path: "/nameOverride", args: setJSON("nameOverride"),
					got: func(t *testing.T, r *rendered) string {
						return r.daemonSet.Spec.Template.Labels["app.kubernetes.io/name"]
					}},
				{path: "/fullnameOverride", args: setJSON("fullnameOverride"),
					got: func(t *testing.T, r *rendered) string { return r.daemonSet.Name }},
			},
			good: []string{`"catops"`, `"agent-1"`, `"x"`, `"node-agent"`},
			bad:  []string{`"Cat"`, `"a.b"`, `"a-"`, `7`},
			same: sameText,
		},
		{
			name: "Secret or ConfigMap key",
			// auth.existingSecretKey comes with auth.existingSecret: no token.
			fields: []schemaField{
				{path: "/auth/existingSecretKey", args: setJSON("auth.existingSecretKey", "--set", "auth.existingSecret=catops"),
					got: func(t *testing.T, r *rendered) string { return r.volumes()["token"].Secret.Items[0].Key }},
				{path: "/podMetrics/kubelet/caConfigMapKey", args: setJSON("podMetrics.kubelet.caConfigMapKey",
					"--set", "podMetrics.source=kubelet", "--set", "podMetrics.kubelet.caConfigMap=kubelet-ca"),
					got: func(t *testing.T, r *rendered) string { return r.volumes()["kubelet-ca"].ConfigMap.Items[0].Key }},
			},
			good: []string{`"token"`, `"ca.crt"`, `"API_TOKEN"`, `".pem"`, `"a..b"`, `"-x"`},
			bad:  []string{`""`, `"."`, `"..x"`, `"a/b"`, `"` + strings.Repeat("k", 254) + `"`, `1`},
			same: sameText,
		},
		{
			name: "int or percent",
			base: token,
			fields: []schemaField{
				{path: "/updateStrategy/rollingUpdate/maxUnavailable", args: setJSON("updateStrategy.rollingUpdate.maxUnavailable"),
					got: func(t *testing.T, r *rendered) string {
						return r.daemonSet.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable.String()
					}},
				{path: "/updateStrategy/rollingUpdate/maxSurge", args: setJSON("updateStrategy.rollingUpdate.maxSurge"),
					got: func(t *testing.T, r *rendered) string {
						return r.daemonSet.Spec.UpdateStrategy.RollingUpdate.MaxSurge.String()
					}},
			},
			good: []string{`1`, `"10%"`, `"100%"`, `0`},
			bad:  []string{`"half"`, `-1`, `"10"`, `1.5`},
			same: sameText,
		},
	} {
		t.Run(kind.name, func(t *testing.T) {
			n := len(kind.fields)
			require.Zero(t, len(kind.good)%n, "good values come in rows of %d", n)
			args := func(row []string) []string {
				a := slices.Clone(kind.base)
				for i, f := range kind.fields {
					a = append(a, f.args(row[i])...)
				}
				return a
			}
			for i := 0; i < len(kind.good); i += n {
				row := kind.good[i : i+n]
				t.Run("accepts "+strings.Join(row, " "), func(t *testing.T) {
					t.Parallel()
					r := render(t, args(row)...)
					for i, f := range kind.fields {
						kind.same(t, jsonText(t, row[i]), f.got(t, r))
					}
				})
			}
			for i, js := range kind.bad {
				f := kind.fields[i%n]
				row := slices.Clone(kind.good[:n])
				row[i%n] = js
				t.Run("refuses "+f.path+"="+js, func(t *testing.T) {
					t.Parallel()
					assertOneShortLine(t, schemaRefusal(t, args(row)...), f.path)
				})
			}
		})
	}
}

// TestSchemaQuantityFollowsKubernetes: the quantities the schema accepts
// are Kubernetes' (its own parser takes them), and those it refuses are not,
// except the three listed: a missing number ("Mi", which the parser reads
// as 0 and the documented grammar does not allow), a negative (refused by
// the API server's validation of requests and limits) and a leading "+"
// (pointless; the schema takes no sign).
func TestSchemaQuantityFollowsKubernetes(t *testing.T) {
	for _, q := range []string{"100m", "0.5", "1", "128Mi", "1Gi", "1e3", "1.5G", "2k", ".5", "1E3", "500u", "3Ti", "1e-3", "1.", "7n", "2Ei"} {
		_, err := resource.ParseQuantity(q)
		assert.NoError(t, err, q)
	}
	parserTakes := map[string]string{
		"Mi": "the parser reads a missing number as 0; Kubernetes' grammar needs one",
		"-1": "a negative request or limit is refused by the API server's validation",
		"+1": "a sign is pointless for a request or limit; the schema takes none",
	}
	for _, q := range []string{"lots", "1 Gi", "Mi", "1GB", "1K", "1e", "1e3.5", "-1", "", "0x10", "1Gi ", "1.5.5", "+1", "1KiB", "1mi"} {
		if _, err := resource.ParseQuantity(q); err == nil {
			assert.Contains(t, parserTakes, q, "Kubernetes takes %q, the schema refuses it", q)
		}
	}
}

// longSnapshots raises the agent's snapshot interval, which must not be
// shorter than the collection interval (10m by default): the schema lets
// longer intervals through, the agent checks the pair at start.
const longSnapshots = `extraEnv=[{"name":"CATOPS_SNAPSHOT_INTERVAL","value":"300h"}]`

// TestSchemaIntervalReachesTheAgent: every accepted collection interval,
// as a number or a string, renders to a COLLECTION_INTERVAL the agent
// takes and reads as meant ("60" is seconds); a refused one is one short
// line.
func TestSchemaIntervalReachesTheAgent(t *testing.T) {
	for _, tc := range []struct {
		js   string
		want time.Duration
	}{
		{`10`, 10 * time.Second}, {`999999`, 999999 * time.Second}, {`"10"`, 10 * time.Second}, {`"60"`, time.Minute},
		{`"30s"`, 30 * time.Second}, {`"1m30s"`, 90 * time.Second}, {`"1.5m"`, 90 * time.Second}, {`"2h"`, 2 * time.Hour},
	} {
		t.Run("accepts "+tc.js, func(t *testing.T) {
			t.Parallel()
			r := render(t, "--set", "auth.token=x", "--set-json", "collection.interval="+tc.js, "--set-json", longSnapshots)
			assert.Equal(t, jsonText(t, tc.js), r.env(t)["COLLECTION_INTERVAL"])
			c, err := agentConfig(t, r)
			require.NoError(t, err, "the agent refuses what the schema let through")
			assert.Equal(t, tc.want, c.CollectionInterval)
		})
	}
	for _, js := range []string{`5`, `-60`, `1000000`, `60.5`, `"5"`, `"060"`, `"often"`, `"60 s"`, `"1d"`, `"1m30"`, `"1.5"`} {
		t.Run("refuses "+js, func(t *testing.T) {
			t.Parallel()
			assertOneShortLine(t, schemaRefusal(t, "--set", "auth.token=x", "--set-json", "collection.interval="+js), "/collection/interval")
		})
	}
	// --set gives whole numbers as integers, --set-string as strings: both work.
	assert.Equal(t, "45", render(t, "--set", "auth.token=x", "--set", "collection.interval=45").env(t)["COLLECTION_INTERVAL"])
	assert.Equal(t, "45", render(t, "--set", "auth.token=x", "--set-string", "collection.interval=45").env(t)["COLLECTION_INTERVAL"])
}

// TestSchemaNumbersFromAValuesFile: a values file's numbers reach Helm as
// floating point. Those the schema accepts still render as the plain
// numbers given; a number the template would print in exponent form is
// refused.
func TestSchemaNumbersFromAValuesFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`auth:
  token: x
collection:
  interval: 999999
resources:
  requests:
    cpu: 0.5
    memory: 1e3
    ephemeral-storage: 1073741824
  limits:
    cpu: 2
    memory: 134217728
`), 0o600))
	r := render(t, "-f", file, "--set-json", longSnapshots)
	assert.Equal(t, "999999", r.env(t)["COLLECTION_INTERVAL"])
	c, err := agentConfig(t, r)
	require.NoError(t, err)
	assert.Equal(t, 999999*time.Second, c.CollectionInterval)
	res := r.container(t).Resources
	for _, q := range []struct {
		got  resource.Quantity
		want string
	}{
		{res.Requests[corev1.ResourceCPU], "500m"}, {res.Requests[corev1.ResourceMemory], "1000"},
		{res.Requests[corev1.ResourceEphemeralStorage], "1Gi"}, {res.Limits[corev1.ResourceCPU], "2"},
		{res.Limits[corev1.ResourceMemory], "128Mi"},
	} {
		want := resource.MustParse(q.want)
		assert.Zero(t, want.Cmp(q.got), "want %s, rendered %s", q.want, q.got.String())
	}

	require.NoError(t, os.WriteFile(file, []byte("auth:\n  token: x\ncollection:\n  interval: 1000000\n"), 0o600))
	assertOneShortLine(t, schemaRefusal(t, "-f", file), "/collection/interval")
}

// TestLintRefusesBadValues: helm lint reports a bad value by its path too
// (it prints the schema's line twice: for values.yaml and for templates/).
func TestLintRefusesBadValues(t *testing.T) {
	out, err := runHelm(t, "lint", "--strict", chartDir(t), "--set", "auth.token=x", "--set", "resources.limits.memory=lots")
	require.Error(t, err)
	assert.Contains(t, out, "[ERROR] values.yaml: - at '/resources/limits/memory': 'lots' does not match pattern")
	assert.Less(t, len(out), 2*maxRefusal, out)
}
