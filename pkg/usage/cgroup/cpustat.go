package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// cfsCounters are the CFS bandwidth counters of one cgroup's cpu.stat:
// the enforcement periods that elapsed while it had runnable tasks, those
// in which it used up its quota, and the time it spent throttled.
type cfsCounters struct {
	periods, throttled uint64
	throttledTime      time.Duration
}

// maxCPUStat bounds a read of cpu.stat: a handful of lines (v2 adds usage,
// burst and pressure-related ones), far below this.
const maxCPUStat = 4 << 10

// errCPUStat: the file lacks a counter, has one twice, or one that is not
// a number.
var errCPUStat = errors.New("cpu.stat is not understood")

// readCPUStat reads the CFS counters of a cgroup's cpu.stat at path, with buf (at
// least maxCPUStat long) as the read buffer: nr_periods and nr_throttled
// in both versions, throttled_time in nanoseconds (v1) or throttled_usec
// in microseconds (v2).
func readCPUStat(path string, version int, buf []byte) (cfsCounters, error) {
	n, err := readAll(path, buf[:maxCPUStat])
	switch {
	case errors.Is(err, errTooLong):
		return cfsCounters{}, fmt.Errorf("%w: longer than %d bytes", errCPUStat, maxCPUStat)
	case err != nil:
		return cfsCounters{}, err
	}
	return parseCPUStat(buf[:n], version)
}

// errTooLong: the file did not fit the buffer.
var errTooLong = errors.New("file longer than the buffer")

// parseCPUStat reads the CFS counters out of the text of cpu.stat (lines
// of "key value").
func parseCPUStat(text []byte, version int) (cfsCounters, error) {
	timeKey, unit := "throttled_time", time.Nanosecond
	if version == 2 {
		timeKey, unit = "throttled_usec", time.Microsecond
	}
	var c cfsCounters
	var seen [3]bool
	for len(text) > 0 {
		var line []byte
		line, text, _ = bytes.Cut(text, []byte("\n"))
		key, value, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			continue
		}
		var i int
		switch string(key) {
		case "nr_periods":
			i = 0
		case "nr_throttled":
			i = 1
		case timeKey:
			i = 2
		default:
			continue
		}
		v, err := strconv.ParseUint(string(bytes.TrimSpace(value)), 10, 64)
		if err != nil || seen[i] {
			return cfsCounters{}, fmt.Errorf("%w: %q", errCPUStat, line)
		}
		seen[i] = true
		switch i {
		case 0:
			c.periods = v
		case 1:
			c.throttled = v
		case 2:
			if v > uint64(maxDuration/unit) {
				return cfsCounters{}, fmt.Errorf("%w: %q", errCPUStat, line)
			}
			c.throttledTime = time.Duration(v) * unit //nolint:gosec // G115: bounded by maxDuration/unit above
		}
	}
	if seen != [3]bool{true, true, true} {
		return cfsCounters{}, fmt.Errorf("%w: nr_periods, nr_throttled or %s missing", errCPUStat, timeKey)
	}
	return c, nil
}

// maxDuration is the longest time.Duration (292 years).
const maxDuration = time.Duration(1<<63 - 1)
