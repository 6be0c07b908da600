// Package leader runs leader election on a coordination.k8s.io Lease with
// client-go's leaderelection, and fences the leader: each term comes with a
// Fence that says until when this process may act as the leader, measured
// on its own monotonic clock from the start of its last successful write
// of the Lease. A process that was paused (SIGSTOP, a stalled VM) past
// that point learns it is no longer sure of the lease before it learns
// whether it lost it, and stops acting at once.
//
// Why RenewDeadline and not LeaseDuration: another candidate may take the
// lease LeaseDuration after it last saw it change, which is after our write
// began. A fence at the write's start plus RenewDeadline (10 s of the 15 s
// by default) ends our term at least LeaseDuration−RenewDeadline (5 s)
// before theirs can begin, leaving that margin for clocks that run at
// slightly different rates and for a request cut off at the fence.
package leader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Config says which Lease to campaign for and how.
type Config struct {
	// Leases is where the Lease lives (clientset.CoordinationV1()).
	Leases coordinationv1client.LeasesGetter
	// Namespace and Name name the Lease; Identity is this candidate's
	// (its pod's name): unique among the candidates.
	Namespace, Name, Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's
	// (defaults 15 s, 10 s, 2 s): how long a lease lasts unrenewed, how
	// long the leader keeps trying to renew before it steps down, and how
	// often candidates try. LeaseDuration > RenewDeadline > RetryPeriod.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Logger                                    *zap.Logger
	// Leading, if set, is called with true when a term begins and false
	// when it ends (for a gauge).
	Leading func(bool)
	// Following, if set, is called every RetryPeriod while this candidate
	// does not lead (the liveness probe's tick).
	Following func()
}

