package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// containerdConfig is containerd 1.6's configuration: everything under the
// state folder, its own socket, CRI with the imported pause image, runc
// from .cache/node/root, and no way to pull (see hostsTOML).
const containerdConfig = `version = 2
root = %[1]q
state = %[2]q
oom_score = 0
# Only what the node uses; the others fail noisily on this machine.
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = %[3]q

[ttrpc]
  address = "%[3]s.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %[4]q
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "catops.local/pause:1"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    # Root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj to
    # the kubelet's -998 for sandboxes; clamp to containerd's own score.
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = %[5]q
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = %[6]q
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = %[7]q
      conf_dir = %[8]q
      max_conf_num = 1
`

// hostsTOML sends every registry to a closed loopback port: an image that
// was not imported fails with "connection refused" and is never pulled.
const hostsTOML = `server = "http://127.0.0.1:1"

[host."http://127.0.0.1:1"]
  capabilities = ["pull", "resolve"]
`

// cniBridge is the pod network: the bridge catops0 (PodGateway) in the
// node's network namespace, pod addresses from podNet, each pod's default
// route via the bridge. No NAT and no route out of the namespace: a pod
// reaches the node's addresses (NodeIP, ServiceIP) and other pods only.
const cniBridge = `{
  "cniVersion": "0.4.0",
  "name": "catops-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "%s",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": "%s", "gateway": "%s", "rangeStart": "10.244.0.10"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
`

func (n *Node) startContainerd(ctx context.Context, b binaries) error {
	cd := n.paths.containerd
	certs := filepath.Join(cd, "certs.d")
	for _, d := range []string{cd, filepath.Join(certs, "_default"), n.paths.cniConf} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	cfg := filepath.Join(cd, "config.toml")
	files := map[string]string{
		cfg: fmt.Sprintf(containerdConfig, filepath.Join(cd, "root"), filepath.Join(cd, "state"), n.paths.sock,
			filepath.Join(cd, "opt"), b.runc, certs, b.cniDir, n.paths.cniConf),
		filepath.Join(certs, "_default", "hosts.toml"): hostsTOML,
		filepath.Join(n.paths.cniConf, "10-bridge.conflist"): fmt.Sprintf(cniBridge, bridgeName,
			filepath.Join(n.paths.dir, "cni", "ipam"), podNet, PodGateway),
	}
	for f, s := range files {
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			return err
		}
	}
	t0 := time.Now()
	p, err := startDetached("containerd", b.containerd,
		n.nsArgv(b.containerd, "--config", cfg), filepath.Join(n.paths.logs, "containerd.log"))
	if err != nil {
		return err
	}
	n.st.Containerd = p
	if err := n.saveState(); err != nil {
		return err
	}
	if err := waitExe(p, 5*time.Second); err != nil {
		return err
	}
	for {
		if err := n.ctr(b, "version"); err == nil {
			break
		} else if time.Since(t0) > 30*time.Second || ctx.Err() != nil {
			return fmt.Errorf("node: containerd does not answer on %s: %w; see %s", n.paths.sock, err, p.Log)
		}
		if !p.alive() {
			return fmt.Errorf("node: containerd exited; see %s", p.Log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.logf("node: containerd answers in %.2fs (pid %d)", time.Since(t0).Seconds(), p.PID)
	// The kubelet's cAdvisor asks containerd for containers' names at its
	// default socket, /run/containerd/containerd.sock (in the namespace's
	// own /run): without it, /metrics/cadvisor has no container labels.
	if err := n.nsRun(b.mkdir, "-p", "/run/containerd"); err != nil {
		return err
	}
	if err := n.nsRun(b.ln, "-sf", n.paths.sock, "/run/containerd/containerd.sock"); err != nil {
		return err
	}
	t1 := time.Now()
	tars := b.images()
	if agent := filepath.Join(b.imageDir, "catops-k8s.tar"); fileExists(agent) {
		tars = append(tars, agent)
	}
	for _, t := range tars {
		if err := n.ctr(b, "images", "import", t); err != nil {
			return fmt.Errorf("node: importing %s: %w", t, err)
		}
	}
	n.logf("node: %d images imported in %.2fs", len(tars), time.Since(t1).Seconds())
	return nil
}

// ctr runs ctr against the node's containerd, in the k8s.io namespace (the
// CRI's), inside the node's mount namespace.
func (n *Node) ctr(b binaries, args ...string) error {
	return n.nsRun(append([]string{b.ctr, "-a", n.paths.sock, "-n", "k8s.io"}, args...)...)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
