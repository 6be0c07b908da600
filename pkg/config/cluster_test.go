package config

import (
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clusterBase is a valid environment of the cluster reporter.
func clusterBase() map[string]string {
	return map[string]string{"CATOPS_AUTH_TOKEN": "t0k3n", "NAMESPACE": "catops", "POD_NAME": "catops-cluster-0"}
}

func TestClusterDefaults(t *testing.T) {
	o := NewRoleOptions("catops-k8s cluster", RoleCluster)
	require.NoError(t, o.Parse(nil, env(clusterBase())))
	c, err := o.Validate()
	require.NoError(t, err)
	assert.Equal(t, "catops-cluster-0", c.PodName)
	assert.Equal(t, "catops-cluster", c.LeaseName)
	assert.Equal(t, "catops", c.Namespace)
	assert.Equal(t, []time.Duration{15 * time.Second, 10 * time.Second, 2 * time.Second}, []time.Duration{c.LeaseDuration, c.RenewDeadline, c.RetryPeriod})
	assert.Empty(t, c.NodeName, "the reporter needs no node")
}

// Without POD_NAME the identity is the host name (a pod's name in a pod).
func TestClusterIdentityFallsBackToHostName(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	e := clusterBase()
	delete(e, "POD_NAME")
	o := NewRoleOptions("catops-k8s cluster", RoleCluster)
	require.NoError(t, o.Parse(nil, env(e)))
	c, err := o.Validate()
	require.NoError(t, err)
	assert.Regexp(t, "^"+regexp.QuoteMeta(host)+"_[0-9a-f]{8}$", c.PodName, "the host name and a random suffix")
}

func TestClusterBadConfigIsRejectedWithOneClearLine(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no namespace", map[string]string{"NAMESPACE": ""}, nil, "NAMESPACE is not set: set it to the namespace the reporter runs in, where its Lease lives (in a pod: the downward API field metadata.namespace)"},
		{"bad lease name", map[string]string{"CATOPS_LEASE_NAME": "Catops_Lease"}, nil, `CATOPS_LEASE_NAME must be a Kubernetes object name (lowercase letters, digits, '-' and '.'), got "Catops_Lease"`},
		{"renew not below duration", map[string]string{"CATOPS_RENEW_DEADLINE": "15s"}, nil, "leader election needs CATOPS_LEASE_DURATION (15s) > CATOPS_RENEW_DEADLINE (15s) > 1.2 × CATOPS_RETRY_PERIOD (2s)"},
		{"retry not below renew", nil, []string{"--retry-period=10s"}, "leader election needs CATOPS_LEASE_DURATION (15s) > CATOPS_RENEW_DEADLINE (10s) > 1.2 × --retry-period (10s)"},
		{"retry jittered past renew", map[string]string{"CATOPS_RENEW_DEADLINE": "2s", "CATOPS_RETRY_PERIOD": "1800ms"}, nil, "leader election needs CATOPS_LEASE_DURATION (15s) > CATOPS_RENEW_DEADLINE (2s) > 1.2 × CATOPS_RETRY_PERIOD (1.8s)"},
		{"lease not whole seconds", map[string]string{"CATOPS_LEASE_DURATION": "10500ms"}, nil, "CATOPS_LEASE_DURATION must be whole seconds (the Lease stores seconds), got 10.5s"},
		{"node-only flag", nil, []string{"--node-name=n1"}, "unknown flag: --node-name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := clusterBase()
			for k, v := range tc.env {
				e[k] = v
			}
			o := NewRoleOptions("catops-k8s cluster", RoleCluster)
			err := o.Parse(tc.args, env(e))
			if err == nil {
				_, err = o.Validate()
			}
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

// Variables of the other role are not read: NODE_NAME does not make a
// reporter, nor CATOPS_LEASE_NAME a node agent, fail or change.
func TestRolesReadOnlyTheirVariables(t *testing.T) {
	e := clusterBase()
	e["CATOPS_HOST_SOURCE"] = "bogus"
	o := NewRoleOptions("catops-k8s cluster", RoleCluster)
	require.NoError(t, o.Parse(nil, env(e)))
	_, err := o.Validate()
	require.NoError(t, err)

	n := base()
	n["CATOPS_LEASE_DURATION"] = "bogus"
	o = NewOptions("catops-k8s")
	require.NoError(t, o.Parse(nil, env(n)))
	_, err = o.Validate()
	require.NoError(t, err)
}
