package node

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// kubeletConfig is the KubeletConfiguration (v1.37 on cgroup v1, containerd
// 1.6, root without CAP_SYS_RESOURCE), serving on NodeIP.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 is refused by default since 1.35; containerd 1.6 has no
# RuntimeConfig RPC, so the driver comes from here.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: true
cgroupRoot: /
enforceNodeAllocatable: ["pods"]
# Never write the host's kernel settings: fail instead (the namespace shows
# the kubelet the values it wants).
protectKernelDefaults: true
failSwapOn: false
oomScoreAdj: 0
containerRuntimeEndpoint: unix://%[1]s
imageServiceEndpoint: unix://%[1]s
runtimeRequestTimeout: 2m
podLogsDir: %[2]q
volumePluginDir: %[3]q
address: %[7]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: %[4]q
tlsPrivateKeyFile: %[5]q
# As kubeadm sets it up: client certificates signed by the cluster CA, and
# bearer tokens (a ServiceAccount's, e.g. the agent's with podMetrics.source
# kubelet) checked by the API server (TokenReview), every request
# authorized by it (SubjectAccessReview: nodes/metrics, nodes/stats, ...).
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true, cacheTTL: 30s}
  x509: {clientCAFile: %[6]q}
authorization:
  mode: Webhook
  webhook: {cacheAuthorizedTTL: 30s, cacheUnauthorizedTTL: 5s}
# No image GC (the images cannot be pulled again), (almost) no eviction.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "50Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
  imagefs.inodesFree: "1%%"
maxPods: 30
# Volume usage (the summary's volumes and ephemeral storage) every 10 s,
# not every minute: the e2e tests wait for it.
volumeStatsAggPeriod: 10s
nodeStatusUpdateFrequency: 10s
nodeStatusReportFrequency: 10s
syncFrequency: 10s
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
shutdownGracePeriod: 0s
`

const kubeletKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: catops-rig
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: node
  context: {cluster: catops-rig, user: %s}
current-context: node
`

func (n *Node) startKubelet(b binaries) error {
	kp := n.paths.kubeletPKI
	for _, d := range []string{kp, n.paths.kubelet, n.paths.podLogs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	certs, err := issueKubeletCerts(n.Cluster.PKI.CACert, n.Cluster.PKI.CAKey, n.Name, kp)
	if err != nil {
		return fmt.Errorf("node: kubelet certificates: %w", err)
	}
	user := "system:node:" + n.Name
	kubeconfig := filepath.Join(kp, "kubeconfig")
	files := map[string]string{
		kubeconfig: fmt.Sprintf(kubeletKubeconfig, n.Cluster.APIServerURL, n.Cluster.PKI.CACert,
			user, certs.clientCert, certs.clientKey, user),
		n.paths.kubeletConfig: fmt.Sprintf(kubeletConfig, n.paths.sock, n.paths.podLogs,
			filepath.Join(n.paths.kubelet, "volume-plugins"), certs.servingCert, certs.servingKey, n.Cluster.PKI.CACert, NodeIP),
	}
	for f, s := range files {
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			return err
		}
	}
	p, err := startDetached("kubelet", b.kubelet, n.nsArgv(b.kubelet,
		"--config="+n.paths.kubeletConfig,
		"--kubeconfig="+kubeconfig,
		"--root-dir="+n.paths.kubelet,
		"--cert-dir="+filepath.Join(n.paths.kubelet, "pki"),
		"--node-ip="+NodeIP,
		"--v=1",
	), filepath.Join(n.paths.logs, "kubelet.log"))
	if err != nil {
		return err
	}
	n.st.Kubelet = p
	if err := n.saveState(); err != nil {
		return err
	}
	if err := waitExe(p, 5*time.Second); err != nil {
		return err
	}
	n.logf("node: kubelet started (pid %d, node %s)", p.PID, n.Name)
	return nil
}
