//go:build !unix

package cgroup

import (
	"errors"
	"io"
	"os"
)

// readAll reads the whole file at path into buf: at most len(buf) bytes,
// and errTooLong when there is more.
func readAll(path string, buf []byte) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	n, err := io.ReadFull(f, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return n, nil
	case err != nil:
		return 0, err
	}
	return n, errTooLong
}
