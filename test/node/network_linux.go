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
	"golang.org/x/sys/unix"
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
	ServiceIP = "10.96.0.1"
	// APIServerPort is the kubernetes Service's port, kube-apiserver's
	// --secure-port in the namespace.
	APIServerPort = 443
	bridgeName    = "catops0"
)

// allowedNets are the only destinations DialContext and Listen accept: the
// namespace's own addresses and loopback.
var allowedNets = func() []*net.IPNet {
	var out []*net.IPNet
	for _, c := range []string{"127.0.0.0/8", nodeNet, podNet, ServiceIP + "/32"} {
		_, n, _ := net.ParseCIDR(c)
		out = append(out, n)
	}
	return out
}()

// CheckTarget refuses any address but an IP literal on loopback or on one of
// the node's networks (node, pods, the kubernetes Service's IP): no name is
// resolved, and nothing is aimed at an address outside the node's namespace.
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
	return fmt.Errorf("node: network guard: refusing %s: only IP addresses on loopback or the node's own networks (%s, %s, %s) are allowed", addr, nodeNet, podNet, ServiceIP)
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

// routeTypes are the words `ip route` may print before a destination.
var routeTypes = map[string]bool{"local": true, "broadcast": true, "multicast": true, "anycast": true,
	"unicast": true, "unreachable": true, "prohibit": true, "blackhole": true, "throw": true, "nat": true}

// linkLocal6 are the IPv6 routes every link gets (link-local, multicast,
// loopback): they cannot lead off a link, and the namespace's links all
// stay inside it.
var linkLocal6 = func() []*net.IPNet {
	var out []*net.IPNet
	for _, c := range []string{"::1/128", "fe80::/10", "ff00::/8"} {
		_, n, _ := net.ParseCIDR(c)
		out = append(out, n)
	}
	return out
}()

// checkNoRouteOut fails if the namespace has a default route, or a route
// (IPv4 or IPv6, any table) to a prefix not wholly inside its own networks.
func (n *Node) checkNoRouteOut(b binaries) error {
	for _, family := range []string{"-4", "-6"} {
		a := n.nsArgv(b.ip, family, "route", "show", "table", "all")
		out, err := exec.Command(a[0], a[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("node: ip %s route: %w: %s", family, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) > 1 && routeTypes[f[0]] {
				f = f[1:]
			}
			if len(f) == 0 {
				continue
			}
			if f[0] == "default" {
				return fmt.Errorf("node: the node's network namespace has a default route (%s): refusing to run", line)
			}
			if !routeInside(f[0], family == "-6") {
				return fmt.Errorf("node: the node's network namespace has a route out of its own networks: %s", line)
			}
		}
	}
	return nil
}

// routeInside: the destination prefix dst ("10.244.0.0/24", "10.96.0.1")
// lies wholly inside one of the node's networks.
func routeInside(dst string, v6 bool) bool {
	if !strings.Contains(dst, "/") {
		if v6 {
			dst += "/128"
		} else {
			dst += "/32"
		}
	}
	_, p, err := net.ParseCIDR(dst)
	if err != nil {
		return false
	}
	pOnes, _ := p.Mask.Size()
	nets := allowedNets
	if v6 {
		nets = linkLocal6
	}
	for _, a := range nets {
		aOnes, _ := a.Mask.Size()
		if a.Contains(p.IP) && pOnes >= aOnes {
			return true
		}
	}
	return false
}

// openNetNS opens the anchor's network namespace once, checking it is the
// one Up made (st.NetNS): every later dial and listen uses this handle, so
// none can enter another namespace should the anchor's PID be reused.
func (n *Node) openNetNS() error {
	h, err := netns.GetFromPid(n.st.Anchor.PID)
	if err != nil {
		return fmt.Errorf("node: network namespace of the anchor (pid %d): %w", n.st.Anchor.PID, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		_ = h.Close()
		return fmt.Errorf("node: network namespace of the anchor (pid %d): %w", n.st.Anchor.PID, err)
	}
	if id := fmt.Sprintf("net:[%d]", st.Ino); id != n.st.NetNS {
		_ = h.Close()
		return fmt.Errorf("node: the anchor (pid %d) is in network namespace %s, not the node's %s", n.st.Anchor.PID, id, n.st.NetNS)
	}
	n.nsMu.Lock()
	n.netns = h
	n.nsMu.Unlock()
	return nil
}

// closeNetNS closes the handle: later dials and listens are refused.
func (n *Node) closeNetNS() {
	n.nsMu.Lock()
	defer n.nsMu.Unlock()
	if n.netns.IsOpen() {
		_ = n.netns.Close()
	}
}

// inNetNS runs f on a new OS thread switched into the node's network
// namespace (sockets made there stay there). The thread is never switched
// back: its goroutine ends locked to it, and Go discards it.
func (n *Node) inNetNS(f func() error) error {
	n.nsMu.Lock()
	h := n.netns
	n.nsMu.Unlock()
	if !h.IsOpen() {
		return errors.New("node: the node is down (its network namespace is closed)")
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if err := netns.Set(h); err != nil {
			done <- fmt.Errorf("node: entering the node's network namespace: %w", err)
			return
		}
		done <- f()
	}()
	return <-done
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
	if err != nil {
		return nil, err
	}
	return c, nil
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
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Command runs argv in the node's network namespace (the host's mount
// namespace: the host's files, the node's network), e.g. helm, kubectl or
// the agent as a host process.
// The command fails to start if the anchor is gone or its PID now names
// another namespace.
func (n *Node) Command(ctx context.Context, argv ...string) *exec.Cmd {
	b, _ := findBinaries()
	a := append([]string{b.nsenter, "-t", fmt.Sprint(n.st.Anchor.PID), "-n", "--"}, argv...)
	cmd := exec.CommandContext(ctx, a[0], a[1:]...)
	if id := nsID(n.st.Anchor.PID, "net"); id == "" || id != n.st.NetNS {
		cmd.Err = fmt.Errorf("node: the anchor (pid %d) is gone or not in the node's network namespace %s (now %q)", n.st.Anchor.PID, n.st.NetNS, id)
	}
	return cmd
}
