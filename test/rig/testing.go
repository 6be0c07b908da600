package rig

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	sharedMu sync.Mutex
	shared   *Cluster
)

// Main is for TestMain: it runs the tests and stops every cluster they
// started, also when the test binary gets SIGINT/SIGTERM/SIGHUP (Ctrl-C).
// With an Options argument it first starts one shared cluster for the whole
// package (see Shared), and exits 1 with a clear message if that fails
// (for example when the binaries are not built yet).
//
//	func TestMain(m *testing.M) { rig.Main(m, rig.Options{Kwok: true, Nodes: 2}) }
func Main(m *testing.M, sharedOpts ...Options) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "rig: got %v, stopping every cluster\n", s)
		StopAll()
		os.Exit(130)
	}()
	if len(sharedOpts) > 1 {
		fmt.Fprintln(os.Stderr, "rig.Main: at most one Options")
		os.Exit(2)
	}
	if len(sharedOpts) == 1 {
		opts := sharedOpts[0]
		if opts.Logf == nil {
			opts.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		c, err := Start(ctx, opts)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "rig.Main: starting the shared cluster: %v\n", err)
			os.Exit(1)
		}
		sharedMu.Lock()
		shared = c
		sharedMu.Unlock()
	}
	code := m.Run()
	StopAll()
	os.Exit(code)
}

// Shared returns the cluster started by Main (fails the test if none).
func Shared(t testing.TB) *Cluster {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil {
		t.Fatal("rig.Shared: no shared cluster; call rig.Main(m, rig.Options{...}) from TestMain")
	}
	return shared
}

// StartT starts a cluster for one test and stops it in t.Cleanup. If the test
// failed, the last lines of every component's log go to the test output.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("rig.Start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rig: data folder %s%s", c.Dir, c.LogTails(30))
		}
		if err := c.Stop(); err != nil {
			t.Errorf("rig.Stop: %v", err)
		}
	})
	return c
}
