package klogroute

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"

	"github.com/catops/cli/pkg/logging"
)

// klog's global logger is set once; routing again swaps where its lines go,
// as JSON under component client-go.
func TestRouteSwapsTheTarget(t *testing.T) {
	var first, second bytes.Buffer
	Route(logging.New(&first, zapcore.InfoLevel), zapcore.InfoLevel)
	klog.Info("to the first")
	klog.Flush()
	Route(logging.New(&second, zapcore.InfoLevel), zapcore.InfoLevel)
	klog.Info("to the second")
	klog.V(1).Info("not at info")
	klog.Flush()

	assert.Contains(t, first.String(), "to the first")
	assert.NotContains(t, first.String(), "to the second")
	lines := strings.Split(strings.TrimSpace(second.String()), "\n")
	require.Len(t, lines, 1, second.String())
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &m))
	assert.Equal(t, "to the second", m["msg"])
	assert.Equal(t, "client-go", m["component"])
	assert.Equal(t, "info", m["level"])
}
