package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSpoolIsOffByDefault(t *testing.T) {
	o := NewOptions("catops-k8s")
	require.NoError(t, o.Parse(nil, env(base())))
	c, err := o.Validate()
	require.NoError(t, err)
	assert.Empty(t, c.SpoolDir, "memory only")
	assert.Equal(t, 64<<20, c.SpoolMaxBytes)
}

func TestSpoolSettingsAreAccepted(t *testing.T) {
	existing := t.TempDir()
	notYet := filepath.Join(t.TempDir(), "spool")
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		dir      string
		maxBytes int
	}{
		{"existing directory", map[string]string{"CATOPS_SPOOL_DIR": existing}, nil, existing, 64 << 20},
		{"directory the spool will create", map[string]string{"CATOPS_SPOOL_DIR": notYet}, nil, notYet, 64 << 20},
		{"quantity", map[string]string{"CATOPS_SPOOL_DIR": existing, "CATOPS_SPOOL_MAX_BYTES": "64Mi"}, nil, existing, 64 << 20},
		{"plain number", map[string]string{"CATOPS_SPOOL_DIR": existing, "CATOPS_SPOOL_MAX_BYTES": "134217728"}, nil, existing, 128 << 20},
		{"4 times the queue", map[string]string{"CATOPS_SPOOL_DIR": existing, "CATOPS_QUEUE_MAX_BYTES": "16Mi", "CATOPS_SPOOL_MAX_BYTES": "64Mi"}, nil, existing, 64 << 20},
		{"flags win", map[string]string{"CATOPS_SPOOL_DIR": "relative", "CATOPS_SPOOL_MAX_BYTES": "lots"},
			[]string{"--spool-dir=" + existing, "--spool-max-bytes", "1Gi"}, existing, 1 << 30},
		{"off: a queue above the spool's default bound needs no spool setting", map[string]string{"CATOPS_QUEUE_MAX_BYTES": "128Mi"}, nil, "", 64 << 20},
		{"off: the bound alone is kept", map[string]string{"CATOPS_SPOOL_MAX_BYTES": "2Mi", "CATOPS_WIRE_FORMAT": "snapshot"}, nil, "", 2 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions("catops-k8s")
			require.NoError(t, o.Parse(tc.args, env(with(tc.env))))
			c, err := o.Validate()
			require.NoError(t, err)
			assert.Equal(t, tc.dir, c.SpoolDir)
			assert.Equal(t, tc.maxBytes, c.SpoolMaxBytes)
		})
	}
	_, err := os.Stat(notYet)
	assert.ErrorIs(t, err, os.ErrNotExist, "Validate does not create the directory")
}

func TestSpoolMistakesAreOneLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "spool")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	dir := t.TempDir()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"relative directory", map[string]string{"CATOPS_SPOOL_DIR": "spool"}, nil,
			`CATOPS_SPOOL_DIR must be an absolute path such as /var/lib/catops/spool (an emptyDir mount), got "spool"`},
		{"relative directory by flag", nil, []string{"--spool-dir=./spool"},
			`--spool-dir must be an absolute path`},
		{"a file", map[string]string{"CATOPS_SPOOL_DIR": file}, nil,
			`CATOPS_SPOOL_DIR: "` + file + `" is not a directory: set it to a directory (an emptyDir mount), or unset it to keep events in memory only`},
		{"under a file", map[string]string{"CATOPS_SPOOL_DIR": file + "/x"}, nil,
			`CATOPS_SPOOL_DIR: cannot use "` + file + `/x": not a directory: set it to a directory the agent can write`},
		{"snapshot format", map[string]string{"CATOPS_SPOOL_DIR": dir, "CATOPS_WIRE_FORMAT": "snapshot"}, nil,
			"CATOPS_SPOOL_DIR is set but CATOPS_WIRE_FORMAT is snapshot: the legacy snapshot format has no send queue to spool; set CATOPS_WIRE_FORMAT=delta, or unset CATOPS_SPOOL_DIR"},
		{"snapshot format by flag", map[string]string{"CATOPS_SPOOL_DIR": dir}, []string{"--wire-format=snapshot"},
			"CATOPS_SPOOL_DIR is set but --wire-format is snapshot"},
		{"smaller than 4 queues", map[string]string{"CATOPS_SPOOL_DIR": dir, "CATOPS_SPOOL_MAX_BYTES": "63Mi", "CATOPS_QUEUE_MAX_BYTES": "16Mi"}, nil,
			"CATOPS_SPOOL_MAX_BYTES (66060288) must be at least 4 times CATOPS_QUEUE_MAX_BYTES (16777216): the spool file needs that room to hold a full queue"},
		{"default smaller than 4 larger queues", map[string]string{"CATOPS_SPOOL_DIR": dir, "CATOPS_QUEUE_MAX_BYTES": "32Mi"}, nil,
			"CATOPS_SPOOL_MAX_BYTES (67108864) must be at least 4 times CATOPS_QUEUE_MAX_BYTES (33554432)"},
		{"bound not a number", map[string]string{"CATOPS_SPOOL_MAX_BYTES": "64MB"}, nil,
			`CATOPS_SPOOL_MAX_BYTES must be a number of bytes such as 8388608 or 8Mi, got "64MB"`},
		{"bound too small", nil, []string{"--spool-max-bytes=4Ki"},
			"--spool-max-bytes must be at least 1048576 bytes, got 4096"},
		{"bound negative", map[string]string{"CATOPS_SPOOL_MAX_BYTES": "-64Mi"}, nil,
			`CATOPS_SPOOL_MAX_BYTES must be a number of bytes`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions("catops-k8s")
			require.NoError(t, o.Parse(tc.args, env(with(tc.env))))
			_, err := o.Validate()
			require.Error(t, err)
			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			assert.True(t, strings.HasPrefix(err.Error(), tc.want), "want %q, got %q", tc.want, err)
			assert.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestSpoolSettingsAreInTheDeliveryGroup(t *testing.T) {
	usage := NewOptions("catops-k8s").Usage()
	delivery := usage[strings.Index(usage, "\nDelivery:\n"):]
	delivery = delivery[:strings.Index(delivery[1:], "\n\n")+1]
	for _, want := range []string{
		"  --spool-dir PATH\n", "env CATOPS_SPOOL_DIR\n",
		"  --spool-max-bytes BYTES\n", "env CATOPS_SPOOL_MAX_BYTES, default 67108864\n",
	} {
		assert.Contains(t, delivery, want)
	}
}
