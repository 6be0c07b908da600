// Package node runs one real Kubernetes node on this machine: a kubelet on
// containerd + runc, joined to the project's loopback control plane
// (test/rig, started here with the extra kube-apiserver flags a real kubelet
// needs), running real pods from the images of test/node/image.
//
// Everything the node starts runs in a private mount namespace, so the
// machine is left exactly as found (HostState before Up equals HostState
// after Down):
//
//   - The namespace is held by an anchor process, `unshare --mount
//     --propagation private sleep infinity`; every other process enters it
//     with `nsenter -t <anchor> -m` (no fork: the PID recorded is the
//     program's). Go cannot do this itself: setns(CLONE_NEWNS) is refused
//     to a multi-threaded process, and a re-exec'd Go child would need a
//     hidden entry point in every binary that uses the package (tests too).
//     util-linux's two small C programs do it with no such coupling.
//   - In it (all with `mount -n`, so /run/mount/utab on the host is not
//     touched): a tmpfs on /run (containerd 1.6 hard-codes /run/containerd),
//     overlays on /var/lib, /var/log and /usr/libexec (the kubelet, libcni and
//     kube-controller-manager write there whatever their flags say; the
//     upper dirs live in the state folder), and bind-mounted stand-in files
//     over three sysctls the kubelet would otherwise set machine-wide
//     (vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1);
//     protectKernelDefaults makes the kubelet fail rather than write them.
//   - The control plane runs in it too (its binaries through small nsenter
//     wrappers in the state folder, so test/rig needs no change): the
//     controller-manager creates /usr/libexec/kubernetes/... at start.
//
// Processes are stopped by PID, each checked against /proc/PID/exe, and
// whatever is left in the namespace (container shims, container processes)
// is found by its mount-namespace identity: the namespace is ours, so is
// every process in it. The kubepods cgroups the kubelet and runc made are
// removed once empty (only those that did not exist before Up).
//
// Network: the kubelet serves on 127.0.0.1; the node name must resolve to
// loopback through /etc/hosts (checked, no DNS query), and the API server
// reaches the kubelet by that Hostname. LoopbackDialer refuses any other
// target.
//
// Needs root, `make node-tools` and `make node-images`. Shell entry:
// test/node/cmd/node (make node-up / make node-down).
package node
