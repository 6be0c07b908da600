// Package logging builds the agents' zap logger: JSON lines on stderr
// (pkg/logging/klogroute routes client-go's klog into it, so that every line
// is JSON).
package logging

import (
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
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
