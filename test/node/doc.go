// Package node runs one real Kubernetes node on this machine: a kubelet on
// containerd + runc, joined to the project's loopback control plane
// (test/rig, started here with the extra kube-apiserver flags a real kubelet
// needs), running real pods from the images of test/node/image.
//
// Everything the node starts runs in a private mount namespace and a
// private network namespace, so the machine is left exactly as found
// (HostState before Up equals HostState after Down) and no packet can leave
// it:
//
//   - The namespaces are held by an anchor process, `unshare --mount --net
//     --propagation private sleep infinity`; every other process enters
//     them with `nsenter -t <anchor> -m -n` (no fork: the PID recorded is
//     the program's). Go cannot do this itself: setns(CLONE_NEWNS) is
//     refused to a multi-threaded process, and a re-exec'd Go child would
//     need a hidden entry point in every binary that uses the package
//     (tests too). util-linux's two small C programs do it with no such
//     coupling. A test's own connections and listeners enter only the
//     network namespace, one OS thread at a time (Node.DialContext,
//     Node.Listen; github.com/vishvananda/netns).
//   - In the mount namespace (all with `mount -n`, so /run/mount/utab on
//     the host is not touched): / made rshared (as systemd makes it on
//     real nodes; the chart mounts the node's / with HostToContainer, which
//     the kubelet refuses on a private /; the host's mounts stay private,
//     so nothing propagates back), a tmpfs on /run (containerd 1.6 hard-codes /run/containerd),
//     overlays on /var/lib, /var/log and /usr/libexec (the kubelet, libcni and
//     kube-controller-manager write there whatever their flags say; the
//     upper dirs live in the state folder), and bind-mounted stand-in files
//     over three sysctls the kubelet would otherwise set machine-wide
//     (vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1);
//     protectKernelDefaults makes the kubelet fail rather than write them.
//   - The control plane runs in them too (its binaries through small
//     nsenter wrappers in the state folder; test/rig takes the port 443 and
//     a dialer into the namespace as options): the controller-manager
//     creates /usr/libexec/kubernetes/... at start.
//
// Processes are stopped by PID, each checked against /proc/PID/exe, and
// whatever is left in the namespace (container shims, container processes)
// is found by its mount-namespace identity: the namespace is ours, so is
// every process in it. The kubepods cgroups the kubelet and runc made are
// removed once empty (only those that did not exist before Up).
//
// Network: the namespace starts empty and never gets a route out (checked
// at Up). In it: lo, also holding ServiceIP (the kubernetes Service's
// ClusterIP; there is no kube-proxy, the API server serves on :443 on every
// address of the namespace); node0 with NodeIP, the Node's InternalIP, where
// the kubelet serves; the CNI bridge catops0 (PodGateway) for pods, whose
// default route leads to it. So a pod reaches the API server through its
// unchanged in-cluster config, and the kubelet and a test's servers at
// NodeIP. CheckTarget refuses every other destination: no name is resolved.
//
// Needs root, `make node-tools` and `make node-images`. Shell entry:
// test/node/cmd/node (make node-up / make node-down); kubectl and helm reach
// the node through the wrappers in <Dir>/bin.
package node
