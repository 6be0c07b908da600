package image

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeBinary stands in for a static binary: Build does not look inside.
func fakeBinary(s string) Binary { return Binary{Data: []byte(s), Arch: "amd64"} }

// agentSpec is the agent image of the fake binaries agent (catops-k8s) and
// cluster (catops-k8s-cluster) on base.
func agentSpec(t testing.TB, agent, cluster Binary, base Base) Spec {
	t.Helper()
	spec, err := Agent(agent, cluster, base)
	require.NoError(t, err)
	return spec
}

func TestBuildIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	build := func(spec Spec, file string) (digest string, data []byte) {
		img, err := Build(spec)
		require.NoError(t, err)
		d, err := img.Digest()
		require.NoError(t, err)
		out := filepath.Join(dir, file)
		require.NoError(t, Write(out, spec.Ref, img))
		data, err = os.ReadFile(out)
		require.NoError(t, err)
		return d.String(), data
	}
	base := Distroless([]byte("a CA bundle\n"))
	cluster := fakeBinary("cluster v1")
	d1, tar1 := build(agentSpec(t, fakeBinary("agent v1"), cluster, base), "a1.tar")
	d2, tar2 := build(agentSpec(t, fakeBinary("agent v1"), cluster, base), "a2.tar")
	assert.Equal(t, d1, d2, "same inputs, same digest")
	assert.True(t, bytes.Equal(tar1, tar2), "same inputs, same tarball bytes")

	d3, _ := build(agentSpec(t, fakeBinary("agent v2"), cluster, base), "a3.tar")
	assert.NotEqual(t, d1, d3, "another binary, another digest")
	d3c, _ := build(agentSpec(t, fakeBinary("agent v1"), fakeBinary("cluster v2"), base), "a3c.tar")
	assert.NotEqual(t, d1, d3c, "another cluster reporter, another digest")
	d4, _ := build(agentSpec(t, fakeBinary("agent v1"), cluster, Distroless(nil)), "a4.tar")
	assert.NotEqual(t, d1, d4, "without the CA bundle, another digest")
	arm, armCluster := fakeBinary("agent v1"), cluster
	arm.Arch, armCluster.Arch = "arm64", "arm64"
	d5, _ := build(agentSpec(t, arm, armCluster, base), "a5.tar")
	assert.NotEqual(t, d1, d5, "another architecture, another digest")
}

// The tarball is what containerd's importer reads: a docker-archive whose
// manifest.json names the image by its full reference, with the image as
// built (digest, config, files) behind it.
func TestTarballReadsBack(t *testing.T) {
	for _, spec := range []Spec{
		agentSpec(t, fakeBinary("agent"), fakeBinary("cluster"), Distroless([]byte("ca"))),
		Pause(fakeBinary("pause")),
		Box(fakeBinary("box")),
	} {
		t.Run(spec.Ref, func(t *testing.T) {
			img, err := Build(spec)
			require.NoError(t, err)
			file := filepath.Join(t.TempDir(), "image.tar")
			require.NoError(t, Write(file, spec.Ref, img))

			m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
			require.NoError(t, err)
			require.Len(t, m, 1)
			assert.Equal(t, []string{spec.Ref}, m[0].RepoTags)

			back, err := Read(file, spec.Ref)
			require.NoError(t, err)
			wantDigest, err := img.Digest()
			require.NoError(t, err)
			gotDigest, err := back.Digest()
			require.NoError(t, err)
			assert.Equal(t, wantDigest, gotDigest)

			cf, err := back.ConfigFile()
			require.NoError(t, err)
			assert.Equal(t, "linux", cf.OS)
			assert.Equal(t, "amd64", cf.Architecture)
			assert.Equal(t, spec.Config, cf.Config)
			assert.True(t, cf.Created.Equal(time.Unix(0, 0)), "created at the epoch, got %v", cf.Created)

			files, err := Files(back)
			require.NoError(t, err)
			exe := files[spec.Config.Entrypoint[0]]
			assert.False(t, exe.Dir)
			assert.Equal(t, fs.FileMode(0o755), exe.Mode)
			for p, e := range files {
				assert.True(t, e.ModTime.Equal(time.Unix(0, 0)), "%s: time %v", p, e.ModTime)
			}

			_, err = Read(file, "catops.local/other:1")
			assert.Error(t, err, "only the image's own tag is in the tarball")
		})
	}
}

