package token

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFileTokenIsReReadAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(path, []byte("first\n"), 0o600))
	f, err := NewFile(path)
	require.NoError(t, err)
	got, err := f.Token()
	require.NoError(t, err)
	assert.Equal(t, "first", got, "surrounding whitespace trimmed")

	// Kubernetes rotates a mounted Secret by swapping the file underneath.
	tmp := filepath.Join(dir, "token.new")
	require.NoError(t, os.WriteFile(tmp, []byte("second-longer"), 0o600))
	require.NoError(t, os.Chtimes(tmp, time.Now().Add(time.Minute), time.Now().Add(time.Minute)))
	require.NoError(t, os.Rename(tmp, path))
	got, err = f.Token()
	require.NoError(t, err)
	assert.Equal(t, "second-longer", got)
}

func TestFileTokenErrorsNeverHoldTheToken(t *testing.T) {
	dir := t.TempDir()
	_, err := NewFile(filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "missing")

	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("  \n"), 0o600))
	_, err = NewFile(empty)
	require.ErrorContains(t, err, "is empty")

	multi := filepath.Join(dir, "multi")
	require.NoError(t, os.WriteFile(multi, []byte("secret-one\nsecret-two\n"), 0o600))
	_, err = NewFile(multi)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret-one")
}
