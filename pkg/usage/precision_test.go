package usage

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/wire"
)

func TestRoundReadingShipsShortDecimals(t *testing.T) {
	rx, tx := 53708.123456789, 0.04999
	u := wire.ResourceUsage{
		Timestamp: time.Unix(0, 0).UTC(), WindowSeconds: 10.000123456, CPUCores: 0.25764360113317936, MemoryBytes: 270639104,
		Containers: []wire.ContainerUsage{{Name: "web", CPUCores: 0.0000004999, MemoryBytes: 4096,
			Throttling: &wire.CPUThrottling{Periods: 63, ThrottledPeriods: 18, ThrottledSeconds: 0.885510501985209, WindowSeconds: 9.9995}}},
		Network: &wire.NetworkUsage{RxBytes: 1, TxBytes: 2, RxBytesPerSec: &rx, TxBytesPerSec: &tx},
	}
	orig := u
	origCores, origRate := u.Containers[0].CPUCores, *u.Network.RxBytesPerSec
	roundReading(&u)
	assert.Equal(t, origCores, orig.Containers[0].CPUCores, "the source's containers untouched")
	assert.Equal(t, origRate, *orig.Network.RxBytesPerSec, "the source's network untouched")
	assert.Equal(t, 0.885510501985209, orig.Containers[0].Throttling.ThrottledSeconds, "the source's throttling untouched")
	b, err := json.Marshal(u)
	require.NoError(t, err)
	assert.JSONEq(t, `{"timestamp":"1970-01-01T00:00:00Z","window_seconds":10,"cpu_cores":0.257644,"memory_bytes":270639104,
		"containers":[{"name":"web","cpu_cores":0,"memory_bytes":4096,
		  "throttling":{"periods":63,"throttled_periods":18,"throttled_seconds":0.886,"window_seconds":10}}],
		"network":{"rx_bytes":1,"tx_bytes":2,"rx_bytes_per_sec":53708.1,"tx_bytes_per_sec":0}}`, string(b))
	assert.Contains(t, string(b), `"cpu_cores":0.257644,`, "printed in as few digits as the step has")
}

func TestRoundKeepsWhatItCannotRound(t *testing.T) {
	assert.True(t, math.IsNaN(round(math.NaN(), 1e6)))
	assert.True(t, math.IsInf(round(math.Inf(1), 1e6), 1))
	assert.Equal(t, 12.0, round(12, 1e6))
	assert.Equal(t, -0.000001, round(-0.0000012, 1e6))
	var u wire.ResourceUsage
	roundReading(&u) // nothing to round, nothing to dereference
	assert.Nil(t, u.Network)
}
