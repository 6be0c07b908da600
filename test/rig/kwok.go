package rig

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KwokNodeAnnotation marks the nodes the rig's kwok manages (value "fake").
const KwokNodeAnnotation = "kwok.x-k8s.io/node"

// ManualStatusAnnotation on a pod keeps kwok's "running" stage away from it,
// so a test can set the pod's status itself (phase Pending, restarts, ...)
// without kwok moving it back to Running.
const ManualStatusAnnotation = "rig.catops.dev/manual-status"

// KwokConfig is the rig's own kwok stage configuration: what kwok does to the
// nodes and pods it manages. Three stages:
//
//   - rig-node-ready: a node whose Ready condition is not True gets Ready
//     (and the other usual conditions), its addresses (InternalIP 127.0.0.1,
//     so metrics scrapers reach kwok's server) and the kubelet port (kwok's
//     server port) in status.daemonEndpoints.
//   - rig-pod-running: a pod bound to a managed node, not being deleted, not
//     yet Running/Succeeded/Failed, without ManualStatusAnnotation, becomes
//     Running and Ready, with every container running and ready, each
//     container's status written as a v1.37 kubelet writes it: image ID,
//     container ID, resources and allocated resources, volume mounts and
//     the user (which the agent's pod cache must not keep: a pod cache
//     sized on kwok's former, smaller statuses understated real nodes).
//   - rig-pod-delete: a pod being deleted (deletionTimestamp set) is deleted
//     for good, as a kubelet would once its containers stopped. Finalizers
//     are left alone, as a kubelet leaves them.
const KwokConfig = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: rig-node-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions[] | select(.type == "Ready") | .status'
      operator: NotIn
      values: ["True"]
  steps:
  - patch:
      subresource: status
      root: status
      template: |
        {{ $name := .metadata.name }}
        conditions:
        {{- range NodeConditions }}
        - type: {{ .type | Quote }}
          status: {{ .status | Quote }}
          reason: {{ .reason | Quote }}
          message: {{ .message | Quote }}
          lastHeartbeatTime: {{ Now | Quote }}
          lastTransitionTime: {{ Now | Quote }}
        {{- end }}
        addresses:
        - type: InternalIP
          address: {{ NodeIP | Quote }}
        - type: Hostname
          address: {{ $name | Quote }}
        daemonEndpoints:
          kubeletEndpoint:
            Port: {{ NodePort }}
        nodeInfo:
          architecture: amd64
          operatingSystem: linux
          kubeletVersion: "v1.37.2-kwok"
          kubeProxyVersion: ""
          containerRuntimeVersion: "kwok"
          kernelVersion: ""
          osImage: "kwok"
          bootID: ""
          machineID: ""
          systemUUID: ""
        phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: rig-pod-running
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.metadata.annotations["` + ManualStatusAnnotation + `"]'
      operator: DoesNotExist
    - key: '.status.phase'
      operator: NotIn
      values: ["Running", "Succeeded", "Failed"]
  steps:
  - patch:
      subresource: status
      root: status
      template: |
        {{ $now := Now }}
        {{ $uid := .metadata.uid }}
        {{ $ip := PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
        phase: Running
        startTime: {{ $now | Quote }}
        hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
        hostIPs:
        - ip: {{ NodeIPWith .spec.nodeName | Quote }}
        podIP: {{ $ip | Quote }}
        podIPs:
        - ip: {{ $ip | Quote }}
        conditions:
        - type: PodScheduled
          status: "True"
          lastTransitionTime: {{ $now | Quote }}
        - type: Initialized
          status: "True"
          lastTransitionTime: {{ $now | Quote }}
        - type: ContainersReady
          status: "True"
          lastTransitionTime: {{ $now | Quote }}
        - type: Ready
          status: "True"
          lastTransitionTime: {{ $now | Quote }}
        {{- if .spec.initContainers }}
        initContainerStatuses:
        {{- range .spec.initContainers }}
        - name: {{ .name | Quote }}
          image: {{ .image | Quote }}
          imageID: {{ printf "kwok://%s" .image | Quote }}
          containerID: {{ printf "kwok://%s-%s" $uid .name | Quote }}
          ready: true
          restartCount: 0
          state:
            terminated:
              exitCode: 0
              reason: Completed
              startedAt: {{ $now | Quote }}
              finishedAt: {{ $now | Quote }}
        {{- end }}
        {{- end }}
        containerStatuses:
        {{- range .spec.containers }}
        - name: {{ .name | Quote }}
          image: {{ .image | Quote }}
          imageID: {{ printf "kwok://%s" .image | Quote }}
          containerID: {{ printf "kwok://%s-%s" $uid .name | Quote }}
          ready: true
          started: true
          restartCount: 0
          state:
            running:
              startedAt: {{ $now | Quote }}
          {{- with .resources }}
          resources: {{ YAML . 2 }}
          {{- with .requests }}
          allocatedResources: {{ YAML . 2 }}
          {{- end }}
          {{- end }}
          {{- with .volumeMounts }}
          volumeMounts:
          {{- range . }}
          - name: {{ .name | Quote }}
            mountPath: {{ .mountPath | Quote }}
            {{- if .readOnly }}
            readOnly: true
            recursiveReadOnly: Disabled
            {{- end }}
          {{- end }}
          {{- end }}
          user:
            linux:
              uid: 0
              gid: 0
              supplementalGroups: [0]
        {{- end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: rig-pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: Exists
  steps:
  - delete: true
`

// NodeOptions describes a kwok node for CreateNode.
type NodeOptions struct {
	Name        string
	Labels      map[string]string // added to the defaults (kubernetes.io/hostname, os, arch, type=kwok)
	Annotations map[string]string
	Taints      []corev1.Taint
	CPU         string // capacity and allocatable; default "4"
	Memory      string // default "16Gi"
	Pods        string // default "110"
}

// CreateNode creates a node that the rig's kwok manages (it becomes Ready
// within a second or so; see WaitNodeReady). The node also carries the
// annotation metrics.k8s.io/resource-metrics-path pointing at kwok's
// per-node resource metrics path.
func (c *Cluster) CreateNode(ctx context.Context, o NodeOptions) (*corev1.Node, error) {
	if o.Name == "" {
		return nil, fmt.Errorf("rig: CreateNode needs a name")
	}
	cs, err := c.Clientset()
	if err != nil {
		return nil, err
	}
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(def(o.CPU, "4")),
		corev1.ResourceMemory: resource.MustParse(def(o.Memory, "16Gi")),
		corev1.ResourcePods:   resource.MustParse(def(o.Pods, "110")),
	}
	labels := map[string]string{
		"kubernetes.io/hostname": o.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"type":                   "kwok",
	}
	maps.Copy(labels, o.Labels)
	annotations := map[string]string{
		KwokNodeAnnotation:                     "fake",
		"node.alpha.kubernetes.io/ttl":         "0",
		"metrics.k8s.io/resource-metrics-path": "/metrics/nodes/" + o.Name + "/metrics/resource",
	}
	maps.Copy(annotations, o.Annotations)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: labels, Annotations: annotations},
		Spec:       corev1.NodeSpec{Taints: o.Taints},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res.DeepCopy(),
		},
	}
	return cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
}

// WaitNodeReady waits until the node's Ready condition is True.
func (c *Cluster) WaitNodeReady(ctx context.Context, name string, timeout time.Duration) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	return c.waitFor(ctx, timeout, "node "+name+" Ready", func(ctx context.Context) error {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready yet", name)
	})
}

// WaitPodRunning waits until the pod's phase is Running.
func (c *Cluster) WaitPodRunning(ctx context.Context, namespace, name string, timeout time.Duration) (*corev1.Pod, error) {
	cs, err := c.Clientset()
	if err != nil {
		return nil, err
	}
	var pod *corev1.Pod
	err = c.waitFor(ctx, timeout, "pod "+namespace+"/"+name+" Running", func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("pod phase %q", p.Status.Phase)
		}
		pod = p
		return nil
	})
	return pod, err
}
