package bench

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/catops/cli/test/rig"
)

// Counts are API requests by "VERB resource[.group]".
type Counts map[string]float64

// Total is the sum over every key.
func (c Counts) Total() float64 {
	var t float64
	for _, v := range c {
		t += v
	}
	return t
}

// Sub returns c minus o, key by key, never below zero.
func (c Counts) Sub(o Counts) Counts {
	out := Counts{}
	for k, v := range c {
		if d := v - o[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// Scale multiplies every count by f.
func (c Counts) Scale(f float64) Counts {
	out := Counts{}
	for k, v := range c {
		out[k] = v * f
	}
	return out
}

// Keys are the keys in order.
func (c Counts) Keys() []string { return slices.Sorted(maps.Keys(c)) }

// String is "LIST pods=3 WATCH nodes=1", keys in order.
func (c Counts) String() string {
	var b strings.Builder
	for _, k := range c.Keys() {
		if c[k] < 0.5 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.0f", k, c[k])
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// readVerbs are the verbs an observer uses; the agents under test never
// write, so counting only reads keeps the rig's own writers (kwok's node
// heartbeats and pod status updates) out of the figures.
var readVerbs = map[string]bool{"GET": true, "LIST": true, "WATCH": true}

// watched are the resources a node observer reads.
var watched = map[string]bool{"pods": true, "nodes": true}

// RequestCounter reads apiserver_request_total.
type RequestCounter struct{ C *rig.Cluster }

// Reads returns the read requests on pods and nodes of the core group
// (kube-apiserver's apiserver_request_total) and of metrics.k8s.io
// (metrics-server's, which serves them behind the aggregation layer) so
// far, by verb and resource. Watches are counted by kube-apiserver when they
// end; OpenWatches counts those still open.
func (r RequestCounter) Reads(ctx context.Context) (Counts, error) {
	s, err := r.requestTotals(ctx)
	if err != nil {
		return nil, err
	}
	out := Counts{}
	for _, x := range s.Filter("apiserver_request_total", nil) {
		verb, res, group := x.Labels["verb"], x.Labels["resource"], x.Labels["group"]
		if !readVerbs[verb] || !watched[res] || x.Labels["subresource"] != "" {
			continue
		}
		if group != "" && group != "metrics.k8s.io" {
			continue
		}
		key := verb + " " + res
		if group != "" {
			key += "." + group
		}
		out[key] += x.Value
	}
	return out, nil
}

// requestTotals is kube-apiserver's /metrics with metrics-server's
// apiserver_request_total samples of metrics.k8s.io appended.
func (r RequestCounter) requestTotals(ctx context.Context) (rig.Samples, error) {
	s, err := r.C.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	if r.C.MetricsServerPort() == 0 {
		return s, nil
	}
	ms, err := r.C.MetricsServerMetrics(ctx)
	if err != nil {
		return nil, err
	}
	return append(s, ms.Filter("apiserver_request_total", map[string]string{"group": "metrics.k8s.io"})...), nil
}

// OpenWatches is how many watches of pods and nodes are open now, by
// resource (apiserver_longrunning_requests).
func (r RequestCounter) OpenWatches(ctx context.Context) (Counts, error) {
	s, err := r.C.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	out := Counts{}
	for _, x := range s.Filter("apiserver_longrunning_requests", map[string]string{"verb": "WATCH", "group": ""}) {
		if res := x.Labels["resource"]; watched[res] && x.Labels["subresource"] == "" {
			out["open WATCH "+res] += x.Value
		}
	}
	return out, nil
}

// All returns every request kube-apiserver counted so far, and those it
// proxied to metrics-server, by verb and resource (any group, any
// subresource).
func (r RequestCounter) All(ctx context.Context) (Counts, error) {
	s, err := r.requestTotals(ctx)
	if err != nil {
		return nil, err
	}
	out := Counts{}
	for _, x := range s.Filter("apiserver_request_total", nil) {
		key := x.Labels["verb"] + " " + x.Labels["resource"]
		if g := x.Labels["group"]; g != "" {
			key += "." + g
		}
		out[key] += x.Value
	}
	return out, nil
}
