package rig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"
)

// Annotations on a pod that pin the CPU / memory usage kwok reports for each
// of its containers (Kubernetes quantities such as "250m", "64Mi"). Without
// them every container uses 1m CPU and 8Mi memory.
const (
	UsageCPUAnnotation    = "kwok.x-k8s.io/usage-cpu"
	UsageMemoryAnnotation = "kwok.x-k8s.io/usage-memory"
)

// kwokMetricsConfig makes kwok's server answer like a kubelet's resource
// metrics endpoint, per node at /metrics/nodes/<node>/metrics/resource (the
// path CreateNode puts in the metrics.k8s.io/resource-metrics-path
// annotation), with the five series metrics-server reads, and gives pods
// their usage (from the annotations above, or small defaults).
const kwokMetricsConfig = `---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterResourceUsage
metadata:
  name: rig-usage
spec:
  usages:
  - usage:
      cpu:
        expression: '"` + UsageCPUAnnotation + `" in pod.metadata.annotations ? Quantity(pod.metadata.annotations["` + UsageCPUAnnotation + `"]) : Quantity("1m")'
      memory:
        expression: '"` + UsageMemoryAnnotation + `" in pod.metadata.annotations ? Quantity(pod.metadata.annotations["` + UsageMemoryAnnotation + `"]) : Quantity("8Mi")'
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Metric
metadata:
  name: rig-resource-metrics
spec:
  path: "/metrics/nodes/{nodeName}/metrics/resource"
  metrics:
  - name: node_cpu_usage_seconds_total
    kind: counter
    dimension: node
    help: Cumulative CPU time of the node in core-seconds.
    value: 'node.CumulativeUsage("cpu")'
  - name: node_memory_working_set_bytes
    kind: gauge
    dimension: node
    help: Working set of the node in bytes.
    value: 'node.Usage("memory")'
  - name: container_start_time_seconds
    kind: gauge
    dimension: container
    help: Container start time, seconds since the epoch.
    labels:
    - {name: namespace, value: 'pod.metadata.namespace'}
    - {name: pod, value: 'pod.metadata.name'}
    - {name: container, value: 'container.name'}
    value: 'pod.SinceSecond()'
  - name: container_cpu_usage_seconds_total
    kind: counter
    dimension: container
    help: Cumulative CPU time of the container in core-seconds.
    labels:
    - {name: namespace, value: 'pod.metadata.namespace'}
    - {name: pod, value: 'pod.metadata.name'}
    - {name: container, value: 'container.name'}
    value: 'pod.CumulativeUsage("cpu", container.name)'
  - name: container_memory_working_set_bytes
    kind: gauge
    dimension: container
    help: Working set of the container in bytes.
    labels:
    - {name: namespace, value: 'pod.metadata.namespace'}
    - {name: pod, value: 'pod.metadata.name'}
    - {name: container, value: 'container.name'}
    value: 'pod.Usage("memory", container.name)'
`

// CompMetricsServer is metrics-server's component name.
const CompMetricsServer = "metrics-server"

// MetricsAPIService is the APIService that RegisterMetricsAPI creates.
const MetricsAPIService = "v1beta1.metrics.k8s.io"

func (c *Cluster) metricsServerArgs() []string {
	return append(c.componentArgs(c.ports["metrics-server"]),
		"--cert-dir="+filepath.Join(c.Dir, "pki"),
		"--kubelet-insecure-tls",
		"--kubelet-use-node-status-port",
		"--kubelet-preferred-address-types=InternalIP",
		"--metric-resolution=10s", // its minimum
		// Must stay below the resolution or metrics-server refuses to start.
		"--kubelet-request-timeout=4s",
	)
}

// MetricsServerPort is metrics-server's HTTPS port (0 if not running).
func (c *Cluster) MetricsServerPort() int { return c.ports["metrics-server"] }