func (c *Config) defaults() error {
	if c.LeaseDuration == 0 {
		c.LeaseDuration = 15 * time.Second
	}
	if c.RenewDeadline == 0 {
		c.RenewDeadline = 10 * time.Second
	}
	if c.RetryPeriod == 0 {
		c.RetryPeriod = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Leading == nil {
		c.Leading = func(bool) {}
	}
	if c.Following == nil {
		c.Following = func() {}
	}
	switch {
	case c.Leases == nil || c.Name == "" || c.Namespace == "" || c.Identity == "":
		return errors.New("leader election needs the Lease's client, namespace and name, and an identity")
	case c.LeaseDuration <= c.RenewDeadline || float64(c.RenewDeadline) <= 1.2*float64(c.RetryPeriod) || c.LeaseDuration%time.Second != 0:
		return fmt.Errorf("leader election needs a lease duration of whole seconds (%s) > renew deadline (%s) > 1.2 × retry period (%s)", c.LeaseDuration, c.RenewDeadline, c.RetryPeriod)
	}
	return nil
}

// Term is one period during which this candidate held the lease.
type Term struct {
	// Lease is "namespace/name".
	Lease string
	// Identity is the holder's: this candidate's.
	Identity string
	// Epoch is the Lease's leaseTransitions written when the term began:
	// one more than the previous holder's term.
	Epoch int32
	// LeaseDuration is how long the lease lasts unrenewed.
	LeaseDuration time.Duration
	// Fence returns the end of the time this candidate may still act as
	// the leader: the start of its last successful write of the Lease plus
	// RenewDeadline, on the monotonic clock. It only moves forward while
	// the term lasts, and is in the past once the term ended.
	Fence func() time.Time
}

// Run campaigns for the lease until ctx ends. Each time it wins, lead runs
// with the term; its context ends when the lease is lost or ctx ends. lead
// may keep acting after ctx ended and before it returns (a final flush):
// the lease is renewed meanwhile, and released (so that another candidate
// takes it at once) only after lead returned. After a lost lease, Run
// campaigns again.
func Run(ctx context.Context, cfg Config, lead func(ctx context.Context, t Term)) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	log := cfg.Logger
	describe := cfg.Namespace + "/" + cfg.Name
	var leadingNow atomic.Bool
	go func() {
		t := time.NewTicker(cfg.RetryPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !leadingNow.Load() {
					cfg.Following()
				}
			}
		}
	}()
	for ctx.Err() == nil {
		lock := &fencedLock{
			Interface: &resourcelock.LeaseLock{
				LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Name},
				Client:     cfg.Leases,
				LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
			},
			renewDeadline: cfg.RenewDeadline,
			won:           make(chan struct{}),
		}
		// The election outlives ctx while lead flushes; it ends when lead
		// returns, or with ctx when this round never led.
		electCtx, stopElection := context.WithCancel(context.Background())
		var leading atomic.Bool
		stopAfter := context.AfterFunc(ctx, func() {
			if !leading.Load() {
				stopElection()
			}
		})
		done := make(chan struct{})
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			Name:            describe,
			LeaseDuration:   cfg.LeaseDuration,
			RenewDeadline:   cfg.RenewDeadline,
			RetryPeriod:     cfg.RetryPeriod,
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(termCtx context.Context) {
					defer close(done)
					defer stopElection()
					leading.Store(true)
					if ctx.Err() != nil {
						return
					}
					leadCtx, cancel := context.WithCancel(termCtx)
					stop := context.AfterFunc(ctx, cancel)
					defer stop()
					defer cancel()
					t := Term{Lease: describe, Identity: cfg.Identity, Epoch: lock.epoch(), LeaseDuration: cfg.LeaseDuration, Fence: lock.fence}
					log.Info("Leading: this reporter holds the lease", zap.String("lease", describe), zap.Int32("epoch", t.Epoch))
					leadingNow.Store(true)
					cfg.Leading(true)
					lead(leadCtx, t)
					cfg.Leading(false)
					leadingNow.Store(false)
				},
				OnStoppedLeading: func() {
					if leading.Load() && ctx.Err() == nil {
						log.Warn("Lost the lease; stopped sending, campaigning again", zap.String("lease", describe))
					}
				},
				OnNewLeader: func(identity string) {
					if identity != cfg.Identity {
						log.Info("Another reporter leads", zap.String("lease", describe), zap.String("leader", identity))
					}
				},
			},
		})
		if err != nil {
			stopAfter()
			stopElection()
			return fmt.Errorf("leader election on %s: %w", describe, err)
		}
		le.Run(electCtx)
		stopAfter()
		select {
		case <-lock.won: // OnStartedLeading was started: wait for lead
			<-done
		default:
		}
		stopElection()
	}
	return nil
}

// fencedLock is the Lease lock that keeps the fence: every write of the
// Lease that names this candidate as holder extends it, from the moment the
// write began; a release ends it before it is written.
type fencedLock struct {
	resourcelock.Interface
	renewDeadline time.Duration

	mu    sync.Mutex
	until time.Time // the fence; zero: not holding
	trans int       // leaseTransitions of the last write as holder
	won   chan struct{}
	once  sync.Once
}

func (l *fencedLock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.write(r, func() error { return l.Interface.Create(ctx, r) })
}

func (l *fencedLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.write(r, func() error { return l.Interface.Update(ctx, r) })
}

func (l *fencedLock) write(r resourcelock.LeaderElectionRecord, do func() error) error {
	holder := r.HolderIdentity == l.Identity()
	if !holder { // a release: the term ends before the lease is let go
		l.mu.Lock()
		l.until = time.Time{}
		l.mu.Unlock()
		return do()
	}
	start := time.Now()
	if err := do(); err != nil {
		return err
	}
	l.mu.Lock()
	if until := start.Add(l.renewDeadline); until.After(l.until) {
		l.until = until
	}
	l.trans = r.LeaderTransitions
	l.mu.Unlock()
	l.once.Do(func() { close(l.won) })
	return nil
}

func (l *fencedLock) fence() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until
}

func (l *fencedLock) epoch() int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int32(l.trans) //nolint:gosec // leaseTransitions is an int32 in the Lease
}
