// Package token supplies the backend auth token, from a fixed value or from
// a file (a mounted Secret) that is re-read when it changes, so a rotated
// Secret takes effect without a restart.
package token

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Func returns the current token.
type Func func() (string, error)

// Static returns a Func that always gives t.
func Static(t string) Func { return func() (string, error) { return t, nil } }

// File reads the token from a file, again whenever its size or modification
// time changes. Kubernetes updates a mounted Secret by swapping a symlink,
// which changes both as seen through the path.
type File struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	token   string
}

// NewFile returns a File token source and reads it once, so a missing or
// empty file is reported at start.
func NewFile(path string) (*File, error) {
	f := &File{path: path}
	if _, err := f.Token(); err != nil {
		return nil, err
	}
	return f, nil
}

// Token returns the file's token, re-reading it if the file changed. The
// error never holds the token.
func (f *File) Token() (string, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("auth token file %q: %w", f.path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" && st.ModTime().Equal(f.modTime) && st.Size() == f.size {
		return f.token, nil
	}
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("auth token file %q: %w", f.path, err)
	}
	t := strings.TrimSpace(string(raw))
	if t == "" {
		return "", errors.New("auth token file " + fmt.Sprintf("%q", f.path) + " is empty")
	}
	if strings.ContainsAny(t, "\r\n") {
		return "", fmt.Errorf("auth token file %q holds more than one line; it must hold only the token", f.path)
	}
	f.token, f.modTime, f.size = t, st.ModTime(), st.Size()
	return t, nil
}

// Source is the token a command sends: static when not empty, else read
// from file (CATOPS_AUTH_TOKEN, else CATOPS_AUTH_TOKEN_FILE).
func Source(static, file string) (Func, error) {
	if static != "" {
		return Static(static), nil
	}
	f, err := NewFile(file)
	if err != nil {
		return nil, fmt.Errorf("CATOPS_AUTH_TOKEN_FILE: %w", err)
	}
	return f.Token, nil
}
