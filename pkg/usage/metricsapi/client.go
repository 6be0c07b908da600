package metricsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// Client is what the Source reads of metrics.k8s.io/v1beta1.
type Client interface {
	// NodeMetrics GETs the NodeMetrics of one node.
	NodeMetrics(ctx context.Context, node string) (*metricsv1beta1.NodeMetrics, error)
	// PodMetrics GETs the PodMetrics of one pod.
	PodMetrics(ctx context.Context, namespace, name string) (*metricsv1beta1.PodMetrics, error)
	// PodMetricsList LISTs the PodMetrics of one namespace and returns
	// those of the pods keep accepts by name. metrics.k8s.io has no node
	// selector, so the answer holds the namespace's pods on every node.
	PodMetricsList(ctx context.Context, namespace string, keep func(name string) bool) ([]metricsv1beta1.PodMetrics, error)
}

// NewClient returns a Client for the API server in cfg: a REST client for
// metrics.k8s.io/v1beta1 and nothing else. It makes the same requests as
// the generated typed client, whose package would link client-go's
// testing and OpenAPI machinery into the agent (≈ 2 MiB of resident
// memory).
func NewClient(cfg *rest.Config) (Client, error) {
	scheme := runtime.NewScheme()
	if err := metricsv1beta1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register metrics.k8s.io/v1beta1: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.APIPath = "/apis"
	cfg.GroupVersion = &metricsv1beta1.SchemeGroupVersion
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return restMetrics{rc}, nil
}

type restMetrics struct{ rc rest.Interface }

func (c restMetrics) NodeMetrics(ctx context.Context, node string) (*metricsv1beta1.NodeMetrics, error) {
	out := &metricsv1beta1.NodeMetrics{}
	return out, c.rc.Get().Resource("nodes").Name(node).Do(ctx).Into(out)
}

func (c restMetrics) PodMetrics(ctx context.Context, namespace, name string) (*metricsv1beta1.PodMetrics, error) {
	out := &metricsv1beta1.PodMetrics{}
	return out, c.rc.Get().Namespace(namespace).Resource("pods").Name(name).Do(ctx).Into(out)
}

// PodMetricsList streams the list and decodes in full only the items keep
// accepts: in a large cluster a namespace's list holds the pods of every
// node, and decoding all of them (labels included) made the agent's heap
// grow with the cluster.
func (c restMetrics) PodMetricsList(ctx context.Context, namespace string, keep func(string) bool) ([]metricsv1beta1.PodMetrics, error) {
	body, err := c.rc.Get().Namespace(namespace).Resource("pods").Stream(ctx)
	if err != nil {
		return nil, err // a non-2xx answer, decoded as an API status error
	}
	defer body.Close()
	items, err := decodePodMetricsList(body, keep)
	if err != nil {
		return nil, fmt.Errorf("decode the pod metrics of namespace %q: %w", namespace, err)
	}
	return items, nil
}

// decodePodMetricsList reads a PodMetricsList as JSON, one item at a time:
// an item's name is read first, and only a kept item is decoded in full.
func decodePodMetricsList(r io.Reader, keep func(string) bool) ([]metricsv1beta1.PodMetrics, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var out []metricsv1beta1.PodMetrics
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if key != "items" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, err
			}
			continue
		}
		if err := expectDelim(dec, '['); err != nil {
			return nil, err
		}
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			var name struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(raw, &name); err != nil {
				return nil, err
			}
			if !keep(name.Metadata.Name) {
				continue
			}
			var pm metricsv1beta1.PodMetrics
			if err := json.Unmarshal(raw, &pm); err != nil {
				return nil, err
			}
			out = append(out, pm)
		}
		if err := expectDelim(dec, ']'); err != nil {
			return nil, err
		}
	}
	return out, expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("expected %q, got %v", want, tok)
	}
	return nil
}
