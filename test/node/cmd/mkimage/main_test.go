package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/test/node/image"
)

// staticELF writes a minimal static ELF64 x86-64 executable header: enough
// for image.ReadBinary, which is all mkimage reads.
func staticELF(t *testing.T, dir, name, tail string) string {
	t.Helper()
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	for _, v := range []any{
		uint16(2), uint16(62), uint32(1), uint64(0x400000), uint64(0), uint64(0),
		uint32(0), uint16(64), uint16(56), uint16(0), uint16(64), uint16(0), uint16(0),
	} {
		require.NoError(t, binary.Write(&b, binary.LittleEndian, v))
	}
	b.WriteString(tail) // makes binaries differ
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b.Bytes(), 0o755))
	return p
}

func options(t *testing.T) *Options {
	dir := t.TempDir()
	o := NewOptions()
	o.Out = filepath.Join(dir, "out")
	o.Agent = staticELF(t, dir, "catops-k8s", "agent")
	staticELF(t, dir, "catops-k8s-cluster", "cluster reporter") // found beside -agent, as make build leaves it
	o.Pause = staticELF(t, dir, "pause", "pause")
	o.Box = staticELF(t, dir, "box", "box")
	o.Dockerfile = filepath.Join("..", "..", "..", "..", "Dockerfile.k8s")
	o.CABundle = filepath.Join(dir, "ca.crt")
	require.NoError(t, os.WriteFile(o.CABundle, []byte("a CA bundle\n"), 0o600))
	require.NoError(t, o.Validate())
	return o
}

// Written once, then left as it is while the image does not change; a new
// binary rewrites only its own tarball.
func TestRunWritesThenLeavesUnchanged(t *testing.T) {
	o := options(t)
	var out bytes.Buffer
	require.NoError(t, Run(context.Background(), o, &out))
	assert.Equal(t, 3, strings.Count(out.String(), " written\n"), out.String())
	for _, f := range []string{image.AgentTarball, image.PauseTarball, image.BoxTarball} {
		require.FileExists(t, filepath.Join(o.Out, f))
	}
	agentTar := filepath.Join(o.Out, image.AgentTarball)
	old := time.Unix(1, 0)
	require.NoError(t, os.Chtimes(agentTar, old, old))

	out.Reset()
	require.NoError(t, Run(context.Background(), o, &out))
	assert.Equal(t, 3, strings.Count(out.String(), " unchanged\n"), out.String())
	st, err := os.Stat(agentTar)
	require.NoError(t, err)
	assert.True(t, st.ModTime().Equal(old), "an unchanged tarball is not rewritten")

	staticELF(t, filepath.Dir(o.Agent), "catops-k8s", "agent v2")
	out.Reset()
	require.NoError(t, Run(context.Background(), o, &out))
	assert.Contains(t, out.String(), "catops.local/catops-k8s:dev  catops-k8s.tar")
	assert.Equal(t, 1, strings.Count(out.String(), " written\n"), out.String())

	staticELF(t, filepath.Dir(o.Agent), "catops-k8s-cluster", "cluster reporter v2")
	out.Reset()
	require.NoError(t, Run(context.Background(), o, &out))
	assert.Regexp(t, `catops.local/catops-k8s:dev +catops-k8s.tar .* written\n`, out.String(), "a new cluster reporter, a new agent image")
	assert.Equal(t, 1, strings.Count(out.String(), " written\n"), out.String())

	img, err := image.Read(agentTar, image.AgentRef)
	require.NoError(t, err)
	files, err := image.Files(img)
	require.NoError(t, err)
	assert.Contains(t, files, image.CABundlePath)
	assert.Contains(t, files, image.AgentPath)
	assert.Contains(t, files, image.ClusterPath)
}

