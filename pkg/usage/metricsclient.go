package usage

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// MetricsClient is what the MetricsAPI source reads of metrics.k8s.io/v1beta1.
type MetricsClient interface {
	// NodeMetrics GETs the NodeMetrics of one node.
	NodeMetrics(ctx context.Context, node string) (*metricsv1beta1.NodeMetrics, error)
	// PodMetrics GETs the PodMetrics of one pod.
	PodMetrics(ctx context.Context, namespace, name string) (*metricsv1beta1.PodMetrics, error)
	// PodMetricsList LISTs the PodMetrics of one namespace.
	PodMetricsList(ctx context.Context, namespace string) (*metricsv1beta1.PodMetricsList, error)
}

// NewMetricsClient returns a MetricsClient for the API server in cfg: a
// REST client for metrics.k8s.io/v1beta1 and nothing else. It makes the
// same requests as the generated typed client, whose package would link
// client-go's testing and OpenAPI machinery into the agent (≈ 2 MiB of
// resident memory).
func NewMetricsClient(cfg *rest.Config) (MetricsClient, error) {
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

func (c restMetrics) PodMetricsList(ctx context.Context, namespace string) (*metricsv1beta1.PodMetricsList, error) {
	out := &metricsv1beta1.PodMetricsList{}
	return out, c.rc.Get().Namespace(namespace).Resource("pods").Do(ctx).Into(out)
}
