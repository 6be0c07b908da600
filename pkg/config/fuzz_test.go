package config

import (
	"errors"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
)

// proxyVars are the variables Parse reads besides the table's.
var proxyVars = []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"}

// fuzzPick is the pick of FuzzConfig that sets k, by its flag or its
// variable.
func fuzzPick(k key, byFlag bool) uint8 {
	if byFlag {
		return uint8(k) | 0x80
	}
	return uint8(k)
}

// fuzzSet applies one fuzzed setting: pick (low 7 bits, modulo the number
// of settings and proxy variables) chooses a setting of the table, then a
// proxy variable; its high bit gives a setting as a flag instead of as a
// variable. An empty variable is an unset one.
func fuzzSet(pick uint8, val string, kv map[string]string, args []string) []string {
	i := int(pick&0x7f) % (int(numSettings) + len(proxyVars))
	if i >= int(numSettings) {
		kv[proxyVars[i-int(numSettings)]] = val
		return args
	}
	if pick&0x80 != 0 {
		return append(args, "--"+settings[i].name+"="+val)
	}
	kv[settings[i].env] = val
	return args
}

// FuzzConfig feeds Parse then Validate arbitrary raw arguments (separated
// by NUL, which no real argument holds) and two settings given by variable
// or flag, over a base that has the required node name and token. Whatever
// the input: no panic and no check that takes seconds; an error is one
// non-empty line, without the token, and a settings mistake (*Error) names
// a flag or a variable; an accepted Config keeps every minimum and bound,
// and its sizes and intervals are what their text says.
func FuzzConfig(f *testing.F) {
	for _, s := range []struct {
		args   string
		pick1  uint8
		value1 string
		pick2  uint8
		value2 string
	}{
		{"", fuzzPick(collectionInterval, false), "60", fuzzPick(snapshotInterval, false), "10m"},
		{"--collection-interval=30s", fuzzPick(collectionInterval, false), "20", fuzzPick(queueMaxBytes, false), "16Mi"},
		{"--flush-delay\x00250ms", fuzzPick(shutdownTimeout, true), "1m", fuzzPick(batchMaxBytes, false), "512Ki"},
		{"", fuzzPick(spoolDir, false), "/var/lib/catops/spool", fuzzPick(spoolMaxBytes, false), "64Mi"},
		{"--wire-format=snapshot", fuzzPick(spoolDir, true), "/tmp", fuzzPick(queueMaxBytes, false), "128Mi"},
		{"", fuzzPick(backendURL, false), "http://backend.internal:8000/", fuzzPick(allowInsecureHTTP, false), "true"},
		{"--allow-insecure-http", fuzzPick(backendURL, true), "https://u:p@x?q#f", fuzzPick(healthAddr, false), "127.0.0.1:8080"},
		{"", fuzzPick(podMetricsSource, false), "kubelet", fuzzPick(kubeletURL, false), "https://10.0.0.5:10250/metrics/resource"},
		{"--pod-metrics-source=kubelet", fuzzPick(kubeletInsecure, false), "true", fuzzPick(hostIP, false), "10.0.0.5"},
		{"", fuzzPick(includeInterfaces, false), "weird0, eth[0-9]*", fuzzPick(excludeInterfaces, true), "br-\\"},
		{"", fuzzPick(logLevel, false), "debug", fuzzPick(metricsConcurrency, false), "64"},
		{"", fuzzPick(nodeName, false), "", fuzzPick(authToken, false), ""},
		{"", uint8(numSettings), "http://user:pw@proxy.corp:3128", uint8(numSettings) + 3, "proxy.corp:3128\n"},
		{"--watch-list=on\x00--\x00run", fuzzPick(watchList, false), "off", fuzzPick(wireFormat, false), "xml"},
		{"--no-such\nflag", fuzzPick(flushDelay, false), "1h", fuzzPick(backendCAFile, false), "config_test.go"},
		{"--pod-metrics-source=kubelet", fuzzPick(hostSource, false), "kubelet", fuzzPick(hostSys, true), "/host/sys"},
	} {
		f.Add(s.args, s.pick1, s.value1, s.pick2, s.value2)
	}
	f.Fuzz(func(t *testing.T, rawArgs string, pick1 uint8, value1 string, pick2 uint8, value2 string) {
		input := rawArgs + "\x00" + value1 + "\x00" + value2
		for _, special := range []string{"/dev/", "/proc/", "/sys/"} {
			if strings.Contains(input, special) {
				t.Skip("a path setting would read a special file (/dev/zero never ends)")
			}
		}
		var args []string
		if rawArgs != "" {
			args = strings.Split(rawArgs, "\x00")
		}
		kv := base()
		args = fuzzSet(pick1, value1, kv, args)
		args = fuzzSet(pick2, value2, kv, args)

		o := NewOptions("catops-k8s")
		o.FlagSet().SetOutput(io.Discard)
		start := time.Now()
		err := o.Parse(args, env(kv))
		var c *Config
		if err == nil {
			c, err = o.Validate()
		}
		// Fuzzing has no deadline per input: a check that takes seconds
		// (the agent stuck before it starts) shows only here.
		require.Less(t, time.Since(start), 2*time.Second, "checking the settings took long")
		if err != nil {
			msg := err.Error()
			require.NotEmpty(t, msg)
			require.NotContains(t, msg, "\n", "one line")
			if !strings.Contains(input, secret) {
				require.NotContains(t, msg, secret, "the token never appears")
			}
			var cerr *Error
			if errors.As(err, &cerr) {
				require.True(t, namesASetting(msg), "a settings mistake names the flag or variable: %q", msg)
			}
			return
		}
		require.NotNil(t, c)
		checkBounds(t, o, c)
	})
}

