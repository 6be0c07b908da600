package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the time of every file, of the config and of its history entry:
// a build at another moment gives the same digest.
var epoch = time.Unix(0, 0).UTC()

// File is one entry of an image's only layer.
type File struct {
	// Path is absolute: "/catops-k8s", "/etc/passwd".
	Path string
	// Mode holds the permission bits, with the sticky bit for /tmp (0o1777).
	Mode fs.FileMode
	UID  int
	GID  int
	// Dir makes a directory; Data is then ignored.
	Dir  bool
	Data []byte
}

// Spec says what goes into an image: its files and its runtime config.
type Spec struct {
	// Ref is the name `ctr images import` gives the image.
	Ref string
	// Arch is the GOARCH of the binaries ("amd64", "arm64"); OS is linux.
	Arch   string
	Files  []File
	Config v1.Config
	// CreatedBy goes into the image history, for `ctr images inspect` readers.
	CreatedBy string
}

// Build makes the single-layer image of spec. Parent directories missing
// from spec.Files are added (root-owned, 0755); a path given twice is an
// error.
func Build(spec Spec) (v1.Image, error) {
	if _, err := name.NewTag(spec.Ref, name.StrictValidation); err != nil {
		return nil, fmt.Errorf("image reference %q (want registry/repository:tag): %w", spec.Ref, err)
	}
	if spec.Arch == "" {
		return nil, fmt.Errorf("image %s: no architecture", spec.Ref)
	}
	layerTar, err := layerTarball(spec.Files)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	// Compressed once here, so that the digest and the tarball use the same
	// bytes; the standard library's gzip output depends only on its input
	// and level (header time zero, no name).
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(layerTar); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	blob := gz.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blob)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: layer: %w", spec.Ref, err)
	}
	diffID, err := layer.DiffID()
	if err != nil {
		return nil, fmt.Errorf("image %s: layer: %w", spec.Ref, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	cf := &v1.ConfigFile{
		Architecture: spec.Arch,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		Config:       spec.Config,
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diffID}},
		History:      []v1.History{{Created: v1.Time{Time: epoch}, CreatedBy: spec.CreatedBy}},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", spec.Ref, err)
	}
	return img, nil
}

// layerTarball writes files, with their missing parents, sorted by path.
func layerTarball(files []File) ([]byte, error) {
	byPath := map[string]File{}
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return nil, fmt.Errorf("file path %q: want an absolute, clean path below /", f.Path)
		}
		if _, dup := byPath[f.Path]; dup {
			return nil, fmt.Errorf("file %s given twice", f.Path)
		}
		byPath[f.Path] = f
	}
	for _, f := range files {
		for dir := path.Dir(f.Path); dir != "/"; dir = path.Dir(dir) {
			if p, ok := byPath[dir]; ok {
				if !p.Dir {
					return nil, fmt.Errorf("%s is a file but %s is below it", dir, f.Path)
				}
				continue
			}
			byPath[dir] = File{Path: dir, Dir: true, Mode: 0o755}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := byPath[p]
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    tarMode(f.Mode),
			Uid:     f.UID,
			Gid:     f.GID,
			ModTime: epoch,
		}
		if f.Dir {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar header of %s: %w", p, err)
		}
		if !f.Dir {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, fmt.Errorf("tar data of %s: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarMode turns permission and sticky bits into tar's mode field.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// Write writes img as a docker-archive tarball at file, tagged ref, through
// a temporary file renamed into place (a reader never sees half a tarball).
func Write(file, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if err := tarball.Write(tag, img, tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// Read loads the image tagged ref from the docker-archive tarball at file,
// as containerd's importer would find it (by its RepoTags entry).
func Read(file, ref string) (v1.Image, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	img, err := tarball.ImageFromPath(file, &tag)
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", ref, file, err)
	}
	return img, nil
}

// Files lists the entries of img's layers, by path ("/catops-k8s"), with
// their type, mode and owner; Data is left empty (Size says how big).
func Files(img v1.Image) (map[string]Entry, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	out := map[string]Entry{}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rc.Close()
				return nil, fmt.Errorf("layer %d: %w", i, err)
			}
			p := "/" + strings.TrimSuffix(path.Clean(hdr.Name), "/")
			out[p] = Entry{
				Dir:     hdr.Typeflag == tar.TypeDir,
				Mode:    hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSticky),
				UID:     hdr.Uid,
				GID:     hdr.Gid,
				Size:    hdr.Size,
				ModTime: hdr.ModTime.UTC(),
			}
		}
		if err := rc.Close(); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return out, nil
}

// Entry is one file of an image as Files reads it back.
type Entry struct {
	Dir     bool
	Mode    fs.FileMode
	UID     int
	GID     int
	Size    int64
	ModTime time.Time
}