// The layer: sorted entries, parents added, modes and owners as specified.
func TestLayerEntries(t *testing.T) {
	img, err := Build(agentSpec(t, fakeBinary("agent"), fakeBinary("cluster"), Distroless([]byte("ca"))))
	require.NoError(t, err)
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	require.NoError(t, err)
	names := tarNames(t, raw)
	assert.Equal(t, []string{
		"catops-k8s", "catops-k8s-cluster", "etc/", "etc/group", "etc/nsswitch.conf", "etc/passwd", "etc/ssl/", "etc/ssl/certs/",
		"etc/ssl/certs/ca-certificates.crt", "home/", "home/nonroot/", "root/", "tmp/",
	}, names)

	files, err := Files(img)
	require.NoError(t, err)
	assert.Equal(t, Entry{Dir: true, Mode: 0o777 | fs.ModeSticky, ModTime: epoch}, files["/tmp"])
	assert.Equal(t, Entry{Dir: true, Mode: 0o700, UID: 65532, GID: 65532, ModTime: epoch}, files["/home/nonroot"])
	assert.Equal(t, Entry{Dir: true, Mode: 0o755, ModTime: epoch}, files["/etc/ssl/certs"], "parent added")
	assert.Equal(t, Entry{Mode: 0o644, Size: 2, ModTime: epoch}, files[CABundlePath])
	assert.Equal(t, Entry{Mode: 0o755, Size: int64(len("agent")), ModTime: epoch}, files[AgentPath], "the agent, executable by all")
	assert.Equal(t, Entry{Mode: 0o755, Size: int64(len("cluster")), ModTime: epoch}, files[ClusterPath],
		"the cluster reporter, beside the agent, executable by all")
	assert.Equal(t, path.Dir(AgentPath), path.Dir(ClusterPath))
}

// The two binaries go into one image, hence one architecture.
func TestAgentRefusesMixedArchitectures(t *testing.T) {
	arm := fakeBinary("cluster")
	arm.Arch = "arm64"
	_, err := Agent(fakeBinary("agent"), arm, Distroless(nil))
	assert.EqualError(t, err, "the agent binary is for amd64, the cluster reporter's for arm64: build both with one GOARCH (make build)")
}

func TestBuildRefuses(t *testing.T) {
	ok := Box(fakeBinary("box"))
	tests := map[string]struct {
		edit func(*Spec)
		want string
	}{
		"bad reference":    {func(s *Spec) { s.Ref = "Box:1" }, `image reference "Box:1"`},
		"no architecture":  {func(s *Spec) { s.Arch = "" }, "no architecture"},
		"relative path":    {func(s *Spec) { s.Files = append(s.Files, File{Path: "etc/x"}) }, `file path "etc/x"`},
		"unclean path":     {func(s *Spec) { s.Files = append(s.Files, File{Path: "/etc/../x"}) }, `file path "/etc/../x"`},
		"path given twice": {func(s *Spec) { s.Files = append(s.Files, File{Path: "/box"}) }, "file /box given twice"},
		"file under file":  {func(s *Spec) { s.Files = append(s.Files, File{Path: "/box/x"}) }, "/box is a file but /box/x is below it"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			spec := ok
			spec.Files = append([]File(nil), ok.Files...)
			tt.edit(&spec)
			_, err := Build(spec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestReadBinary(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o755))
		return p
	}
	b, err := ReadBinary(write("amd64", elfFile(62, false)))
	require.NoError(t, err)
	assert.Equal(t, "amd64", b.Arch)
	b, err = ReadBinary(write("arm64", elfFile(183, false)))
	require.NoError(t, err)
	assert.Equal(t, "arm64", b.Arch)

	_, err = ReadBinary(write("dynamic", elfFile(62, true)))
	assert.ErrorContains(t, err, "dynamically linked: build it with CGO_ENABLED=0")
	_, err = ReadBinary(write("script", []byte("#!/bin/sh\necho hi\n")))
	assert.ErrorContains(t, err, "is not an ELF executable")
	_, err = ReadBinary(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// elfFile makes a minimal little-endian ELF64 executable for machine, with
// a PT_INTERP program header when dynamic.
func elfFile(machine uint16, dynamic bool) []byte {
	const ehsize, phsize = 64, 56
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0})
	b.Write(make([]byte, 8))
	phnum := uint16(0)
	if dynamic {
		phnum = 1
	}
	le := binary.LittleEndian
	for _, v := range []any{
		uint16(2), machine, uint32(1), // ET_EXEC, e_machine, EV_CURRENT
		uint64(0x400000), uint64(ehsize), uint64(0), // entry, phoff, shoff
		uint32(0), uint16(ehsize), uint16(phsize), phnum, // flags, ehsize, phentsize, phnum
		uint16(64), uint16(0), uint16(0), // shentsize, shnum, shstrndx
	} {
		_ = binary.Write(&b, le, v)
	}
	if dynamic {
		interp := []byte("/lib64/ld-linux-x86-64.so.2\x00")
		off := uint64(ehsize + phsize)
		for _, v := range []any{
			uint32(3), uint32(4), off, uint64(0), uint64(0), // PT_INTERP, PF_R, offset, vaddr, paddr
			uint64(len(interp)), uint64(len(interp)), uint64(1), // filesz, memsz, align
		} {
			_ = binary.Write(&b, le, v)
		}
		b.Write(interp)
	}
	return b.Bytes()
}

// tarNames lists a tarball's entry names in order.
func tarNames(t *testing.T, data []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		require.NoError(t, err)
		names = append(names, hdr.Name)
	}
}
