package usage

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestNodeCapacity(t *testing.T) {
	n := &corev1.Node{}
	assert.Equal(t, capacity{}, nodeCapacity(nil), "not cached: no bound")
	assert.Equal(t, capacity{}, nodeCapacity(n), "no status: no bound")
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("7500m"), corev1.ResourceMemory: resource.MustParse("30Gi")}
	assert.Equal(t, capacity{cores: 7.5, memory: 30 << 30}, nodeCapacity(n), "allocatable when there is no capacity")
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")}
	assert.Equal(t, capacity{cores: 8, memory: 32 << 30}, nodeCapacity(n), "capacity first: a node's usage includes what is not allocatable")
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0")}
	assert.Equal(t, capacity{cores: 7.5, memory: 30 << 30}, nodeCapacity(n), "a zero capacity is no capacity")
}
