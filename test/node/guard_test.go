package node

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckLoopbackRefusesEverythingButLoopbackIPs(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:6443", "127.1.2.3:10250", "[::1]:443"} {
		assert.NoError(t, CheckLoopback(ok), ok)
	}
	for _, bad := range []string{"192.0.2.2:10250", "10.244.0.5:80", "[2001:db8::1]:443", "localhost:6443", "vm:10250", "0.0.0.0:80", "127.0.0.1"} {
		assert.Error(t, CheckLoopback(bad), bad)
	}
	// The dialer refuses before any packet is sent.
	_, err := LoopbackDialer(context.Background(), "tcp", "192.0.2.2:10250")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "only loopback IP addresses are allowed")
}

func TestHostsEntries(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hosts")
	require.NoError(t, os.WriteFile(file, []byte(`# comment vm
127.0.0.1 localhost
127.0.1.1 vm vm.example # the node
::1 localhost VM
192.0.2.2 other
not-enough
`), 0o600))
	addrs, err := hostsEntries(file, "vm")
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.1.1", "::1"}, addrs, "names match without case, comments are ignored")
	addrs, err = hostsEntries(file, "absent")
	require.NoError(t, err)
	assert.Empty(t, addrs)
}
