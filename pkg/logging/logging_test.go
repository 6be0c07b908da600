package logging

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// A line is one JSON object with the stable keys; the logger's name is
// under "component"; below the level nothing is written.
func TestNewWritesJSONWithStableKeys(t *testing.T) {
	var b bytes.Buffer
	log := New(&b, zapcore.InfoLevel).Named("sender")
	log.Debug("not at info")
	log.Info("First batch accepted by the backend", zap.Int("batchSeq", 1))
	var m map[string]any
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(b.Bytes()), &m), "one JSON line: %q", b.String())
	assert.Equal(t, "First batch accepted by the backend", m["msg"])
	assert.Equal(t, "info", m["level"])
	assert.Equal(t, "sender", m["component"])
	assert.Equal(t, 1.0, m["batchSeq"])
	for _, k := range []string{"ts", "caller"} {
		assert.Contains(t, m, k)
	}
	assert.NotContains(t, m, "logger")
}
