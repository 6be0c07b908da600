package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCPUStat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		text    string
		version int
		want    cfsCounters
		err     bool
	}{
		{name: "v1", version: 1, text: "nr_periods 5\nnr_throttled 2\nthrottled_time 1500000\n",
			want: cfsCounters{periods: 5, throttled: 2, throttledTime: 1500 * time.Microsecond}},
		{name: "v1 with bursts", version: 1, text: "nr_periods 5\nnr_throttled 2\nthrottled_time 7\nnr_bursts 0\nburst_time 0\n",
			want: cfsCounters{periods: 5, throttled: 2, throttledTime: 7}},
		{name: "v2", version: 2, text: "usage_usec 1\nuser_usec 1\nsystem_usec 0\nnr_periods 9\nnr_throttled 9\nthrottled_usec 3\nnr_bursts 0\nburst_usec 0\n",
			want: cfsCounters{periods: 9, throttled: 9, throttledTime: 3 * time.Microsecond}},
		{name: "no final newline", version: 2, text: "nr_periods 1\nnr_throttled 0\nthrottled_usec 0",
			want: cfsCounters{periods: 1}},
		{name: "v2 without the cpu controller (no CFS counters)", version: 2, text: "usage_usec 1\nuser_usec 1\nsystem_usec 0\n", err: true},
		{name: "v1's time key read as v2", version: 2, text: "nr_periods 5\nnr_throttled 2\nthrottled_time 7\n", err: true},
		{name: "twice", version: 1, text: "nr_periods 5\nnr_throttled 2\nthrottled_time 7\nnr_periods 6\n", err: true},
		{name: "negative", version: 1, text: "nr_periods -5\nnr_throttled 2\nthrottled_time 7\n", err: true},
		{name: "not a number", version: 1, text: "nr_periods NaN\nnr_throttled 2\nthrottled_time 7\n", err: true},
		{name: "above uint64", version: 1, text: "nr_periods 18446744073709551616\nnr_throttled 2\nthrottled_time 7\n", err: true},
		{name: "time beyond a Duration", version: 2, text: "nr_periods 1\nnr_throttled 1\nthrottled_usec 18446744073709551615\n", err: true},
		{name: "empty", version: 1, text: "", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCPUStat([]byte(tc.text), tc.version)
			if tc.err {
				require.ErrorIs(t, err, errCPUStat)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestReadCPUStat(t *testing.T) {
	dir := t.TempDir()
	buf := make([]byte, maxCPUStat)
	_, err := readCPUStat(filepath.Join(dir, "cpu.stat"), 1, buf)
	assert.ErrorIs(t, err, os.ErrNotExist)

	write(t, filepath.Join(dir, "cpu.stat"), "nr_periods 5\nnr_throttled 2\nthrottled_time 7\n")
	got, err := readCPUStat(filepath.Join(dir, "cpu.stat"), 1, buf)
	require.NoError(t, err)
	assert.Equal(t, cfsCounters{periods: 5, throttled: 2, throttledTime: 7}, got)

	write(t, filepath.Join(dir, "cpu.stat"), "nr_periods 5\nnr_throttled 2\nthrottled_time 7\n"+strings.Repeat("x 1\n", maxCPUStat))
	_, err = readCPUStat(filepath.Join(dir, "cpu.stat"), 1, buf)
	assert.True(t, errors.Is(err, errCPUStat), "too long: %v", err)
}

func FuzzParseCPUStat(f *testing.F) {
	f.Add([]byte("nr_periods 5\nnr_throttled 2\nthrottled_time 7\n"), 1)
	f.Add([]byte("usage_usec 1\nnr_periods 9\nnr_throttled 9\nthrottled_usec 3\nnr_bursts 0\n"), 2)
	f.Add([]byte("nr_periods 1 \n\nnr_throttled\t0\nthrottled_usec 99999999999999999\n"), 2)
	f.Fuzz(func(t *testing.T, text []byte, version int) {
		c, err := parseCPUStat(text, version)
		if err != nil {
			if !errors.Is(err, errCPUStat) {
				t.Fatalf("error not errCPUStat: %v", err)
			}
			return
		}
		if c.throttledTime < 0 {
			t.Fatalf("negative throttled time %v from %q", c.throttledTime, text)
		}
	})
}
