package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args    []string
		want    command
		wantErr string
	}{
		{args: []string{"sleep"}, want: command{name: "sleep"}},
		{args: []string{"burn"}, want: command{name: "burn"}},
		{args: []string{"hog", "100"}, want: command{name: "hog", mib: 100}},
		{args: []string{"exit", "3"}, want: command{name: "exit", code: 3}},
		{args: []string{"write", "/tmp/f", "5"}, want: command{name: "write", path: "/tmp/f", mib: 5}},
		{args: nil, wantErr: "no command"},
		{args: []string{"nap"}, wantErr: `unknown command "nap"`},
		{args: []string{"hog"}, wantErr: "hog takes 1 argument(s), got 0"},
		{args: []string{"sleep", "5"}, wantErr: "sleep takes 0 argument(s), got 1"},
		{args: []string{"hog", "-1"}, wantErr: `MIB: want a whole number >= 0, got "-1"`},
		{args: []string{"hog", "1Gi"}, wantErr: `MIB: want a whole number >= 0, got "1Gi"`},
		{args: []string{"exit", "256"}, wantErr: `exit CODE: want 0-255, got "256"`},
		{args: []string{"write", "/tmp/f"}, wantErr: "write takes 2 argument(s), got 1"},
	}
	for _, tt := range tests {
		t.Run(filepath.Join(append([]string{"args"}, tt.args...)...), func(t *testing.T) {
			got, err := parse(tt.args)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				var u usageError
				assert.True(t, errors.As(err, &u), "a usage error (exit status 2)")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestExitReturnsTheCode(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"exit", "7"}, &out)
	var code exitCode
	require.True(t, errors.As(err, &code), "got %v", err)
	assert.Equal(t, exitCode(7), code)
	assert.Equal(t, "exit: exiting with 7\n", out.String())
}

// The long-running commands return (status 0) once signalled.
func TestSignalEnds(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"sleep"}, {"burn"}, {"hog", "3"}, {"write", filepath.Join(dir, "f"), "3"}} {
		t.Run(args[0], func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var out bytes.Buffer
			done := make(chan error, 1)
			go func() { done <- run(ctx, args, &out) }()
			time.Sleep(50 * time.Millisecond)
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("still running 5 s after the signal")
			}
			assert.Contains(t, out.String(), args[0]+": signalled, exiting")
		})
	}
}

func TestHogHoldsTheMemory(t *testing.T) {
	var out bytes.Buffer
	held := hog(context.Background(), 17, &out)
	require.Len(t, held, 17)
	for _, b := range held {
		require.Len(t, b, mib)
		require.Equal(t, byte(1), b[0], "every page touched")
	}
	assert.Equal(t, "hog: allocating 17 MiB\nhog: 16 MiB resident\nhog: 17 MiB resident\nhog: holding 17 MiB until SIGTERM\n", out.String())
}

func TestWriteWritesTheSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	var out bytes.Buffer
	require.NoError(t, write(context.Background(), path, 3, &out))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, int64(3*mib), st.Size())
	assert.Contains(t, out.String(), "write: wrote 3 MiB to "+path)

	err = write(context.Background(), filepath.Join(t.TempDir(), "no", "such", "dir"), 1, &out)
	assert.Error(t, err)
}
