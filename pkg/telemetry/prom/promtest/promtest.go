// Package promtest reads the instruments pkg/telemetry/prom makes, for
// tests.
package promtest

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Value is the value of a counter or gauge pkg/telemetry/prom made, or of
// one series of its vectors (vec.WithLabelValues(…)). It panics on an
// instrument another factory made, such as telemetry.Discard's.
func Value(instrument any) float64 {
	c, ok := instrument.(prometheus.Collector)
	if !ok {
		panic("promtest.Value: not an instrument of pkg/telemetry/prom")
	}
	return testutil.ToFloat64(c)
}