// namesASetting reports whether msg names a flag or a variable.
func namesASetting(msg string) bool {
	for _, s := range settings {
		if strings.Contains(msg, "--"+s.name) || strings.Contains(msg, s.env) {
			return true
		}
	}
	for _, name := range proxyVars {
		if strings.Contains(msg, name) {
			return true
		}
	}
	return false
}

// checkBounds checks what Validate promises of an accepted Config.
func checkBounds(t *testing.T, o *Options, c *Config) {
	t.Helper()
	assert.NotEmpty(t, c.NodeName)
	assert.True(t, c.AuthToken != "" || c.AuthTokenFile != "", "a token or a token file")
	assert.Regexp(t, `^https?://[^/]`, c.BackendURL)
	assert.False(t, strings.HasSuffix(c.BackendURL, "/"), "no trailing slash: %q", c.BackendURL)

	assert.GreaterOrEqual(t, c.CollectionInterval, MinInterval)
	assert.GreaterOrEqual(t, c.SnapshotInterval, time.Minute)
	assert.GreaterOrEqual(t, c.SnapshotInterval, c.CollectionInterval)
	assert.GreaterOrEqual(t, c.FlushDelay, 10*time.Millisecond)
	assert.LessOrEqual(t, c.FlushDelay, 10*time.Second)
	assert.GreaterOrEqual(t, c.ShutdownTimeout, time.Second)
	for k, d := range map[key]time.Duration{
		collectionInterval: c.CollectionInterval, snapshotInterval: c.SnapshotInterval,
		flushDelay: c.FlushDelay, shutdownTimeout: c.ShutdownTimeout,
	} {
		raw := o.get(k).raw
		if secs, err := strconv.ParseInt(raw, 10, 64); err == nil {
			assert.True(t, d%time.Second == 0 && int64(d/time.Second) == secs, "%s=%q read as %s", o.get(k).source, raw, d)
		}
	}

	assert.GreaterOrEqual(t, c.QueueMaxBytes, 1<<20)
	assert.GreaterOrEqual(t, c.BatchMaxBytes, 4<<10)
	assert.LessOrEqual(t, c.BatchMaxBytes, c.QueueMaxBytes)
	assert.GreaterOrEqual(t, c.SpoolMaxBytes, 1<<20)
	for k, n := range map[key]int{queueMaxBytes: c.QueueMaxBytes, batchMaxBytes: c.BatchMaxBytes, spoolMaxBytes: c.SpoolMaxBytes} {
		assert.LessOrEqual(t, n, 1<<31)
		raw := o.get(k).raw
		q, err := resource.ParseQuantity(raw)
		require.NoError(t, err, "%s=%q accepted", o.get(k).source, raw)
		assert.LessOrEqual(t, math.Abs(q.AsApproximateFloat64()-float64(n)), 1.0, "%s=%q read as %d bytes", o.get(k).source, raw, n)
	}
	if c.SpoolDir != "" {
		assert.True(t, filepath.IsAbs(c.SpoolDir), "spool directory %q is absolute", c.SpoolDir)
		assert.Equal(t, FormatDelta, c.WireFormat, "no spool with the snapshot format")
		assert.GreaterOrEqual(t, c.SpoolMaxBytes, c.QueueMaxBytes)
	}

	assert.GreaterOrEqual(t, c.MetricsConcurrency, 1)
	assert.LessOrEqual(t, c.MetricsConcurrency, 64)
	assert.Contains(t, []string{FormatDelta, FormatSnapshot}, c.WireFormat)
	assert.Contains(t, []string{WatchListAuto, WatchListOn, WatchListOff}, c.WatchList)
	assert.Contains(t, []string{SourceMetricsAPI, SourceKubelet, SourceNone}, c.PodMetricsSource)
	assert.Contains(t, []string{HostSourceProc, HostSourceKubelet}, c.HostSource)
	if c.HostSource == HostSourceKubelet {
		assert.Equal(t, SourceKubelet, c.PodMetricsSource, "the kubelet host source reads the usage source's summary")
		assert.True(t, c.KubeletSummary)
		assert.Empty(t, c.HostProc+c.HostSys+c.HostRoot+c.HostDev, "no host path with the kubelet host source")
	}
	if c.PodMetricsSource != SourceKubelet {
		assert.Empty(t, c.KubeletURL)
		assert.Empty(t, c.KubeletCAFile)
		assert.False(t, c.KubeletInsecureSkipVerify)
	}
}
