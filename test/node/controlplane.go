package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/catops/cli/test/rig"
)

// controlPlaneBins are the binaries test/rig starts for the node.
var controlPlaneBins = []string{rig.BinEtcd, rig.BinKubeAPIServer, rig.BinControllerManager, rig.BinScheduler}

// startControlPlane starts test/rig's etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler (no kwok) in the node's
// namespace, through wrappers that nsenter and exec the real binary (same
// PID, /proc/PID/exe the real binary, which test/rig's checks accept).
func (n *Node) startControlPlane(ctx context.Context, b binaries) error {
	if err := os.MkdirAll(n.paths.cpBin, 0o755); err != nil {
		return err
	}
	for _, name := range controlPlaneBins {
		script := fmt.Sprintf("#!/bin/sh\n# Runs %s in the node's mount and network namespaces (anchor pid %d).\nexec %s -t %d -m -n -- %s \"$@\"\n",
			name, n.st.Anchor.PID, b.nsenter, n.st.Anchor.PID, filepath.Join(b.bin, name))
		if err := os.WriteFile(filepath.Join(n.paths.cpBin, name), []byte(script), 0o755); err != nil { //nolint:gosec // an executable wrapper
			return err
		}
	}
	pki := filepath.Join(n.paths.cp, "pki")
	n.st.ControlPlane = true
	if err := n.saveState(); err != nil {
		return err
	}
	c, err := rig.Start(ctx, rig.Options{
		ControllerManager: true,
		Scheduler:         true,
		Dir:               n.paths.cp,
		KeepDir:           true,
		BinDir:            n.paths.cpBin,
		Detach:            n.opts.Detach,
		APIServerBinary:   rig.BinKubeAPIServer,
		Logf:              n.opts.Logf,
		// In the node's network namespace: the rig's clients dial in, and
		// the API server serves on every address there, :443, so that
		// ServiceIP:443 (the kubernetes Service, on lo) reaches it.
		Dial:          n.DialContext,
		APIServerPort: APIServerPort,
		APIServerArgs: []string{
			"--bind-address=0.0.0.0",
			// Logs, exec and proxy: the kubelet at NodeIP.
			"--kubelet-preferred-address-types=InternalIP",
			"--kubelet-client-certificate=" + filepath.Join(pki, "admin.crt"),
			"--kubelet-client-key=" + filepath.Join(pki, "admin.key"),
			// The kubelet authenticates as system:node:<name>, as on a
			// kubeadm cluster. The flag is a list that repeats append to:
			// with the rig's RBAC this gives RBAC,Node.
			"--authorization-mode=Node",
			"--enable-admission-plugins=NodeRestriction",
		},
	})
	if err != nil {
		return fmt.Errorf("node: control plane: %w", err)
	}
	n.Cluster = c
	return n.writeClientWrappers(b)
}

// clientTools are the programs writeClientWrappers makes wrappers for.
var clientTools = []string{"kubectl", "helm"}

// writeClientWrappers writes Dir/bin/kubectl and Dir/bin/helm: the tools
// of .cache/bin run in the node's network namespace with the admin
// kubeconfig, for the shell (`make node-up` prints them) and for tests.
func (n *Node) writeClientWrappers(b binaries) error {
	if err := os.MkdirAll(n.paths.clientBin, 0o755); err != nil {
		return err
	}
	for _, tool := range clientTools {
		script := fmt.Sprintf("#!/bin/sh\n# %s in the node's network namespace (anchor pid %d), on its control plane.\nKUBECONFIG=%s exec %s -t %d -n -- %s \"$@\"\n",
			tool, n.st.Anchor.PID, n.Cluster.Kubeconfig, b.nsenter, n.st.Anchor.PID, filepath.Join(b.bin, tool))
		if err := os.WriteFile(filepath.Join(n.paths.clientBin, tool), []byte(script), 0o755); err != nil { //nolint:gosec // an executable wrapper
			return err
		}
	}
	return nil
}

// ClientWrapper is the path of Dir/bin/<tool> ("kubectl", "helm").
func (n *Node) ClientWrapper(tool string) string { return filepath.Join(n.paths.clientBin, tool) }

// clientset is an admin clientset (connecting in the node's namespace).
func (n *Node) clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(n.Cluster.RESTConfig())
}

// waitReady waits for the Node object to report Ready.
func (n *Node) waitReady(ctx context.Context, timeout time.Duration) error {
	cs, err := n.clientset()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		node, err := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err == nil {
			last = fmt.Errorf("node %s not Ready", n.Name)
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady {
					if c.Status == corev1.ConditionTrue {
						return nil
					}
					last = fmt.Errorf("node %s Ready=%s: %s", n.Name, c.Status, c.Message)
				}
			}
		} else {
			last = err
		}
		if !n.st.Kubelet.alive() {
			return fmt.Errorf("node: the kubelet exited; see %s", n.st.Kubelet.Log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: waiting for Node %s Ready: %w (last: %w); logs in %s", n.Name, ctx.Err(), last, n.paths.logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
