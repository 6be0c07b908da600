package hostsample

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadUptime(t *testing.T) {
	tests := []struct {
		content string
		want    uint64
		wantErr bool
	}{
		{"12345.67 40000.00\n", 12345, false},
		{"7 9\n", 7, false},
		{"0.99 1.00", 0, false},
		{"-3.00 1.00\n", 0, true},
		{"NaN 1\n", 0, true},
		{"\n", 0, true},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "uptime"), []byte(tt.content), 0o644))
		got, err := readUptime(context.Background(), dir)
		if tt.wantErr {
			assert.Error(t, err, "%q", tt.content)
			continue
		}
		require.NoError(t, err, "%q", tt.content)
		assert.Equal(t, tt.want, got, "%q", tt.content)
	}
}

func TestReadUptimeFallsBackToKernel(t *testing.T) {
	up, err := readUptime(context.Background(), t.TempDir())
	require.NoError(t, err)
	assert.Positive(t, up, "sysinfo(2) uptime when the file is missing")
}

func FuzzReadUptime(f *testing.F) {
	f.Add("12345.67 40000.00\n")
	f.Add("1e9 0")
	f.Add("")
	f.Add("000 0")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "uptime"), []byte(content), 0o644))
		got, err := readUptime(context.Background(), dir)
		if err != nil {
			return
		}
		// Whatever was accepted is the whole seconds of the first field.
		first, _, _ := strings.Cut(strings.TrimSpace(content), " ")
		whole, _, _ := strings.Cut(first, ".")
		want, perr := strconv.ParseUint(whole, 10, 64)
		require.NoError(t, perr, "accepted %q", content)
		assert.Equal(t, want, got)
	})
}
