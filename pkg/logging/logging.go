// Package logging builds the agent's zap logger: JSON lines on stderr, and
// client-go's klog routed into the same logger so every line is JSON.
package logging

import (
	"flag"
	"io"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
)

// New returns a JSON logger at level writing to w, with the stable keys
// ts, level, component, msg and caller. The logger's name goes under
// "component", not zap's default "logger": client-go passes its own
// "logger" field, and a line must not carry one key twice.
func New(w io.Writer, level zapcore.Level) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.NameKey = "component"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core, zap.AddCaller(), zap.ErrorOutput(zapcore.AddSync(w)))
}

// RouteKlog sends klog (client-go's logger) through logger, named
// "client-go". klog's verbosity follows the zap level: at debug, client-go's
// V(1) lines show (as zap debug); otherwise only its info, warnings and
// errors.
func RouteKlog(logger *zap.Logger, level zapcore.Level) {
	v := "0"
	if level <= zapcore.DebugLevel {
		v = "1"
	}
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", v)
	_ = fs.Set("logtostderr", "false")
	// zapr maps logr V(n) to zap level -n, so V(1) is zap's debug.
	klog.SetLogger(zapr.NewLoggerWithOptions(logger.Named("client-go"), zapr.LogInfoLevel("v")))
}
