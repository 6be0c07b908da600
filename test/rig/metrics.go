package rig

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Sample is one line of the Prometheus text format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples is a parsed /metrics page.
type Samples []Sample

// MetricsText returns the API server's /metrics page as text.
func (c *Cluster) MetricsText(ctx context.Context) (string, error) {
	b, err := c.get(ctx, "/metrics")
	return string(b), err
}

// Metrics returns the API server's /metrics, parsed.
func (c *Cluster) Metrics(ctx context.Context) (Samples, error) {
	text, err := c.MetricsText(ctx)
	if err != nil {
		return nil, err
	}
	return ParseMetrics(text)
}

// Sum adds the values of the samples called name whose labels include every
// pair in match (an empty value in match means the label is absent or empty).
func (s Samples) Sum(name string, match map[string]string) float64 {
	var sum float64
	for _, x := range s.Filter(name, match) {
		sum += x.Value
	}
	return sum
}

// Filter returns the samples called name whose labels include match.
func (s Samples) Filter(name string, match map[string]string) Samples {
	var out Samples
	for _, x := range s {
		if x.Name != name {
			continue
		}
		ok := true
		for k, v := range match {
			if x.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, x)
		}
	}
	return out
}

// APIRequests sums apiserver_request_total for a verb and resource ("" for
// any). The verb label is LIST, WATCH, GET, POST (create), PUT (update),
// PATCH, APPLY, DELETE, DELETECOLLECTION; resource is e.g. "pods", "nodes".
// The counters start at zero whenever the API server (re)starts.
func (s Samples) APIRequests(verb, resource string) float64 {
	var sum float64
	for _, x := range s.Filter("apiserver_request_total", nil) {
		if verb != "" && x.Labels["verb"] != verb {
			continue
		}
		if resource != "" && x.Labels["resource"] != resource {
			continue
		}
		sum += x.Value
	}
	return sum
}

// ParseMetrics parses the Prometheus text exposition format (comments and
// blank lines skipped; timestamps ignored).
func ParseMetrics(text string) (Samples, error) {
	var out Samples
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSampleLine(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w: %q", n, err, line)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseSampleLine(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if rest == "" {
				return s, fmt.Errorf("unterminated labels")
			}
			if rest[0] == '}' {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq < 0 || eq+1 >= len(rest) || rest[eq+1] != '"' {
				return s, fmt.Errorf("bad label")
			}
			key := strings.TrimSpace(rest[:eq])
			rest = rest[eq+2:]
			var val strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				ch := rest[j]
				if ch == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[j])
					}
					continue
				}
				if ch == '"' {
					rest = rest[j+1:]
					closed = true
					break
				}
				val.WriteByte(ch)
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value")
			}
			s.Labels[key] = val.String()
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value")
	}
	v, err := parseFloat(fields[0])
	if err != nil {
		return s, err
	}
	s.Value = v
	return s, nil
}

func parseFloat(s string) (float64, error) {
	switch s {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}
