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
		script := fmt.Sprintf("#!/bin/sh\n# Runs %s in the node's mount namespace (anchor pid %d).\nexec %s -t %d -m -- %s \"$@\"\n",
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
		APIServerArgs: []string{
			// The Node's Hostname address (the host name, 127.0.0.1 in
			// /etc/hosts) is the one the API server dials for logs, exec
			// and proxy: loopback only, never the InternalIP.
			"--kubelet-preferred-address-types=Hostname",
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
	return nil
}

// clientset is an admin clientset whose connections pass the loopback guard.
func (n *Node) clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(GuardREST(n.Cluster.RESTConfig()))
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
