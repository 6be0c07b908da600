package sender

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/spool"
)

// Flusher is what FinalFlush drains: a Sender, or the legacy poster.
type Flusher interface {
	Pending() (items, bytes int)
	Flush(ctx context.Context) int
}

// FinalFlush is an agent's last act on SIGTERM, once its retry loop has
// stopped: it sends what f holds within timeout (CATOPS_SHUTDOWN_TIMEOUT),
// closes sp (nil: no spool, in spoolDir) and logs one line: the events
// flushed; those left in the spool, which the next start with the same
// spool directory sends; or those not delivered.
func FinalFlush(f Flusher, sp *spool.Spool, timeout time.Duration, spoolDir string, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	pending, _ := f.Pending()
	left := f.Flush(ctx)
	if sp != nil {
		kept := !sp.Degraded()
		if err := sp.Close(); err != nil {
			log.Warn("Cannot close the spool", zap.Error(err))
		}
		if kept && left > 0 {
			log.Info("Events not delivered at shutdown stay in the spool; a restart with the same spool directory sends them",
				zap.Int("events", left), zap.String("dir", spoolDir))
			return
		}
	}
	if left > 0 {
		log.Warn("Events not delivered at shutdown: the backend did not take them at once, or not within CATOPS_SHUTDOWN_TIMEOUT",
			zap.Int("events", left), zap.Duration("timeout", timeout))
	} else {
		log.Info("Flushed pending events", zap.Int("events", pending))
	}
}
