package node

import (
	"context"
	"fmt"
	"net"
	"time"

	"k8s.io/client-go/rest"
)

// CheckLoopback refuses any target but a loopback IP literal: the host
// namespace must not send a packet anywhere the node did not create (the
// node's InternalIP, a pod IP, a name that DNS would resolve).
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("node: network guard: %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("node: network guard: refusing to connect to %s: only loopback IP addresses are allowed from the host namespace", addr)
	}
	return nil
}

// LoopbackDialer dials like net.Dialer but only after CheckLoopback.
func LoopbackDialer(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	return d.DialContext(ctx, network, addr)
}

// GuardREST makes cfg's connections go through LoopbackDialer.
func GuardREST(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Dial = LoopbackDialer
	return cfg
}
