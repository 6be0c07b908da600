// Package klogroute routes klog, the logger of client-go, into the agent's
// zap logger (pkg/logging), so that every line is JSON. Only the commands
// that link client-go import it.
package klogroute

import (
	"flag"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
)

// Route sends klog (client-go's logger) through logger, named
// "client-go". klog's verbosity follows the zap level: at debug, client-go's
// V(1) lines show (as zap debug); otherwise only its info, warnings and
// errors.
//
// klog's logger is a process global that client-go's goroutines read
// without a lock, so it is set once, to a logger that forwards to the one
// given last: a second agent in one process (tests) swaps the target
// instead of writing klog's global under the feet of reflectors the first
// agent left behind (its shutdown does not wait for those backing off).
func Route(logger *zap.Logger, level zapcore.Level) {
	v := "0"
	if level <= zapcore.DebugLevel {
		v = "1"
	}
	klogTarget.Store(logger)
	klogOnce.Do(func() {
		klogFlags = flag.NewFlagSet("klog", flag.ContinueOnError)
		klog.InitFlags(klogFlags)
		_ = klogFlags.Set("logtostderr", "false")
		// zapr maps logr V(n) to zap level -n, so V(1) is zap's debug.
		forward := zap.New(forwardCore{}, zap.AddCaller()).Named("client-go")
		klog.SetLogger(zapr.NewLoggerWithOptions(forward, zapr.LogInfoLevel("v")))
	})
	_ = klogFlags.Set("v", v) // klog's verbosity is safe to change at any time
}

var (
	klogOnce   sync.Once
	klogFlags  *flag.FlagSet
	klogTarget atomic.Pointer[zap.Logger]
)

// forwardCore writes to the core of the logger Route was given last,
// with the fields added through With.
type forwardCore struct{ fields []zapcore.Field }

func (f forwardCore) core() zapcore.Core {
	c := klogTarget.Load().Core()
	if len(f.fields) > 0 {
		c = c.With(f.fields)
	}
	return c
}

func (f forwardCore) Enabled(l zapcore.Level) bool { return f.core().Enabled(l) }

func (f forwardCore) With(fields []zapcore.Field) zapcore.Core {
	return forwardCore{fields: append(slices.Clip(f.fields), fields...)}
}

func (f forwardCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if f.Enabled(e.Level) {
		return ce.AddCore(e, f)
	}
	return ce
}

func (f forwardCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return f.core().Write(e, fields)
}

func (f forwardCore) Sync() error { return f.core().Sync() }
