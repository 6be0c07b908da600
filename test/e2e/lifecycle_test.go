//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
	"github.com/catops/cli/test/node"
)

// lifecyclePods are the pods TestAgentSeesRealPodLifecycles creates, in
// the default namespace.
var lifecyclePods = []string{"running", "oom", "crash", "done", "brief", "deleted"}

// TestAgentSeesRealPodLifecycles: the agent binary, run on the host
// against the real node's control plane, ships to a reference receiver;
// real pods go through the lifecycles a kubelet gives them (Running,
// OOMKilled and restarted, CrashLoopBackOff, Succeeded, deleted at once,
// deleted once Running) → the receiver's state of the node comes to equal
// the API server's pods of the node.
func TestAgentSeesRealPodLifecycles(t *testing.T) {
	dir := nodeDir(t, "node-e2e-lifecycle")

	// The agent binary, built while nothing runs yet.
	t0 := time.Now()
	bin := filepath.Join(t.TempDir(), "catops-k8s")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kubernetes")
	build.Dir = filepath.Dir(filepath.Dir(dir)) // the repository: dir is <repo>/.rig/<name>
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/kubernetes: %s", out)
	tBuild := time.Since(t0)

	ctx := testContext(t, 8*time.Minute)
	t0 = time.Now()
	n, _ := upNode(ctx, t, dir)
	tUp := time.Since(t0)

	// The agent runs in the node's network namespace and reaches the API
	// server of its kubeconfig and the receiver, both there.
	requireNodeURL(t, n.Cluster.APIServerURL)
	cs, err := kubernetes.NewForConfig(n.Cluster.RESTConfig())
	require.NoError(t, err)

	token := "e2e-lifecycle-" + randomHex(t, 16)
	rcv, err := receiver.New(receiver.Options{Token: token})
	require.NoError(t, err)
	backendURL := serveInNode(t, n, "127.0.0.1:0", rcv.Handler(), nil)
	requireNodeURL(t, backendURL)

	t0 = time.Now()
	agent := startAgentProcess(t, n.Command(context.Background(), bin), []string{
		"KUBECONFIG=" + n.Cluster.Kubeconfig, "NODE_NAME=" + n.Name, "NAMESPACE=catops-system",
		"CATOPS_BACKEND_URL=" + backendURL, "CATOPS_AUTH_TOKEN=" + token,
		"COLLECTION_INTERVAL=10s", "CATOPS_FLUSH_DELAY=100ms", "CATOPS_HEALTH_ADDR=off",
		"CATOPS_POD_METRICS_SOURCE=none", "CATOPS_LOG_LEVEL=debug",
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", agent.log())
		}
	})
	waitReceiver(t, rcv, n.Name, "the agent's first snapshot", time.Minute, agent, func(st receiver.NodeState) bool {
		return st.Session != ""
	})
	tAgent := time.Since(t0)

	// The pods.
	t0 = time.Now()
	runLifecycles(ctx, t, cs, n.Name)
	tAPI := time.Since(t0)

	// The receiver against the API server: polled, since the truth moves
	// (the oom and crash pods restart) while the receiver may be still.
	t0 = time.Now()
	diff := waitTruth(t, rcv, cs, n.Name, time.Minute, agent.exited)
	tMatch := time.Since(t0)
	require.Empty(t, diff, "the receiver's state never equalled the API server's (agent exited: %v)", agent.exited())
	st, _ := rcv.Node(n.Name)
	keys := make([]string, 0, len(st.Pods))
	for k := range st.Pods {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{"default/crash", "default/done", "default/oom", "default/running"}, keys,
		"the node's pods in the receiver (and so in the API server)")
	for _, name := range []string{"oom", "crash"} {
		p := st.Pods[receiver.PodKey("default", name)]
		c := p.Containers[0]
		last := ""
		if c.LastTermination != nil {
			last = c.LastTermination.Reason
		}
		t.Logf("receiver: %s phase %s, restarts %d, state %s %s, last termination %s", name, p.Phase, c.RestartCount, c.State, c.Reason, last)
	}

	// The agent's log: JSON lines, no token.
	tStop, err := agent.stop(t)
	assert.NoError(t, err, "the agent's exit on SIGTERM")
	lines := checkAgentLog(t, agent.log(), token)

	t.Logf("TIMES build %.2fs, node up %.2fs, agent's first snapshot %.2fs, API lifecycles %.2fs, receiver = API %.2fs later, agent stop %.2fs; %d log lines",
		tBuild.Seconds(), tUp.Seconds(), tAgent.Seconds(), tAPI.Seconds(), tMatch.Seconds(), tStop.Seconds(), lines)
}

