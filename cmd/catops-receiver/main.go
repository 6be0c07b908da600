// Command catops-receiver is a development backend: it accepts the
// connector's wire protocol with the reference receiver (pkg/receiver):
// the node agents' batches and the cluster reporter's. It logs every batch
// it applies, serves the rebuilt state of every node and cluster at GET
// /api/state and, with --view, draws that state on stdout as batches
// arrive (view.go, view_cluster.go). It is not the CatOps backend.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/catops/cli/pkg/logging"
	"github.com/catops/cli/pkg/receiver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "catops-receiver: %v\n", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("catops-receiver", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8000", "listen address")
	// The default stays empty so --help never prints a token from the
	// environment; the variable is read after parsing.
	token := fs.String("token", "", "bearer token agents must send (default: env CATOPS_AUTH_TOKEN)")
	viewEvery := fs.Duration("view", 0, "print a view of every node's and cluster's state to stdout when a batch is applied, at most once per this interval (0: off)")
	clearScreen := fs.Bool("clear", false, "with --view, redraw the view in place on the terminal (and at least every 5 s, so that ages stay current)")
	var notes []string
	fs.Func("view-note", "with --view, a line to print under the view (repeatable)", func(s string) error {
		notes = append(notes, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv("CATOPS_AUTH_TOKEN")
	}
	if *token == "" {
		return errors.New("no token: set --token or CATOPS_AUTH_TOKEN to the token the agents use")
	}
	logger := logging.New(os.Stderr, zapcore.InfoLevel)
	rcv, changed, err := newReceiver(*token, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: rcv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if *viewEvery > 0 {
		opts := viewOptions{every: *viewEvery, clear: *clearScreen, refresh: 5 * time.Second, notes: notes}
		go runView(ctx, os.Stdout, func() viewState { return snapshot(rcv) }, changed, opts)
	}
	logger.Info("Receiving", zap.String("addr", ln.Addr().String()), zap.String("state", "http://"+ln.Addr().String()+receiver.StatePath))
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newReceiver returns the receiver and a channel that wakes the view after
// each applied batch of either stream. One pending wake-up is enough, so a
// send to a full channel is dropped rather than wait.
func newReceiver(token string, logger *zap.Logger) (*receiver.Receiver, <-chan struct{}, error) {
	changed := make(chan struct{}, 1)
	wake := func(string) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	rcv, err := receiver.New(receiver.Options{Token: token, Logger: logger, OnApply: wake, OnClusterApply: wake, OnHostApply: wake})
	return rcv, changed, err
}
