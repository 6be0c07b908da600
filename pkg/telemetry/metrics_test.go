package telemetry

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegisterUsageNamesTheTargetsCounters(t *testing.T) {
	for target, want := range map[string]UsageTarget{"catops_metrics_api": MetricsAPI, "catops_kubelet": Kubelet} {
		reg := prometheus.NewRegistry()
		RegisterUsage(reg, want, func() (uint64, uint64) { return 7, 2 })
		fams, err := reg.Gather()
		require.NoError(t, err)
		got := map[string]float64{}
		for _, f := range fams {
			got[f.GetName()] = f.GetMetric()[0].GetCounter().GetValue()
		}
		assert.Equal(t, map[string]float64{target + "_requests_total": 7, target + "_errors_total": 2}, got)
	}
}