// runLifecycles creates lifecyclePods on the node and waits until the
// API server shows each one's lifecycle: running Running, oom OOMKilled
// and restarted, crash in CrashLoopBackOff, done Succeeded, brief deleted
// a second after its creation, deleted deleted once Running.
func runLifecycles(ctx context.Context, t *testing.T, cs kubernetes.Interface, nodeName string) {
	t.Helper()
	limit := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("20Mi")}}
	create := func(name string, restart corev1.RestartPolicy, res corev1.ResourceRequirements, args ...string) {
		t.Helper()
		_, err := cs.CoreV1().Pods("default").Create(ctx, boxPod(nodeName, name, restart, res, args...), metav1.CreateOptions{})
		require.NoError(t, err, "create pod %s", name)
	}
	create("running", corev1.RestartPolicyAlways, corev1.ResourceRequirements{}, "sleep")
	create("oom", corev1.RestartPolicyAlways, limit, "hog", "100")
	create("crash", corev1.RestartPolicyAlways, corev1.ResourceRequirements{}, "exit", "1")
	create("done", corev1.RestartPolicyNever, corev1.ResourceRequirements{}, "exit", "0")
	create("deleted", corev1.RestartPolicyAlways, corev1.ResourceRequirements{}, "sleep")
	create("brief", corev1.RestartPolicyAlways, corev1.ResourceRequirements{}, "sleep")
	time.Sleep(time.Second)
	require.NoError(t, cs.CoreV1().Pods("default").Delete(ctx, "brief", metav1.DeleteOptions{}))
	waitAPI(ctx, t, cs, "pod deleted Running", func(p map[string]*corev1.Pod) bool {
		return p["deleted"] != nil && p["deleted"].Status.Phase == corev1.PodRunning
	})
	require.NoError(t, cs.CoreV1().Pods("default").Delete(ctx, "deleted", metav1.DeleteOptions{}))

	waitAPI(ctx, t, cs, "the lifecycles", func(p map[string]*corev1.Pod) bool {
		return p["running"] != nil && p["running"].Status.Phase == corev1.PodRunning &&
			oomKilled(p["oom"]) && crashLooping(p["crash"]) &&
			p["done"] != nil && p["done"].Status.Phase == corev1.PodSucceeded &&
			p["brief"] == nil && p["deleted"] == nil
	})
}

// waitTruth polls until the receiver's state of the node equals the API
// server's (compareToTruth), for at most timeout or until stop says the
// agent is gone; it returns the last differences ("" when equal). Polled,
// since the truth moves (pods restart) while the receiver may be still.
func waitTruth(t *testing.T, rcv *receiver.Receiver, cs kubernetes.Interface, nodeName string, timeout time.Duration, stop func() bool) string {
	t.Helper()
	var diff string
	deadline := time.Now().Add(timeout)
	for {
		st, _ := rcv.Node(nodeName)
		if diff = compareToTruth(t, cs, nodeName, st); diff == "" {
			return ""
		}
		if time.Now().After(deadline) || stop() {
			return diff
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func boxPod(nodeName, name string, restart corev1.RestartPolicy, res corev1.ResourceRequirements, args ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName:                      nodeName,
			RestartPolicy:                 restart,
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "box", Image: "catops.local/box:1", Args: args,
				ImagePullPolicy: corev1.PullNever, Resources: res,
			}},
		},
	}
}

// oomKilled: the pod's container was OOM-killed and restarted.
func oomKilled(p *corev1.Pod) bool {
	if p == nil || len(p.Status.ContainerStatuses) != 1 {
		return false
	}
	c := p.Status.ContainerStatuses[0]
	return c.RestartCount >= 1 && c.LastTerminationState.Terminated != nil && c.LastTerminationState.Terminated.Reason == "OOMKilled"
}

