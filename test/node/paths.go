package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/catops/cli/test/rig"
)

// paths names the files and folders of a node's state folder.
type paths struct {
	dir, state, logs string
	cp, cpBin        string // control plane (test/rig) folder and its nsenter wrappers
	clientBin        string // kubectl and helm wrappers (network namespace)
	overlay, sysctl  string
	containerd       string // config, socket, root, state, certs.d
	sock             string
	cniConf          string
	kubelet          string // root dir
	kubeletPKI       string // node client cert, serving cert, kubeconfig
	kubeletConfig    string
	podLogs          string
}

func newPaths(dir string) paths {
	cd := filepath.Join(dir, "containerd")
	kp := filepath.Join(dir, "kubelet-pki")
	return paths{
		dir:           dir,
		state:         filepath.Join(dir, "state.json"),
		logs:          filepath.Join(dir, "logs"),
		cp:            filepath.Join(dir, "cp"),
		cpBin:         filepath.Join(dir, "cp-bin"),
		clientBin:     filepath.Join(dir, "bin"),
		overlay:       filepath.Join(dir, "overlay"),
		sysctl:        filepath.Join(dir, "sysctl"),
		containerd:    cd,
		sock:          filepath.Join(cd, "containerd.sock"),
		cniConf:       filepath.Join(dir, "cni", "net.d"),
		kubelet:       filepath.Join(dir, "kubelet"),
		kubeletPKI:    kp,
		kubeletConfig: filepath.Join(kp, "kubelet-config.yaml"),
		podLogs:       filepath.Join(dir, "pod-logs"),
	}
}

// ClientBin is the folder of the kubectl and helm wrappers of the node
// whose state folder is dir (they run in its network namespace).
func ClientBin(dir string) string { return filepath.Join(dir, "bin") }

// Kubeconfig is the admin kubeconfig of the control plane of the node
// whose state folder is dir.
func Kubeconfig(dir string) string { return filepath.Join(dir, "cp", "kubeconfig") }

// binaries are the node's programs: the kubelet from make node-tools in
// .cache/bin, the runtime unpacked by hack/get-runtime.sh, the images of
// make node-images.
type binaries struct {
	bin, root, imageDir            string
	kubelet, containerd, ctr, shim string
	runc, cniDir, unshare, nsenter string
	mount, sleep, ip, mkdir, ln    string
}

func findBinaries() (binaries, error) {
	bin, err := rig.BinDir()
	if err != nil {
		return binaries{}, err
	}
	repo, err := rig.RepoRoot()
	if err != nil {
		return binaries{}, err
	}
	root := filepath.Join(repo, ".cache", "node", "root")
	b := binaries{
		bin:        bin,
		root:       root,
		imageDir:   filepath.Join(repo, ".cache", "node", "images"),
		kubelet:    filepath.Join(bin, "kubelet"),
		containerd: filepath.Join(root, "usr", "bin", "containerd"),
		ctr:        filepath.Join(root, "usr", "bin", "ctr"),
		shim:       filepath.Join(root, "usr", "bin", "containerd-shim-runc-v2"),
		runc:       filepath.Join(root, "usr", "sbin", "runc"),
		cniDir:     filepath.Join(root, "usr", "lib", "cni"),
	}
	// util-linux and coreutils from the machine, by absolute path: the
	// anchor's /proc/PID/exe is checked against b.sleep.
	for _, t := range []struct {
		dst  *string
		name string
	}{{&b.unshare, "unshare"}, {&b.nsenter, "nsenter"}, {&b.mount, "mount"}, {&b.sleep, "sleep"}, {&b.ip, "ip"}, {&b.mkdir, "mkdir"}, {&b.ln, "ln"}} {
		p, err := lookPathResolved(t.name)
		if err != nil {
			return b, fmt.Errorf("node: %s not found (util-linux / coreutils / iproute2): %w", t.name, err)
		}
		*t.dst = p
	}
	return b, nil
}

func (b binaries) all() []string {
	return []string{b.kubelet, b.containerd, b.ctr, b.shim, b.runc,
		filepath.Join(b.cniDir, "loopback"), filepath.Join(b.cniDir, "bridge"), filepath.Join(b.cniDir, "host-local")}
}

// images are the tarballs imported into containerd: the sandbox image and
// the test image (the agent's is imported too when present).
func (b binaries) images() []string {
	return []string{filepath.Join(b.imageDir, "pause.tar"), filepath.Join(b.imageDir, "box.tar")}
}

// nodeName is the machine's host name, which the kubelet registers as the
// Node's name. Nothing resolves it: the API server and the agent reach the
// kubelet at the Node's InternalIP (NodeIP).
func nodeName() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", err
	}
	return strings.ToLower(h), nil
}
