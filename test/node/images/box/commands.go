package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
)

const mib = 1 << 20

// command is one parsed command line.
type command struct {
	name string
	mib  int    // hog, write
	code int    // exit
	path string // write
}

func parse(args []string) (command, error) {
	if len(args) == 0 {
		return command{}, usageError{"no command"}
	}
	c := command{name: args[0]}
	want := map[string]int{"sleep": 0, "burn": 0, "hog": 1, "exit": 1, "write": 2}
	n, known := want[c.name]
	if !known {
		return command{}, usageError{fmt.Sprintf("unknown command %q", c.name)}
	}
	if len(args)-1 != n {
		return command{}, usageError{fmt.Sprintf("%s takes %d argument(s), got %d", c.name, n, len(args)-1)}
	}
	var err error
	switch c.name {
	case "hog":
		c.mib, err = count(args[1], "MIB")
	case "write":
		c.path = args[1]
		c.mib, err = count(args[2], "MIB")
	case "exit":
		c.code, err = strconv.Atoi(args[1])
		if err != nil || c.code < 0 || c.code > 255 {
			err = usageError{fmt.Sprintf("exit CODE: want 0-255, got %q", args[1])}
		}
	}
	return c, err
}

func count(s, what string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, usageError{fmt.Sprintf("%s: want a whole number >= 0, got %q", what, s)}
	}
	return n, nil
}

func (c command) run(ctx context.Context, out io.Writer) error {
	switch c.name {
	case "sleep":
		fmt.Fprintln(out, "sleep: until SIGTERM")
		<-ctx.Done()
	case "hog":
		held := hog(ctx, c.mib, out)
		<-ctx.Done()
		runtime.KeepAlive(held)
	case "burn":
		fmt.Fprintln(out, "burn: spinning on one core until SIGTERM")
		for ctx.Err() == nil {
		}
	case "exit":
		fmt.Fprintf(out, "exit: exiting with %d\n", c.code)
		return exitCode(c.code)
	case "write":
		if err := write(ctx, c.path, c.mib, out); err != nil {
			return err
		}
		<-ctx.Done()
	}
	fmt.Fprintf(out, "%s: signalled, exiting\n", c.name)
	return nil
}

// hog allocates n MiB in 1 MiB chunks and writes to every page of each, so
// that all of it is resident (counted against the memory limit), and
// returns the chunks for the caller to keep.
func hog(ctx context.Context, n int, out io.Writer) [][]byte {
	fmt.Fprintf(out, "hog: allocating %d MiB\n", n)
	page := os.Getpagesize()
	held := make([][]byte, 0, n)
	for i := 1; i <= n && ctx.Err() == nil; i++ {
		b := make([]byte, mib)
		for j := 0; j < len(b); j += page {
			b[j] = 1
		}
		held = append(held, b)
		if i%16 == 0 || i == n {
			fmt.Fprintf(out, "hog: %d MiB resident\n", i)
		}
	}
	fmt.Fprintf(out, "hog: holding %d MiB until SIGTERM\n", len(held))
	return held
}

// write writes n MiB of non-zero bytes to path and syncs it, so that the
// blocks are allocated (counted as the container's disk use).
func write(ctx context.Context, path string, n int, out io.Writer) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, mib)
	for i := range buf {
		buf[i] = byte(i%251) + 1
	}
	written := 0
	for ; written < n && ctx.Err() == nil; written++ {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("write %s after %d MiB: %w", path, written, err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "write: wrote %d MiB to %s, sleeping until SIGTERM\n", written, path)
	return nil
}
