package image

import (
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Compare lists how img differs from want: config fields, the file list
// (mode and owner of copied files), and whether the ENTRYPOINT is a file
// that the USER may execute. No lines: they agree.
func Compare(want Want, img v1.Image) ([]string, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	files, err := Files(img)
	if err != nil {
		return nil, fmt.Errorf("image files: %w", err)
	}
	got, w := cf.Config, want.Config
	var diffs []string
	differ := func(field string, dockerfile, image any) {
		diffs = append(diffs, fmt.Sprintf("%s: the Dockerfile gives %v, the image has %v", field, dockerfile, image))
	}
	if got.User != w.User {
		differ("USER", strconv.Quote(w.User), strconv.Quote(got.User))
	}
	if !slices.Equal(got.Entrypoint, w.Entrypoint) {
		differ("ENTRYPOINT", jsonList(w.Entrypoint), jsonList(got.Entrypoint))
	}
	if !slices.Equal(got.Cmd, w.Cmd) {
		differ("CMD", jsonList(w.Cmd), jsonList(got.Cmd))
	}
	if got.WorkingDir != w.WorkingDir {
		differ("WORKDIR", strconv.Quote(w.WorkingDir), strconv.Quote(got.WorkingDir))
	}
	if we, ge := envMap(w.Env), envMap(got.Env); !maps.Equal(we, ge) {
		differ("ENV", sortedKV(we), sortedKV(ge))
	}
	if !sameKeys(w.ExposedPorts, got.ExposedPorts) {
		differ("EXPOSE", slices.Sorted(maps.Keys(w.ExposedPorts)), slices.Sorted(maps.Keys(got.ExposedPorts)))
	}
	if !maps.Equal(w.Labels, got.Labels) && len(w.Labels)+len(got.Labels) > 0 {
		differ("LABEL", sortedKV(w.Labels), sortedKV(got.Labels))
	}
	if got.StopSignal != w.StopSignal {
		differ("STOPSIGNAL", strconv.Quote(w.StopSignal), strconv.Quote(got.StopSignal))
	}
	if len(got.Volumes) > 0 || got.Healthcheck != nil || len(got.Shell) > 0 || len(got.OnBuild) > 0 {
		diffs = append(diffs, "the image config has VOLUME, HEALTHCHECK, SHELL or ONBUILD, the Dockerfile none")
	}

	wantPaths := slices.Sorted(maps.Keys(want.Files))
	for i, p := range wantPaths {
		wf, e := want.Files[p], files[p]
		_, ok := files[p]
		switch {
		case !ok && i+1 < len(wantPaths) && strings.HasPrefix(wantPaths[i+1], p+"/"):
			// A directory above another path: reported with the deepest one
			// when that is missing too, or as a type difference below.
			if _, below := files[wantPaths[i+1]]; !below {
				continue
			}
			diffs = append(diffs, fmt.Sprintf("%s: the Dockerfile makes it, the image has no such path", p))
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: the Dockerfile makes it%s, the image has no such path", p, copyLine(wf)))
		case wf.Dir != e.Dir:
			diffs = append(diffs, fmt.Sprintf("%s: the Dockerfile makes a %s, the image has a %s", p, kind(wf.Dir), kind(e.Dir)))
		case wf.Copied && (wf.Mode != e.Mode || wf.UID != e.UID || wf.GID != e.GID):
			diffs = append(diffs, fmt.Sprintf("%s: the Dockerfile copies it%s with mode %v owner %d:%d, the image has mode %v owner %d:%d",
				p, copyLine(wf), wf.Mode, wf.UID, wf.GID, e.Mode, e.UID, e.GID))
		}
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if _, ok := want.Files[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: in the image, but neither the base stand-in nor the Dockerfile makes it", p))
		}
	}
	if len(w.Entrypoint) > 0 {
		if wf, ok := want.Files[w.Entrypoint[0]]; !ok || wf.Dir {
			diffs = append(diffs, fmt.Sprintf("ENTRYPOINT %s: the Dockerfile makes no such file, its image would not start", w.Entrypoint[0]))
		}
	}
	diffs = append(diffs, runnable(got, files)...)
	return diffs, nil
}

// runnable checks that the image can start: a numeric USER (the kubelet
// cannot verify runAsNonRoot for a user name), an ENTRYPOINT that is a
// regular file the USER may execute, and beside it the cluster reporter,
// which `catops-k8s cluster` execs, executable by the USER too.
func runnable(cfg v1.Config, files map[string]Entry) []string {
	uidS, gidS, _ := strings.Cut(cfg.User, ":")
	uid, err := strconv.Atoi(orZero(uidS))
	if err != nil {
		return []string{fmt.Sprintf("USER %q is not a numeric uid[:gid]: the kubelet cannot check runAsNonRoot against a name", cfg.User)}
	}
	gid, err := strconv.Atoi(orZero(gidS))
	if err != nil {
		return []string{fmt.Sprintf("USER %q: the group is not numeric", cfg.User)}
	}
	if len(cfg.Entrypoint) == 0 {
		return []string{"the image has no ENTRYPOINT"}
	}
	exe := cfg.Entrypoint[0]
	if msg := executable(files, exe, cfg.User, uid, gid); msg != "" {
		return []string{fmt.Sprintf("ENTRYPOINT %s%s", exe, msg)}
	}
	cluster := path.Join(path.Dir(exe), ClusterBinaryName)
	if msg := executable(files, cluster, cfg.User, uid, gid); msg != "" {
		return []string{fmt.Sprintf("`%s cluster` execs %s, beside the ENTRYPOINT: %s%s", AgentBinaryName, cluster, cluster, msg)}
	}
	return nil
}

// executable says what stops USER user (uid:gid) from executing file (""
// if nothing), as the end of a sentence that starts with the file's name.
func executable(files map[string]Entry, file, user string, uid, gid int) string {
	e, ok := files[file]
	switch {
	case !ok:
		return ": no such file in the image"
	case e.Dir:
		return " is a directory"
	}
	var x fs.FileMode
	switch {
	case uid == 0:
		x = 0o111
	case uid == e.UID:
		x = 0o100
	case gid == e.GID:
		x = 0o010
	default:
		x = 0o001
	}
	if e.Mode&x == 0 {
		return fmt.Sprintf(" (mode %v, owner %d:%d) is not executable by USER %s", e.Mode, e.UID, e.GID, user)
	}
	return ""
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func copyLine(wf WantFile) string {
	if wf.Copied {
		return fmt.Sprintf(" (COPY, line %d)", wf.Line)
	}
	return ""
}

func kind(dir bool) string {
	if dir {
		return "directory"
	}
	return "file"
}

func jsonList(l []string) string {
	if l == nil {
		return "none"
	}
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func sortedKV(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, " %s=%q", k, m[k])
	}
	return "[" + strings.TrimSpace(b.String()) + "]"
}

func sameKeys(a, b map[string]struct{}) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}
