package usage_test

import (
	"time"

	"github.com/catops/cli/pkg/usage/usagetest"
)

const testNode = usagetest.NodeName

// t0 is a scrape time as metrics-server reports it (whole seconds, UTC).
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
