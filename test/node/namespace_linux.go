package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// kernelDefaults are the sysctls the kubelet checks at start and, without
// protectKernelDefaults, writes machine-wide; inside the namespace a
// bind-mounted file shows it the wanted value when the host's differs.
var kernelDefaults = []struct{ path, want string }{
	{"vm/overcommit_memory", "1"},
	{"vm/panic_on_oom", "0"},
	{"kernel/panic", "10"},
	{"kernel/panic_on_oops", "1"},
	{"kernel/keys/root_maxkeys", "1000000"},
	{"kernel/keys/root_maxbytes", "25000000"},
}

// overlayDirs get a copy-on-write view inside the namespace: the kubelet
// writes /var/lib/kubelet/device-plugins and /var/log/containers, libcni
// /var/lib/cni, kube-controller-manager /usr/libexec/kubernetes, whatever
// their flags say.
var overlayDirs = []string{"/var/lib", "/var/log", "/usr/libexec"}

// startNamespace starts the anchor in a new private mount namespace and
// mounts the node's view of the machine in it.
func (n *Node) startNamespace() error {
	b, err := findBinaries()
	if err != nil {
		return err
	}
	anchor, err := startDetached("anchor", b.sleep,
		[]string{b.unshare, "--mount", "--net", "--propagation", "private", "--", b.sleep, "infinity"},
		filepath.Join(n.paths.logs, "anchor.log"))
	if err != nil {
		return err
	}
	n.st.Anchor = anchor
	if err := n.saveState(); err != nil {
		return err
	}
	if err := waitExe(anchor, 5*time.Second); err != nil {
		return err
	}
	n.st.MountNS = mountNS(anchor.PID)
	n.st.NetNS = nsID(anchor.PID, "net")
	if host := mountNS(os.Getpid()); n.st.MountNS == "" || n.st.MountNS == host {
		return fmt.Errorf("node: the anchor (pid %d) is not in a new mount namespace (%q, ours %q)", anchor.PID, n.st.MountNS, host)
	}
	if host := nsID(os.Getpid(), "net"); n.st.NetNS == "" || n.st.NetNS == host {
		return fmt.Errorf("node: the anchor (pid %d) is not in a new network namespace (%q, ours %q)", anchor.PID, n.st.NetNS, host)
	}
	if err := n.saveState(); err != nil {
		return err
	}
	if err := n.openNetNS(); err != nil {
		return err
	}
	if err := n.setupNetwork(b); err != nil {
		return err
	}

	// -n everywhere: no /run/mount/utab bookkeeping (on the host's /run
	// for the first mount).
	if err := n.nsRun(b.mount, "-n", "-t", "tmpfs", "-o", "mode=0755,size=64m", "catops-node-run", "/run"); err != nil {
		return err
	}
	for _, d := range overlayDirs {
		base := filepath.Join(n.paths.overlay, strings.ReplaceAll(strings.Trim(d, "/"), "/", "_"))
		upper, work := filepath.Join(base, "upper"), filepath.Join(base, "work")
		for _, x := range []string{upper, work} {
			if err := os.MkdirAll(x, 0o755); err != nil {
				return err
			}
		}
		if err := n.nsRun(b.mount, "-n", "-t", "overlay", "catops-node-ovl",
			"-o", "lowerdir="+d+",upperdir="+upper+",workdir="+work, d); err != nil {
			return err
		}
	}
	// The node's / is a shared mount, as systemd makes it on real nodes:
	// the kubelet refuses a hostPath volume with mountPropagation
	// HostToContainer (the chart's for the node's /) otherwise. The host's
	// mounts were copied private, so the peer groups made here hold this
	// namespace's mounts only: nothing propagates to the host.
	if err := n.nsRun(b.mount, "-n", "--make-rshared", "/"); err != nil {
		return err
	}
	if err := os.MkdirAll(n.paths.sysctl, 0o755); err != nil {
		return err
	}
	for _, k := range kernelDefaults {
		host, err := os.ReadFile(filepath.Join("/proc/sys", k.path))
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(host)) == k.want {
			continue
		}
		f := filepath.Join(n.paths.sysctl, strings.ReplaceAll(k.path, "/", "_"))
		if err := os.WriteFile(f, []byte(k.want+"\n"), 0o444); err != nil {
			return err
		}
		if err := n.nsRun(b.mount, "-n", "--bind", f, filepath.Join("/proc/sys", k.path)); err != nil {
			return err
		}
		n.logf("node: /proc/sys/%s reads %s inside the node's namespace only (host: %s)", k.path, k.want, strings.TrimSpace(string(host)))
	}
	return nil
}

// nsArgv prefixes argv so that it runs in the node's mount and network
// namespaces.
func (n *Node) nsArgv(argv ...string) []string {
	b, _ := findBinaries()
	return append([]string{b.nsenter, "-t", fmt.Sprint(n.st.Anchor.PID), "-m", "-n", "--"}, argv...)
}

// nsRun runs argv in the node's namespaces and waits for it.
func (n *Node) nsRun(argv ...string) error {
	a := n.nsArgv(argv...)
	out, err := exec.Command(a[0], a[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("node: %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
