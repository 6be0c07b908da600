package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// reporterNamespace holds the cluster reporter's Lease.
const reporterNamespace = "catops-system"

// reporter: the cluster reporter (one replica, so it leads at once) on the
// cluster of the scale scenario (cfg.ScaleNodes nodes, cfg.ScalePods pods)
// with cfg.Deployments Deployments, cfg.PendingPods pods that have no
// node, and a steady stream of cfg.WarningRate Warning events a second
// (half new Events, half counted up). Its RSS, CPU and API requests over a
// window, and how long its first snapshot took.
func (b *Runner) reporter(ctx context.Context) error {
	if err := b.populateScale(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	if err := b.pop.Namespaces(ctx, 1, func(int) string { return reporterNamespace }); err != nil {
		return err
	}
	if err := b.pop.parallel(ctx, b.cfg.Deployments, func(i int) error {
		ns, name := b.nsName(i), fmt.Sprintf("app-%d", i)
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name, "team": "shop"}},
			Spec: appsv1.DeploymentSpec{Replicas: ptrTo(int32(10)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}, Spec: TestPod(ns, name, "").Spec}}}
		d, err := b.pop.Kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return err
		}
		ready := int32(10 - i%3) // a third are short of a replica or two
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 10, UpdatedReplicas: 10, ReadyReplicas: ready, AvailableReplicas: ready,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
				LastTransitionTime: metav1.Now(), LastUpdateTime: metav1.Now()}}}
		_, err = b.pop.Kube.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
		return err
	}); err != nil {
		return err
	}
	if err := b.pop.Pods(ctx, b.cfg.PendingPods, func(i int) (string, string, string) {
		return b.nsName(i), fmt.Sprintf("pending-%d", i), ""
	}); err != nil {
		return err
	}
	b.logf("created %d Deployments and %d pods with no node in %s", b.cfg.Deployments, b.cfg.PendingPods, time.Since(t0).Round(time.Second))

	// The warnings run through the idle window too, so that their writes
	// (and kwok's) are subtracted.
	wctx, stopWarnings := context.WithCancel(ctx)
	defer stopWarnings()
	var warned atomic.Int64
	go b.warnings(wctx, &warned)
	b.logf("idle window, every request (%s)", b.cfg.Window)
	idle, err := b.measureRate(ctx, b.req.All)
	if err != nil {
		return err
	}

	sink, err := NewSink(token)
	if err != nil {
		return err
	}
	defer sink.Close()
	r0, err := b.req.All(ctx)
	if err != nil {
		return err
	}
	w0 := warned.Load()
	started := time.Now()
	o := AgentOptions{Binary: b.cfg.Reporter, Kubeconfig: b.c.Kubeconfig, BackendURL: sink.URL, Token: token, Interval: b.cfg.Interval,
		LogDir: b.cfg.LogDir, Name: "reporter",
		Env: []string{"POD_NAME=bench-reporter", "NAMESPACE=" + reporterNamespace, "CATOPS_LEASE_NAME=bench-reporter", "CATOPS_CLUSTER_NAME=bench"}}
	a, err := StartAgent(ctx, o, time.Minute)
	if err != nil {
		return err
	}
	defer a.Stop()
	var first time.Duration
	if err := poll(ctx, 3*time.Minute, "the reporter's first snapshot", func() (bool, error) {
		for _, k := range sink.R.Clusters() {
			if c, ok := sink.R.Cluster(k); ok && c.Counters.SnapshotsCompleted > 0 {
				first = time.Since(started)
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	sleep(ctx, b.cfg.Interval*3/2)
	r1, err := b.req.All(ctx)
	if err != nil {
		return err
	}
	start := r1.Sub(r0).Sub(idle.Scale(time.Since(started).Seconds()))
	p0, err := a.Proc()
	if err != nil {
		return err
	}
	own0, err := a.Samples("rest_client_requests_total")
	if err != nil {
		return err
	}
	key := sink.R.Clusters()[0]
	c0, _ := sink.R.Cluster(key)
	ws := time.Now()
	sleep(ctx, b.cfg.Window)
	window := time.Since(ws)
	r2, err := b.req.All(ctx)
	if err != nil {
		return err
	}
	p1, err := a.Proc()
	if err != nil {
		return err
	}
	heap, _ := a.Metric("go_memstats_heap_inuse_bytes")
	own1, err := a.Samples("rest_client_requests_total")
	if err != nil {
		return err
	}
	c1, _ := sink.R.Cluster(key)
	steady := r2.Sub(r1).Sub(idle.Scale(window.Seconds()))
	rate := float64(warned.Load()-w0) / time.Since(started).Seconds()
	cpu := CPUBetween(p0, p1) / window.Seconds() * 1000 // millicores

	b.r.Printf("### 8. The cluster reporter at cluster scale\n")
	b.r.Printf("One `catops-k8s cluster` (it leads at once) while the cluster holds %d kwok nodes, %d pods on them, %d Deployments (replicas 10, the pods' template), %d pods with no node, and a stream of %.1f Warning events a second (half new Events, half counted up). API requests are kube-apiserver's `apiserver_request_total` (every verb and resource), minus the same window's count with no reporter (kwok and the warning writer), scaled to one hour. Interval %s, window %s.",
		b.cfg.ScaleNodes, b.cfg.ScalePods, b.cfg.Deployments, b.cfg.PendingPods, rate, b.cfg.Interval, window.Round(time.Second))
	b.r.Table([]string{"figure", "value", "goal"}, [][]string{
		{"RSS (anon + file)", fmt.Sprintf("%s (%s + %s)", mib(float64(p1.RSSBytes)), mib(float64(p1.RSSAnonBytes)), mib(float64(p1.RSSFileBytes))), "≤ 64 MiB"},
		{"Go heap in use", mib(heap), ""},
		{"CPU", fmt.Sprintf("%.2f millicores", cpu), "≤ 10 millicores"},
		{"first snapshot after start", first.Round(10 * time.Millisecond).String(), ""},
		{"bytes received per hour (gzip'd)", num(perHour(float64(c1.Counters.BytesReceived-c0.Counters.BytesReceived), window)), ""},
		{"events applied per hour", num(perHour(float64(c1.Counters.EventsApplied-c0.Counters.EventsApplied), window)), ""},
	})
	b.r.Printf("Requests at start (first snapshot plus 1.5 intervals) and per hour in the window:")
	var rows [][]string
	for _, k := range keysOf(start, steady) {
		rows = append(rows, []string{k, num(start[k]), num(perHour(steady[k], window))})
	}
	b.r.Table([]string{"verb resource", "at start", "per hour, steady"}, rows)
	b.r.Printf("The API server's counts hold the noise of kwok's own traffic (its 200 nodes' Lease renewals, watches that end). The reporter's own count of the requests it made in the window (client-go's `rest_client_requests_total`; a WATCH is a GET that is counted when it opens):")
	var own [][]string
	for _, m := range []string{"GET", "PUT", "POST", "DELETE", "PATCH"} {
		n := own1.Sum("rest_client_requests_total", map[string]string{"method": m}) - own0.Sum("rest_client_requests_total", map[string]string{"method": m})
		own = append(own, []string{m, num(n), num(perHour(n, window))})
		b.r.Set("reporter.own_requests_per_hour."+m, perHour(n, window))
	}
	b.r.Table([]string{"method", "in the window", "per hour"}, own)
	b.r.Set("reporter.rss_bytes", float64(p1.RSSBytes))
	b.r.Set("reporter.rss_anon_bytes", float64(p1.RSSAnonBytes))
	b.r.Set("reporter.heap_bytes", heap)
	b.r.Set("reporter.cpu_millicores", cpu)
	b.r.Set("reporter.first_snapshot_seconds", first.Seconds())
	return ctx.Err()
}

// warnings writes cfg.WarningRate Warning events a second until ctx ends:
// every other one a new Event (FailedScheduling-like), every other one the
// crash loop's BackOff counted up. n counts them.
func (b *Runner) warnings(ctx context.Context, n *atomic.Int64) {
	if b.cfg.WarningRate <= 0 {
		return
	}
	t := time.NewTicker(time.Duration(float64(time.Second) / b.cfg.WarningRate))
	defer t.Stop()
	ns := b.nsName(0)
	loop, err := b.pop.Kube.CoreV1().Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: "crashloop.backoff"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "app-0-crashloop"}, Type: corev1.EventTypeWarning,
		Reason: "BackOff", Message: "Back-off restarting failed container", Count: 1, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(),
		Source: corev1.EventSource{Component: "kubelet", Host: "scale-node-0"}}, metav1.CreateOptions{})
	if err != nil {
		b.logf("warnings: %v", err)
		return
	}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if i%2 == 0 {
			loop.Count++
			loop.LastTimestamp = metav1.Now()
			if next, err := b.pop.Kube.CoreV1().Events(ns).Update(ctx, loop, metav1.UpdateOptions{}); err == nil {
				loop = next
			}
		} else {
			pod := fmt.Sprintf("pending-%d", i%max(b.cfg.PendingPods, 1))
			_, _ = b.pop.Kube.CoreV1().Events(b.nsName(i)).Create(ctx, &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Namespace: b.nsName(i), GenerateName: pod + "."},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: b.nsName(i), Name: pod}, Type: corev1.EventTypeWarning,
				Reason: "FailedScheduling", Message: "0/200 nodes are available: 200 Insufficient memory.", Count: 1,
				FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Source: corev1.EventSource{Component: "default-scheduler"}}, metav1.CreateOptions{})
		}
		n.Add(1)
	}
}

func ptrTo[T any](v T) *T { return &v }
