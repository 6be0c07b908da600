// Command pause is the pod sandbox of the real-node rig (image
// catops.local/pause:1, containerd's sandbox_image): it holds the pod's
// namespaces and sleeps until SIGTERM or SIGINT, then exits 0.
//
// Unlike registry.k8s.io/pause it does not reap orphans: that matters only
// for a pod with shareProcessNamespace, where it is PID 1 of the pod and
// would collect zombies; no test of the rig uses one.
package main

import (
	"context"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}
