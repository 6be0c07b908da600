//go:build unix

package cgroup

import (
	"errors"
	"syscall"
)

// readAll reads the whole file at path into buf: at most len(buf) bytes,
// and io.ErrShortBuffer-like errTooLong when there is more. It goes to the
// system calls directly: an os.File would also try to register a /sys
// file with the network poller (a failed epoll_ctl per read) and carry a
// cleanup that keeps it for an extra GC cycle, for every container every
// interval.
func readAll(path string, buf []byte) (int, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	defer func() { _ = syscall.Close(fd) }()
	n := 0
	for {
		m, err := syscall.Read(fd, buf[n:])
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return 0, err
		case m == 0:
			return n, nil
		}
		n += m
		if n == len(buf) {
			return n, errTooLong
		}
	}
}
