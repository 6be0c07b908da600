package kubelet

import (
	"time"

	"github.com/catops/cli/pkg/usage/usagetest"
)

const testNode = usagetest.NodeName

// t0 is a scrape time as the kubelet stamps it (whole seconds, UTC).
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// The Collector's log lines (pkg/usage) about a failing kubelet, as
// operators grep for them (docs/troubleshooting.md).
const (
	msgFailed        = "Reading usage failed; usage is unknown until a retry succeeds"
	msgNotAccessible = "metrics API is not accessible (is metrics-server installed?)"
	msgKubeletBack   = "Kubelet is accessible again"
)