// The agent image's layer holds both binaries `make build` writes, each
// byte for byte, side by side at /catops-k8s and /catops-k8s-cluster,
// regular files executable by everyone (the image runs as 65534), with
// /catops-k8s the ENTRYPOINT.
func TestRunPacksAgentAndClusterReporter(t *testing.T) {
	for name, explicit := range map[string]bool{"beside -agent": false, "-cluster-reporter": true} {
		t.Run(name, func(t *testing.T) {
			o := options(t)
			o.Pause, o.Box = "", ""
			if explicit {
				// Elsewhere, under another name: packed as catops-k8s-cluster all the same.
				o.Cluster = staticELF(t, t.TempDir(), "reporter", "the other cluster reporter")
				require.NoError(t, os.Remove(filepath.Join(filepath.Dir(o.Agent), image.ClusterBinaryName)))
			}
			var out bytes.Buffer
			require.NoError(t, Run(context.Background(), o, &out))

			img, err := image.Read(filepath.Join(o.Out, image.AgentTarball), image.AgentRef)
			require.NoError(t, err)
			cf, err := img.ConfigFile()
			require.NoError(t, err)
			assert.Equal(t, []string{image.AgentPath}, cf.Config.Entrypoint)

			want := map[string][]byte{}
			for p, file := range map[string]string{image.AgentPath: o.Agent, image.ClusterPath: o.ClusterBinary()} {
				want[p], err = os.ReadFile(file)
				require.NoError(t, err)
			}
			require.False(t, bytes.Equal(want[image.AgentPath], want[image.ClusterPath]))
			layers, err := img.Layers()
			require.NoError(t, err)
			require.Len(t, layers, 1)
			rc, err := layers[0].Uncompressed()
			require.NoError(t, err)
			defer rc.Close()
			got := map[string]*tar.Header{}
			tr := tar.NewReader(rc)
			for {
				hdr, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				p := "/" + hdr.Name
				if _, ok := want[p]; !ok {
					continue
				}
				got[p] = hdr
				data, err := io.ReadAll(tr)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(want[p], data), "%s: not the binary given", p)
			}
			for p := range want {
				require.Contains(t, got, p)
				assert.Equal(t, byte(tar.TypeReg), got[p].Typeflag, p)
				assert.Equal(t, int64(0o755), got[p].Mode, "%s: mode %o", p, got[p].Mode)
				assert.Equal(t, 0, got[p].Uid, p)
				assert.Equal(t, 0, got[p].Gid, p)
			}
			assert.Equal(t, path.Dir(image.AgentPath), path.Dir(image.ClusterPath), "side by side")
			assert.Equal(t, image.ClusterBinaryName, path.Base(image.ClusterPath))
		})
	}
}

func TestRunWithoutClusterReporter(t *testing.T) {
	o := options(t)
	missing := filepath.Join(filepath.Dir(o.Agent), image.ClusterBinaryName)
	require.NoError(t, os.Remove(missing))
	var out bytes.Buffer
	err := Run(context.Background(), o, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the cluster reporter: open "+missing+": no such file or directory "+
		"(make build writes catops-k8s-cluster beside catops-k8s; give -cluster-reporter)")
	assert.NoFileExists(t, filepath.Join(o.Out, image.AgentTarball))
}

func TestRunWithoutCABundle(t *testing.T) {
	o := options(t)
	o.CABundle = filepath.Join(t.TempDir(), "missing.crt")
	o.Pause, o.Box = "", ""
	var out bytes.Buffer
	require.NoError(t, Run(context.Background(), o, &out))
	assert.Contains(t, out.String(), "mkimage: no CA bundle at "+o.CABundle)
	img, err := image.Read(filepath.Join(o.Out, image.AgentTarball), image.AgentRef)
	require.NoError(t, err)
	files, err := image.Files(img)
	require.NoError(t, err)
	assert.NotContains(t, files, image.CABundlePath)
}

func TestRunRefusesADockerfileItDoesNotMatch(t *testing.T) {
	o := options(t)
	data, err := os.ReadFile(o.Dockerfile)
	require.NoError(t, err)
	o.Dockerfile = filepath.Join(t.TempDir(), "Dockerfile.k8s")
	require.NoError(t, os.WriteFile(o.Dockerfile, bytes.Replace(data, []byte("USER 65534:65534"), []byte("USER 65532"), 1), 0o600))
	var out bytes.Buffer
	err = Run(context.Background(), o, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `disagree (fix one side; test/node/image/images.go):
  USER: the Dockerfile gives "65532", the image has "65534:65534"`)
	assert.NoFileExists(t, filepath.Join(o.Out, image.AgentTarball))
}

func TestValidate(t *testing.T) {
	o := NewOptions()
	assert.EqualError(t, o.Validate(), "-out is required: the folder for the tarballs")
	o.Out = "x"
	assert.EqualError(t, o.Validate(), "nothing to build: give -agent, -pause and/or -box")
	o.Agent, o.Dockerfile = "a", ""
	assert.EqualError(t, o.Validate(), "-agent needs -dockerfile, to check the image against its final stage")
	o.Agent, o.Dockerfile, o.Cluster, o.Box = "", "Dockerfile.k8s", "c", "b"
	assert.EqualError(t, o.Validate(), "-cluster-reporter needs -agent: it is packed into the agent image")
}

func TestClusterBinary(t *testing.T) {
	o := NewOptions()
	o.Agent = filepath.Join("x", "bin", "catops-k8s")
	assert.Equal(t, filepath.Join("x", "bin", "catops-k8s-cluster"), o.ClusterBinary(), "beside -agent")
	o.Cluster = "y/reporter"
	assert.Equal(t, "y/reporter", o.ClusterBinary())
}
