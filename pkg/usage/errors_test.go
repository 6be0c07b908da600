package usage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/usagetest"
)

func TestIsUnavailable(t *testing.T) {
	gv := metricsv1beta1.SchemeGroupVersion
	tests := []struct {
		name        string
		err         error
		unavailable bool
		notServed   bool
	}{
		{"nil", nil, false, false},
		{"group not registered", usagetest.NotServed("nodes", testNode), true, true},
		{"wrapped", fmt.Errorf("get node metrics: %w", usagetest.NotServed("nodes", testNode)), true, true},
		{"no metrics for the object", apierrors.NewNotFound(metricsv1beta1.Resource("pods"), "ns/a"), true, false},
		{"backend down", usagetest.BackendDown("pods", ""), true, false},
		{"no match", &meta.NoResourceMatchError{PartialResource: gv.WithResource("pods")}, true, false},
		{"internal error", apierrors.NewInternalError(errors.New("boom")), false, false},
		{"too many requests", apierrors.NewTooManyRequests("later", 1), false, false},
		{"deadline", context.DeadlineExceeded, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.unavailable, usage.IsUnavailable(tc.err))
			assert.Equal(t, tc.notServed, usage.IsNotServed(tc.err))
		})
	}
}
