// Package hostagent is the loop of catops, the host agent: every interval
// it samples the host (pkg/hostsample), describes it, turns both into the
// host stream's events (pkg/hoststream) and queues them on the sender;
// snapshots at start, every snapshot interval and when the sender asks for
// one.
package hostagent

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/health"
	"github.com/catops/cli/pkg/hostsample"
	"github.com/catops/cli/pkg/hoststream"
	"github.com/catops/cli/pkg/sender"
	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/wire"
)

// Sampler takes one host sample (hostsample.Sampler).
type Sampler interface {
	Sample(ctx context.Context) wire.HostSample
}

// Describer reads the host's record and its interfaces' records
// (hostsample.Describer).
type Describer interface {
	Info(ctx context.Context, hs *wire.HostSample) wire.HostInfo
	Interfaces(ctx context.Context, hs *wire.HostSample) ([]wire.NetInterface, error)
}

var (
	_ Sampler   = (*hostsample.Sampler)(nil)
	_ Describer = (*hostsample.Describer)(nil)
)

// Options are the agent's collaborators and timings.
type Options struct {
	Sampler   Sampler
	Describer Describer
	// Sender queues the events; its Run is the caller's, as is its final
	// Flush.
	Sender *sender.Sender
	// Interval is the time between samples; SnapshotInterval between
	// periodic snapshots.
	Interval, SnapshotInterval time.Duration
	Logger                     *zap.Logger        // nil: none
	Metrics                    *telemetry.Metrics // nil: counted nowhere
	// Status is told of every interval's reading (liveness).
	Status *health.Status
	Now    func() time.Time
}

// Run samples the host every Interval until ctx ends, and queues the
// events on the sender. The first reading is taken at once and sent as the
// start snapshot with its sample. Readings are taken on a goroutine of their
// own: one stuck in the kernel (a hung network filesystem's statfs) holds
// up no snapshot, and is not waited for when ctx ends.
func Run(ctx context.Context, o Options) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = telemetry.Discard()
	}
	readings := make(chan hoststream.Reading, 1)
	go read(ctx, o, readings)
	l := &loop{o: o, stream: hoststream.New()}
	snapshots := time.NewTicker(o.SnapshotInterval)
	defer snapshots.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-readings:
			l.reading(r)
		case <-snapshots.C:
			if l.started {
				l.snapshot(wire.ReasonPeriodic)
			}
		case reason := <-o.Sender.ResyncRequested():
			l.resync(reason)
		case <-l.resyncs.Timer():
			l.snapshot(l.resyncs.Due())
		}
	}
}

// read takes a reading now and then every Interval, and hands each to the
// loop (a reading the loop has not taken yet is replaced by the newer one).
func read(ctx context.Context, o Options, out chan hoststream.Reading) {
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		start := time.Now()
		hs := o.Sampler.Sample(ctx)
		r := hoststream.Reading{Sample: hs, Info: o.Describer.Info(ctx, &hs), Filesystems: hoststream.FilesystemsOf(&hs)}
		if hoststream.Failed(&hs, "network") {
			// No counters, so no list of counted interfaces: the records
			// last read are kept.
		} else if ifs, err := o.Describer.Interfaces(ctx, &hs); err != nil {
			o.Logger.Debug("Cannot list the network interfaces; their records are kept", zap.Error(err))
		} else {
			r.Interfaces = ifs
			if r.Interfaces == nil {
				r.Interfaces = []wire.NetInterface{}
			}
		}
		o.Metrics.HostSampleDuration.Observe(time.Since(start).Seconds())
		select {
		case <-out: // the loop has not taken the last one: this one replaces it
		default:
		}
		out <- r
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type loop struct {
	o       Options
	stream  *hoststream.Stream
	started bool // the start snapshot was sent
	resyncs sender.ResyncSpacer
}

// reading queues what one reading changed, then its sample; the first is
// sent as the start snapshot.
func (l *loop) reading(r hoststream.Reading) {
	if l.o.Status != nil {
		l.o.Status.Tick()
	}
	l.o.Metrics.LastTick.Set(float64(l.o.Now().Unix()))
	l.stream.Observe(r)
	if !l.started {
		l.started = true
		l.snapshot(wire.ReasonStart)
	} else {
		l.o.Sender.Enqueue(l.stream.Changes(l.o.Now().UTC())...)
	}
	ev, err := hoststream.Sample(r.Sample)
	if err != nil {
		l.o.Logger.Error("Cannot encode the host sample; it is not sent", zap.Error(err))
		return
	}
	l.o.Sender.Enqueue(ev)
}

// resync sends the snapshot the sender asked for, at once unless resyncs
// come back to back: then they are spaced (sender.ResyncSpacer).
func (l *loop) resync(reason string) {
	if !l.started {
		return // the start snapshot is still to come
	}
	now, in := l.resyncs.Request(reason, l.o.Now())
	switch {
	case now:
		l.snapshot(reason)
	case in > 0:
		l.o.Logger.Info("Resync requested again soon after the last one; spacing them", zap.Duration("in", in))
	}
}

func (l *loop) snapshot(reason string) {
	l.resyncs.Sent(reason, l.o.Now())
	l.o.Metrics.Snapshots.WithLabelValues(reason).Inc()
	l.o.Sender.Enqueue(l.stream.Snapshot(reason, l.o.Now().UTC())...)
}