// RegisterMetricsAPI makes the API server serve metrics.k8s.io/v1beta1 from
// the rig's metrics-server (or any HTTPS server on 127.0.0.1:port, e.g. a
// test's own): an ExternalName Service kube-system/metrics-server pointing at
// 127.0.0.1, and the APIService v1beta1.metrics.k8s.io using it. It waits
// until the APIService is Available. Idempotent.
//
// Loopback backends cannot be reached through Endpoints (127.0.0.1 is
// rejected there), hence ExternalName and the default
// --enable-aggregator-routing=false.
func (c *Cluster) RegisterMetricsAPI(ctx context.Context, port int) error {
	svc := map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "metrics-server", "namespace": "kube-system"},
		"spec": map[string]any{
			"type":         "ExternalName",
			"externalName": "127.0.0.1",
			"ports":        []any{map[string]any{"name": "https", "port": port, "protocol": "TCP"}},
		},
	}
	if err := c.apply(ctx, "/api/v1/namespaces/kube-system/services", "metrics-server", svc); err != nil {
		return err
	}
	apisvc := map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": MetricsAPIService},
		"spec": map[string]any{
			"group":                 "metrics.k8s.io",
			"version":               "v1beta1",
			"service":               map[string]any{"namespace": "kube-system", "name": "metrics-server", "port": port},
			"insecureSkipTLSVerify": true,
			"groupPriorityMinimum":  100,
			"versionPriority":       100,
		},
	}
	if err := c.apply(ctx, "/apis/apiregistration.k8s.io/v1/apiservices", MetricsAPIService, apisvc); err != nil {
		return err
	}
	err := c.waitFor(ctx, 60*time.Second, "APIService "+MetricsAPIService+" Available", func(ctx context.Context) error {
		body, err := c.get(ctx, "/apis/apiregistration.k8s.io/v1/apiservices/"+MetricsAPIService)
		if err != nil {
			return err
		}
		var st struct {
			Status struct {
				Conditions []struct{ Type, Status, Message string } `json:"conditions"`
			} `json:"status"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			return err
		}
		for _, cond := range st.Status.Conditions {
			if cond.Type == "Available" {
				if cond.Status == "True" {
					return nil
				}
				return fmt.Errorf("not Available: %s", cond.Message)
			}
		}
		return errors.New("no Available condition yet")
	})
	if err != nil {
		return err
	}
	// Available is the condition; the aggregator's proxy for the group is
	// set up by its own controller, a moment later.
	return c.waitFor(ctx, 30*time.Second, "metrics.k8s.io served", func(ctx context.Context) error {
		_, err := c.get(ctx, "/apis/metrics.k8s.io/v1beta1")
		return err
	})
}

// UnregisterMetricsAPI deletes the APIService v1beta1.metrics.k8s.io (the
// Service stays) and returns once metrics.k8s.io requests get 404 from the
// API server: the aggregator drops the group asynchronously, after the
// delete has returned.
func (c *Cluster) UnregisterMetricsAPI(ctx context.Context) error {
	if err := c.do(ctx, http.MethodDelete, "/apis/apiregistration.k8s.io/v1/apiservices/"+MetricsAPIService, nil, http.StatusNotFound); err != nil {
		return err
	}
	return c.waitFor(ctx, 30*time.Second, "metrics.k8s.io no longer served", func(ctx context.Context) error {
		_, err := c.get(ctx, "/apis/metrics.k8s.io/v1beta1")
		var herr *HTTPError
		if errors.As(err, &herr) && herr.Status == http.StatusNotFound {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a 404 yet: %w", err)
		}
		return errors.New("still served")
	})
}

// apply creates obj at collection, replacing an existing object of that name.
func (c *Cluster) apply(ctx context.Context, collection, name string, obj map[string]any) error {
	if err := c.do(ctx, http.MethodDelete, collection+"/"+name, nil, http.StatusNotFound); err != nil {
		return err
	}
	// Deletion of these objects is immediate (no finalizers), but retry a
	// conflicting create briefly anyway.
	return c.waitFor(ctx, 10*time.Second, "create "+collection+"/"+name, func(ctx context.Context) error {
		return c.do(ctx, http.MethodPost, collection, obj)
	})
}

// do sends a JSON request as admin; 2xx or any of okStatus is success.
func (c *Cluster) do(ctx context.Context, method, path string, obj any, okStatus ...int) error {
	var body io.Reader
	if obj != nil {
		data, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.APIServerURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 2 {
		return nil
	}
	for _, s := range okStatus {
		if resp.StatusCode == s {
			return nil
		}
	}
	return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
}

// KubeletResourceMetrics reads what kwok serves as the node's kubelet
// resource metrics (/metrics/nodes/<node>/metrics/resource on kwok's
// server, the path of the node's metrics.k8s.io/resource-metrics-path
// annotation): node_* and container_* usage series. Needs Kwok.
func (c *Cluster) KubeletResourceMetrics(ctx context.Context, node string) (Samples, error) {
	if c.KwokURL == "" {
		return nil, errors.New("rig: kwok is not running")
	}
	body, err := httpGet(ctx, c.healthc, c.KwokURL, "/metrics/nodes/"+node+"/metrics/resource")
	if err != nil {
		return nil, fmt.Errorf("kwok: %w", err)
	}
	return ParseMetrics(string(body))
}

// MetricsServerMetrics returns metrics-server's own /metrics, read as the
// admin. metrics-server is an API server of its own behind the aggregation
// layer: its apiserver_request_total counts the metrics.k8s.io requests
// that kube-apiserver proxied to it (kube-apiserver's own counter does not).
func (c *Cluster) MetricsServerMetrics(ctx context.Context) (Samples, error) {
	port := c.MetricsServerPort()
	if port == 0 {
		return nil, errors.New("rig: metrics-server is not running")
	}
	body, err := httpGet(ctx, c.httpc, fmt.Sprintf("https://127.0.0.1:%d", port), "/metrics")
	if err != nil {
		return nil, fmt.Errorf("metrics-server: %w", err)
	}
	return ParseMetrics(string(body))
}
