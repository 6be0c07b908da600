package podcache

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Client lists and watches one core/v1 resource ("pods" or "nodes") across
// all namespaces, with opts applied to every request.
type Client interface {
	ListWatch(resource string, opts func(*metav1.ListOptions)) cache.ListerWatcher
}

// NewClient returns the Client the agent uses: a REST client for core/v1
// only, speaking protobuf.
//
// It deliberately avoids client-go's Clientset and typed clients: they
// import k8s.io/client-go/kubernetes/scheme, whose init registers every
// built-in API group (≈ 60 group-versions), which cost the agent ≈ 7 MiB of
// resident memory, binary pages and heap, before it did anything. A scheme
// with core/v1 (and the meta/v1 types it registers) is all the informers
// need.
func NewClient(cfg *rest.Config) (Client, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register core/v1: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.APIPath = "/api"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	// Protobuf decodes with a fraction of JSON's garbage; JSON stays
	// acceptable for servers (or proxies) that do not offer it.
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return restClient{rc}, nil
}

type restClient struct{ rc rest.Interface }

func (c restClient) ListWatch(resource string, opts func(*metav1.ListOptions)) cache.ListerWatcher {
	return cache.NewFilteredListWatchFromClient(c.rc, resource, metav1.NamespaceAll, opts)
}
