package hostagent

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/sender"
	"github.com/catops/cli/pkg/token"
	"github.com/catops/cli/pkg/wire"
)

const machineID = "0123456789abcdef0123456789abcdef"

// fakeHost is a sampler and describer whose host the test changes.
type fakeHost struct {
	mu         sync.Mutex
	kernel     string
	mounts     []string
	nics       []string
	netFailure bool
	samples    int
}

func (f *fakeHost) Sample(context.Context) wire.HostSample {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.samples++
	cpu := float64(f.samples)
	hs := wire.HostSample{Source: wire.HostSourceProc, Time: time.Now().UTC(), CPU: wire.CPUSample{UsagePercent: &cpu}}
	for _, m := range f.mounts {
		hs.Filesystems = append(hs.Filesystems, wire.Filesystem{Mountpoint: m, Device: "/dev/sda1", FSType: "ext4"})
	}
	if f.netFailure {
		hs.Errors = append(hs.Errors, "network: open /proc/1/net/dev: permission denied")
	} else {
		for _, n := range f.nics {
			hs.Network = append(hs.Network, wire.NetIface{Name: n})
		}
	}
	return hs
}

func (f *fakeHost) Info(context.Context, *wire.HostSample) wire.HostInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return wire.HostInfo{Hostname: "db-1", MachineID: machineID, Kernel: wire.KernelInfo{Version: f.kernel}}
}

func (f *fakeHost) Interfaces(_ context.Context, hs *wire.HostSample) ([]wire.NetInterface, error) {
	if len(hs.Network) == 0 {
		return nil, errors.New("not reached: the loop keeps the records when the network reading failed")
	}
	var out []wire.NetInterface
	for _, n := range hs.Network {
		out = append(out, wire.NetInterface{Name: n.Name, MTU: 1500, Up: true})
	}
	return out, nil
}

func (f *fakeHost) set(fn func(*fakeHost)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// The loop against the reference receiver: a start snapshot, then samples
// and only what changed; a failed network reading keeps the interfaces; a
// backend that lost its state gets a snapshot when it asks (409).
func TestLoopSendsSnapshotsDeltasAndSamples(t *testing.T) {
	rcv, err := receiver.New(receiver.Options{Token: "t"})
	require.NoError(t, err)
	srv := httptest.NewServer(rcv.Handler())
	t.Cleanup(srv.Close)
	host := &fakeHost{kernel: "6.8.0", mounts: []string{"/", "/data"}, nics: []string{"eth0"}}
	snd := sender.New(sender.Options{BackendURL: srv.URL, Stream: wire.HostStream, Token: token.Static("t"), Host: "db-1", MachineID: machineID,
		Session: "s1", FlushDelay: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go snd.Run(ctx)
	go func() {
		defer close(done)
		Run(ctx, Options{Sampler: host, Describer: host, Sender: snd, Interval: 50 * time.Millisecond, SnapshotInterval: time.Hour})
	}()
	t.Cleanup(func() { cancel(); <-done })
	wait := func(what string, cond func(receiver.HostState) bool) receiver.HostState {
		t.Helper()
		wctx, stop := context.WithTimeout(ctx, 20*time.Second)
		defer stop()
		var st receiver.HostState
		require.NoError(t, rcv.Wait(wctx, func() bool {
			var ok bool
			st, ok = rcv.Host(machineID)
			return ok && cond(st)
		}), "waiting for %s", what)
		return st
	}

	st := wait("the start snapshot", func(st receiver.HostState) bool { return st.Counters.SnapshotsCompleted == 1 && st.Sample != nil })
	assert.ElementsMatch(t, []string{"/", "/data"}, keysOf(st.Filesystems))
	assert.Equal(t, []string{"eth0"}, keysOf(st.Interfaces))
	assert.Equal(t, "6.8.0", st.Info.Kernel.Version)

	host.set(func(h *fakeHost) { h.kernel, h.mounts, h.netFailure = "6.8.1", []string{"/"}, true })
	st = wait("the changes", func(st receiver.HostState) bool { return st.Info.Kernel.Version == "6.8.1" && len(st.Filesystems) == 1 })
	assert.Equal(t, []string{"eth0"}, keysOf(st.Interfaces), "unknown, not gone: the network reading failed")
	assert.Equal(t, uint64(1), st.Counters.SnapshotsCompleted, "deltas, no snapshot")

	host.set(func(h *fakeHost) { h.netFailure, h.nics = false, []string{"eth1"} })
	wait("the new interface", func(st receiver.HostState) bool {
		return len(st.Interfaces) == 1 && st.Interfaces["eth1"].Name == "eth1"
	})

	// The backend forgets the host: the next batch gets 409 and the agent
	// answers with a snapshot.
	rcv.Reset()
	st = wait("a resync snapshot", func(st receiver.HostState) bool { return st.Counters.SnapshotsCompleted == 1 && st.Info != nil })
	assert.Equal(t, []string{"/"}, keysOf(st.Filesystems))
	assert.Equal(t, []string{"eth1"}, keysOf(st.Interfaces))
	assert.Positive(t, rcv.Stats().Conflicts)
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
