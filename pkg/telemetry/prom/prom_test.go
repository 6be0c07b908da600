package prom

import (
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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

func TestRegisterUsageRejectedCountsBySourceAndReason(t *testing.T) {
	for source, target := range map[string]UsageTarget{"metrics-api": MetricsAPI, "kubelet": Kubelet} {
		reg := prometheus.NewRegistry()
		counts := map[string]uint64{"cpu_above_capacity": 3, "missing": 0}
		RegisterUsageRejected(reg, target, func() map[string]uint64 { return counts })
		fams, err := reg.Gather()
		require.NoError(t, err)
		require.Len(t, fams, 1)
		assert.Equal(t, "catops_usage_readings_rejected_total", fams[0].GetName())
		assert.Equal(t, dto.MetricType_COUNTER, fams[0].GetType())
		got := map[string]float64{}
		for _, m := range fams[0].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			assert.Equal(t, source, labels["source"])
			got[labels["reason"]] = m.GetCounter().GetValue()
		}
		assert.Equal(t, map[string]float64{"cpu_above_capacity": 3, "missing": 0}, got, "zero reasons are series too")

		counts["cpu_above_capacity"] = 4 // read at every scrape
		fams, err = reg.Gather()
		require.NoError(t, err)
		for _, m := range fams[0].GetMetric() {
			if m.GetLabel()[0].GetValue() == "cpu_above_capacity" {
				assert.Equal(t, 4.0, m.GetCounter().GetValue())
			}
		}
	}
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	RegisterBuildInfo(reg, "1.2.3")
	fams, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, fams, 1)
	assert.Equal(t, "catops_build_info", fams[0].GetName())
	m := fams[0].GetMetric()[0]
	assert.Equal(t, 1.0, m.GetGauge().GetValue())
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	assert.Equal(t, map[string]string{"version": "1.2.3", "go_version": runtime.Version()}, got)

}
