package node

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckTargetAllowsOnlyTheNodesOwnNetworks(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:6443", "127.1.2.3:10250", NodeIP + ":10250", "10.244.0.17:8080", ServiceIP + ":443"} {
		assert.NoError(t, CheckTarget(ok), ok)
	}
	for _, bad := range []string{
		"192.0.2.2:10250",   // the machine's uplink address
		"10.250.1.1:10250",  // next to the node's network
		"10.245.0.5:80",     // next to the pod network
		"8.8.8.8:53",        // anywhere else
		"[::1]:443",         // the namespace has no IPv6 set up
		"[2001:db8::1]:443", //
		"localhost:6443",    // names are never resolved
		"vm:10250",          //
		"0.0.0.0:80",        //
		"127.0.0.1",         // no port
	} {
		assert.Error(t, CheckTarget(bad), bad)
	}
}