// crashLooping: the pod's container waits in CrashLoopBackOff.
func crashLooping(p *corev1.Pod) bool {
	if p == nil || len(p.Status.ContainerStatuses) != 1 {
		return false
	}
	c := p.Status.ContainerStatuses[0]
	return c.State.Waiting != nil && c.State.Waiting.Reason == "CrashLoopBackOff"
}

// waitAPI polls the lifecycle pods (nil: absent) until cond holds, for at
// most 2 minutes.
func waitAPI(ctx context.Context, t *testing.T, cs kubernetes.Interface, what string, cond func(map[string]*corev1.Pod) bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var pods map[string]*corev1.Pod
	for time.Now().Before(deadline) {
		pods = map[string]*corev1.Pod{}
		for _, name := range lifecyclePods {
			p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				t.Fatalf("get pod %s: %v", name, err)
			default:
				pods[name] = p
			}
		}
		if cond(pods) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	var b strings.Builder
	for _, name := range lifecyclePods {
		p := pods[name]
		if p == nil {
			fmt.Fprintf(&b, "\n  %s: absent", name)
			continue
		}
		s, _ := json.Marshal(p.Status.ContainerStatuses)
		fmt.Fprintf(&b, "\n  %s: %s %s", name, p.Status.Phase, s)
	}
	t.Fatalf("the API server never showed %s in 2m:%s", what, b.String())
}

// waitReceiver waits until cond holds on the receiver's state of node.
func waitReceiver(t *testing.T, rcv *receiver.Receiver, nodeName, what string, timeout time.Duration, agent *agentProcess, cond func(receiver.NodeState) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-agent.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := rcv.Wait(ctx, func() bool { st, ok := rcv.Node(nodeName); return ok && cond(st) }); err != nil {
		t.Fatalf("waiting for %s: %v (agent exited: %v)", what, err, agent.exited())
	}
}

// compareToTruth returns "" when the receiver holds exactly the API
// server's pods of the node, each with the same UID, phase and per
// container restart count, state, reason and last termination reason;
// otherwise the differences.
func compareToTruth(t *testing.T, cs kubernetes.Interface, nodeName string, st receiver.NodeState) string {
	t.Helper()
	list, err := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + nodeName})
	require.NoError(t, err)
	want := map[string]string{}
	for i := range list.Items {
		p := &list.Items[i]
		want[receiver.PodKey(p.Namespace, p.Name)] = apiSummary(p)
	}
	got := map[string]string{}
	for k, p := range st.Pods {
		got[k] = wireSummary(&p)
	}
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: API %s, receiver absent", k, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s: API %s, receiver %s", k, w, g))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: API absent, receiver %s", k, g))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "\n")
}

// apiSummary and wireSummary render the compared fields alike.
func apiSummary(p *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "uid=%s phase=%s", p.UID, p.Status.Phase)
	byName := map[string]corev1.ContainerStatus{}
	for _, c := range p.Status.ContainerStatuses {
		byName[c.Name] = c
	}
	for _, spec := range p.Spec.Containers {
		c, ok := byName[spec.Name]
		state, reason, last := wire.StateUnknown, "", ""
		if ok {
			switch {
			case c.State.Running != nil:
				state = wire.StateRunning
			case c.State.Terminated != nil:
				state, reason = wire.StateTerminated, c.State.Terminated.Reason
			case c.State.Waiting != nil:
				state, reason = wire.StateWaiting, c.State.Waiting.Reason
			}
			if c.LastTerminationState.Terminated != nil {
				last = c.LastTerminationState.Terminated.Reason
			}
		}
		fmt.Fprintf(&b, " [%s restarts=%d state=%s reason=%s last=%s]", spec.Name, c.RestartCount, state, reason, last)
	}
	return b.String()
}

func wireSummary(p *wire.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "uid=%s phase=%s", p.UID, p.Phase)
	for _, c := range p.Containers {
		last := ""
		if c.LastTermination != nil {
			last = c.LastTermination.Reason
		}
		fmt.Fprintf(&b, " [%s restarts=%d state=%s reason=%s last=%s]", c.Name, c.RestartCount, c.State, c.Reason, last)
	}
	return b.String()
}

// requireNodeURL: raw's host is an address the node's network guard
// allows (loopback or the node's own networks, in its namespace).
func requireNodeURL(t *testing.T, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	require.NoError(t, node.CheckTarget(host))
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
