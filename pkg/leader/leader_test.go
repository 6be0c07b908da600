package leader

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"
)

type candidate struct {
	id     string
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	terms  []Term
	ended  int
}

func (c *candidate) leading() (Term, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.terms) == c.ended {
		return Term{}, false
	}
	return c.terms[len(c.terms)-1], true
}

func campaign(t *testing.T, cs *fake.Clientset, id string) *candidate {
	c := &candidate{id: id, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	cfg := Config{Leases: cs.CoordinationV1(), Namespace: "catops", Name: "catops-cluster", Identity: id,
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 100 * time.Millisecond}
	go func() {
		c.done <- Run(ctx, cfg, func(ctx context.Context, term Term) {
			c.mu.Lock()
			c.terms = append(c.terms, term)
			c.mu.Unlock()
			<-ctx.Done()
			// a final flush would run here, the lease still held
			assert.True(t, time.Now().Before(term.Fence()), "%s: the term lasts through the flush", id)
			c.mu.Lock()
			c.ended++
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-c.done; err != nil {
			t.Error(err)
		}
	})
	return c
}

// One of two candidates leads; when it stops, it lets the lease go after
// its lead function returned, its fence ends, and the other takes over with
// the next epoch.
func TestOneLeadsAndTheOtherTakesOver(t *testing.T) {
	cs := fake.NewClientset()
	a, b := campaign(t, cs, "a"), campaign(t, cs, "b")
	var first, second *candidate
	require.Eventually(t, func() bool {
		_, la := a.leading()
		_, lb := b.leading()
		switch {
		case la && !lb:
			first, second = a, b
		case lb && !la:
			first, second = b, a
		}
		return first != nil
	}, 10*time.Second, 10*time.Millisecond, "one leader")
	term, _ := first.leading()
	assert.True(t, time.Now().Before(term.Fence()))
	assert.Equal(t, first.id, term.Identity)

	first.cancel()
	require.NoError(t, <-first.done)
	first.done <- nil // for the cleanup
	assert.False(t, time.Now().Before(term.Fence()), "released: the fence is over")
	require.Eventually(t, func() bool { _, ok := second.leading(); return ok }, 10*time.Second, 10*time.Millisecond, "the other takes over")
	next, _ := second.leading()
	assert.Equal(t, term.Epoch+1, next.Epoch, "a new holder is a new epoch")
	assert.Equal(t, "catops/catops-cluster", next.Lease)
}

func TestConfigIsChecked(t *testing.T) {
	cs := fake.NewClientset()
	err := Run(context.Background(), Config{Leases: cs.CoordinationV1(), Namespace: "catops", Name: "l", Identity: "a",
		LeaseDuration: time.Second, RenewDeadline: 2 * time.Second}, func(context.Context, Term) {})
	assert.EqualError(t, err, "leader election needs a lease duration of whole seconds (1s) > renew deadline (2s) > 1.2 × retry period (2s)")
}
