package podcache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
)

// WatchList modes: how the informers load their initial state.
const (
	// WatchListAuto streams the initial state (WatchList: a WATCH with
	// sendInitialEvents=true that ends the initial events with a bookmark)
	// and falls back to LIST + WATCH when that does not complete within
	// Options.FallbackAfter, as with API servers or proxies that ignore
	// sendInitialEvents.
	WatchListAuto = "auto"
	// WatchListOn streams the initial state and never falls back.
	WatchListOn = "on"
	// WatchListOff lists, then watches.
	WatchListOff = "off"
)

// DefaultFallbackAfter is how long WatchListAuto waits for the streamed
// initial state before it falls back to LIST + WATCH. A node's pods stream
// in well under a second from a healthy API server.
const DefaultFallbackAfter = 30 * time.Second

// watchBackoff paces WATCH requests that follow each other closely (a
// server or proxy that closes every watch at once): client-go's reflector
// backoff (800 ms doubling to 30 s, jittered). A watch that follows the
// previous one by more than quickRewatch starts the backoff over.
var watchBackoff = wait.Backoff{Duration: 800 * time.Millisecond, Factor: 2, Jitter: 1, Steps: 1 << 30, Cap: 30 * time.Second}

const quickRewatch = time.Second

// pacedListWatch wraps the client's ListerWatcher: it spaces WATCH requests
// that follow each other within quickRewatch by watchBackoff, and it tells
// the reflector whether to use WatchList at all.
type pacedListWatch struct {
	lw          cache.ListerWatcherWithContext
	noWatchList bool // the client cannot do WatchList, or the mode is off

	// resource names the requests to observe, called after each one with
	// its error (nil: it succeeded); errors a request ended with because
	// its context was cancelled (shutdown) are not observed.
	resource string
	observe  func(resource, verb string, err error)
	// routine is told of WatchList requests refused in a way client-go
	// answers by listing at once.
	routine func(resource string, err error)
	// lastErr is the last request error observed, so that the reflector's
	// error handler does not report it a second time.
	lastErr atomic.Pointer[error]

	// watchListOpened: a WatchList request (sendInitialEvents=true) was
	// answered, so the server is there and lets us watch: if the
	// informer still does not sync, the stream never ends its initial
	// events.
	watchListOpened atomic.Bool

	mu      sync.Mutex
	last    time.Time // start of the previous WATCH
	backoff wait.Backoff
	after   func(time.Duration) <-chan time.Time
	now     func() time.Time
}

func newPacedListWatch(lw cache.ListerWatcher, watchList bool) *pacedListWatch {
	return &pacedListWatch{
		lw:          cache.ToListerWatcherWithContext(lw),
		noWatchList: !watchList || watchlist.DoesClientNotSupportWatchListSemantics(lw),
		backoff:     watchBackoff,
		after:       time.After,
		now:         time.Now,
	}
}

// IsWatchListSemanticsUnSupported is read by client-go's reflector when it
// is built: true makes it LIST and then WATCH.
func (p *pacedListWatch) IsWatchListSemanticsUnSupported() bool { return p.noWatchList }

func (p *pacedListWatch) ListWithContext(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
	obj, err := p.lw.ListWithContext(ctx, o)
	p.done(ctx, "list", err)
	return obj, err
}

// done observes the end of one request.
func (p *pacedListWatch) done(ctx context.Context, verb string, err error) {
	if p.observe == nil || (err != nil && ctx.Err() != nil) {
		return
	}
	if err != nil {
		p.lastErr.Store(&err)
	}
	p.observe(p.resource, verb, err)
}

// reported tells whether err (as the reflector hands it on, maybe wrapped)
// is the last request error already observed, and forgets it.
func (p *pacedListWatch) reported(err error) bool {
	last := p.lastErr.Swap(nil)
	return last != nil && errors.Is(err, *last)
}

func (p *pacedListWatch) WatchWithContext(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	if d := p.delay(); d > 0 {
		select {
		case <-p.after(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	w, err := p.lw.WatchWithContext(ctx, o)
	watchList := o.SendInitialEvents != nil && *o.SendInitialEvents
	if err == nil && watchList {
		p.watchListOpened.Store(true)
	}
	if err != nil && watchList && !utilnet.IsConnectionRefused(err) && !apierrors.IsTooManyRequests(err) {
		// client-go lists at once after any other WatchList error (an API
		// server or proxy refusing sendInitialEvents answers 422): not a
		// failure, and the LIST that follows is observed on its own.
		if p.routine != nil && ctx.Err() == nil {
			p.routine(p.resource, err)
		}
		return w, err
	}
	p.done(ctx, "watch", err)
	if err != nil || p.observe == nil {
		return w, err
	}
	// A watch that ends with an ERROR event (410 Expired, 500, 403 …) is
	// restarted by the reflector without reaching its error handler: see
	// each event on the way.
	return newObservedWatch(w, func(ev watch.Event) {
		if ev.Type == watch.Error {
			p.observe(p.resource, "watch", apierrors.FromObject(ev.Object))
		}
	}), nil
}

// List and Watch satisfy cache.ListerWatcher; the reflector calls the
// context variants.
func (p *pacedListWatch) List(o metav1.ListOptions) (runtime.Object, error) {
	return p.ListWithContext(context.Background(), o)
}

func (p *pacedListWatch) Watch(o metav1.ListOptions) (watch.Interface, error) {
	return p.WatchWithContext(context.Background(), o)
}

// delay is how long the next WATCH waits: nothing when the previous one
// started more than quickRewatch ago (or there was none), else the next
// backoff step.
func (p *pacedListWatch) delay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	var d time.Duration
	if !p.last.IsZero() && now.Sub(p.last) < quickRewatch {
		d = p.backoff.Step()
	} else {
		p.backoff = watchBackoff
	}
	p.last = now.Add(d)
	return d
}

// observedWatch passes a watch's events on unchanged, showing each to see
// first. Unlike watch.Filter, its goroutine ends on Stop even when nobody
// reads the last event.
type observedWatch struct {
	w    watch.Interface
	see  func(watch.Event)
	out  chan watch.Event
	stop chan struct{}
	once sync.Once
}

func newObservedWatch(w watch.Interface, see func(watch.Event)) *observedWatch {
	o := &observedWatch{w: w, see: see, out: make(chan watch.Event), stop: make(chan struct{})}
	go o.loop()
	return o
}

func (o *observedWatch) ResultChan() <-chan watch.Event { return o.out }

func (o *observedWatch) Stop() {
	o.once.Do(func() { close(o.stop); o.w.Stop() })
}

func (o *observedWatch) loop() {
	defer close(o.out)
	in := o.w.ResultChan()
	for {
		select {
		case ev, ok := <-in:
			if !ok {
				return
			}
			o.see(ev)
			select {
			case o.out <- ev:
			case <-o.stop:
				return
			}
		case <-o.stop:
			return
		}
	}
}
