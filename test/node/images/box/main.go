// Command box is the real-node rig's test program (image catops.local/box:1):
//
//	box sleep            sleep until SIGTERM or SIGINT (the image's default)
//	box hog MIB          allocate and touch MIB MiB of memory, then sleep:
//	                     under a lower memory limit the kernel OOM-kills it
//	box burn             busy-loop on one core until SIGTERM or SIGINT
//	box exit CODE        exit with CODE (0-255) at once, for crash loops
//	box write PATH MIB   write MIB MiB to PATH (synced), then sleep
//
// It prints a line when it starts and as it goes, so `kubectl logs` shows
// how far it got. A signal ends it with status 0; a wrong command line
// with 2.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	var code exitCode
	var usage usageError
	switch {
	case errors.As(err, &code):
		os.Exit(int(code))
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "box: %v\n%s", err, usageText)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "box: %v\n", err)
		os.Exit(1)
	}
}

const usageText = `usage: box sleep | hog MIB | burn | exit CODE | write PATH MIB
`

// exitCode is the status `box exit CODE` asks for.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit %d", int(c)) }

// usageError is a command line box does not understand.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run parses args and runs the command until it ends or ctx is done.
func run(ctx context.Context, args []string, out io.Writer) error {
	cmd, err := parse(args)
	if err != nil {
		return err
	}
	return cmd.run(ctx, out)
}
