package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
	"k8s.io/client-go/rest"
)

// The node's network namespace: created empty with the anchor, so it has
// no route out of it and nothing in it can send a packet off the machine.
const (
	// NodeIP is the Node's InternalIP, on node0 (one end of a veth pair
	// whose both ends stay in the namespace: this kernel has no dummy
	// driver). The kubelet serves on it; the API server and the agent reach
	// the kubelet there.
	NodeIP  = "10.250.0.1"
	nodeNet = "10.250.0.0/24"
	// PodGateway is the pod bridge's address (the CNI bridge plugin,
	// isGateway): a pod's default route, and how pods reach what listens
	// on the node (NodeIP, ServiceIP) without leaving the namespace.
	PodGateway = "10.244.0.1"
	podNet     = "10.244.0.0/24"
	// ServiceIP is the kubernetes Service's ClusterIP (test/rig's service
	// range). The node has no kube-proxy: the address is put on the
	// namespace's loopback and the API server serves on :443 there, so a
	// pod's in-cluster config (KUBERNETES_SERVICE_HOST:PORT) reaches it
	// unchanged.
	ServiceIP  = "10.96.0.1"
	serviceNet = "10.96.0.0/12"
	// APIServerPort is the kubernetes Service's port, kube-apiserver's
	// --secure-port in the namespace.
	APIServerPort = 443
	bridgeName    = "catops0"
)

// allowedNets are the only destinations DialContext and Listen accept: the
// namespace's own addresses and loopback.
var allowedNets = func() []*net.IPNet {
	var out []*net.IPNet
	for _, c := range []string{"127.0.0.0/8", nodeNet, podNet, serviceNet} {
		_, n, _ := net.ParseCIDR(c)
		out = append(out, n)
	}
	return out
}()

// CheckTarget refuses any address but an IP literal on loopback or on one of
// the node's networks (node, pods, services): no name is resolved, and
// nothing is aimed at an address outside the node's namespace.
func CheckTarget(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("node: network guard: %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip != nil {
		for _, n := range allowedNets {
			if n.Contains(ip) {
				return nil
			}
		}
	}
	return fmt.Errorf("node: network guard: refusing %s: only IP addresses on loopback or the node's own networks (%s, %s, %s) are allowed", addr, nodeNet, podNet, serviceNet)
}

// setupNetwork brings up the namespace's links: lo (with ServiceIP), node0
// (NodeIP), and checks that no route leads out of it. The pod bridge is
// made by the CNI bridge plugin on the first pod.
func (n *Node) setupNetwork(b binaries) error {
	steps := [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", ServiceIP + "/32", "dev", "lo"},
		{"link", "add", "node0", "type", "veth", "peer", "name", "node0-peer"},
		{"addr", "add", NodeIP + "/24", "dev", "node0"},
		{"link", "set", "node0-peer", "up"},
		{"link", "set", "node0", "up"},
	}
	for _, s := range steps {
		if err := n.nsRun(append([]string{b.ip}, s...)...); err != nil {
			return err
		}
	}
	return n.checkNoRouteOut(b)
}

// checkNoRouteOut fails if the namespace has a default route or a route to
// anything but its own networks.
func (n *Node) checkNoRouteOut(b binaries) error {
	a := n.nsArgv(b.ip, "-4", "route", "show", "table", "all")
	out, err := exec.Command(a[0], a[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("node: ip route: %w: %s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "local" || dst == "broadcast" {
			dst = f[1]
		}
		if dst == "default" {
			return fmt.Errorf("node: the node's network namespace has a default route (%s): refusing to run", line)
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		ip, _, err := net.ParseCIDR(dst)
		if err != nil {
			return fmt.Errorf("node: route %q: %w", line, err)
		}
		if CheckTarget(net.JoinHostPort(ip.String(), "1")) != nil {
			return fmt.Errorf("node: the node's network namespace has a route out of its own networks: %s", line)
		}
	}
	return nil
}

// inNetNS runs f on an OS thread switched into the node's network
// namespace (sockets made there stay there), then switches the thread back.
// Should that fail, the thread stays locked and dies with its goroutine.
func (n *Node) inNetNS(f func() error) error {
	target, err := netns.GetFromPid(n.st.Anchor.PID)
	if err != nil {
		return fmt.Errorf("node: network namespace of the anchor (pid %d): %w", n.st.Anchor.PID, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("node: entering the node's network namespace: %w", err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("node: leaving the node's network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// DialContext connects from inside the node's network namespace, to an
// address CheckTarget allows; the connection can be used from any goroutine.
func (n *Node) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := CheckTarget(addr); err != nil {
		return nil, err
	}
	var c net.Conn
	err := n.inNetNS(func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens inside the node's network namespace, e.g. on NodeIP:0 for
// a server pods reach.
func (n *Node) Listen(network, addr string) (net.Listener, error) {
	if err := CheckTarget(addr); err != nil {
		return nil, err
	}
	var l net.Listener
	err := n.inNetNS(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// REST returns cfg with its connections made in the node's namespace.
func (n *Node) REST(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Dial = n.DialContext
	return cfg
}

// Command runs argv in the node's network namespace (the host's mount
// namespace: the host's files, the node's network), e.g. helm, kubectl or
// the agent as a host process.
func (n *Node) Command(ctx context.Context, argv ...string) *exec.Cmd {
	b, _ := findBinaries()
	a := append([]string{b.nsenter, "-t", fmt.Sprint(n.st.Anchor.PID), "-n", "--"}, argv...)
	return exec.CommandContext(ctx, a[0], a[1:]...)
}
