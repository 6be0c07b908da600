// Package usage turns readings of the CPU and memory usage of this node and
// of the pods on it, taken by a Source, into wire.Usage events (the
// Collector), degrading to "unknown" when the source does not answer and
// leaving out readings that cannot be true. The sources are packages of
// their own: pkg/usage/metricsapi (the Metrics API) and pkg/usage/kubelet
// (this node's kubelet /metrics/resource); what they share with the
// Collector (PodKey, Reading, Rejection and its reasons, the bounds of a
// reading, the classification of errors, the node's own figures of the
// kubelet summary: NodeStats) is here.
package usage

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"github.com/catops/cli/pkg/wire"
)

// The Names of the sources, reported as wire.Usage.Source.
const (
	// MetricsAPIName is the Name of the Metrics API source
	// (pkg/usage/metricsapi).
	MetricsAPIName = "metrics-api"
	// KubeletName is the Name of the kubelet source (pkg/usage/kubelet).
	KubeletName = "kubelet"
)

// PodKey names a pod on this node.
type PodKey struct {
	Namespace string
	Name      string
}

// Reading is what one Fetch returned. A pod missing from Pods has no
// reading (yet): its usage is unknown, not zero.
type Reading struct {
	// Node is this node's reading: CPU in cores averaged over
	// WindowSeconds up to Timestamp, memory working set in bytes. Nil: no
	// reading (yet, or rejected).
	Node *wire.ResourceUsage
	// Pods are the readings of the pods asked for, each the sum of its
	// containers (or the kubelet's pod-level series), in the same units.
	Pods map[PodKey]wire.ResourceUsage
	// Rejected are readings the source read but cannot vouch for (see
	// Rejection): they are absent from Node and Pods. The Collector counts
	// and logs them, with those it rejects itself.
	Rejected []Rejection
	// Requests is how many API server requests the fetch made; set on
	// failure too.
	Requests int
	// KubeletRequests is how many requests the fetch made to the node's
	// kubelet (not through the API server); set on failure too.
	KubeletRequests int
	// Errors is how many of those requests failed without failing the
	// fetch (the source logged them; their pods have no reading).
	Errors int
	// NodeStats are the node's own figures from the kubelet summary, when
	// the source was asked for them (the kubelet source's
	// Options.NodeStats) and read the summary this time; nil otherwise.
	NodeStats *NodeStats
}

// Source reads usage for this node and for the given pods, which are the
// pods the informer has on this node.
type Source interface {
	// Name is reported as wire.Usage.Source ("metrics-api", "kubelet").
	Name() string
	// Fetch reads the node and the given pods. An error means there is no
	// usage this time; IsUnavailable(err) says the API as a whole is not
	// accessible. Reading's request counts and Errors are set either way.
	Fetch(ctx context.Context, pods []PodKey) (Reading, error)
	// UseNode gives the source the cached Node object of this node, before
	// the first Fetch: the kubelet source finds its kubelet through it;
	// the Metrics API source, which names the node itself, ignores it.
	UseNode(NodeFunc)
}

// NodeFunc returns this node's cached Node object; ok is false while the
// cache does not hold it.
type NodeFunc func() (*corev1.Node, bool)
