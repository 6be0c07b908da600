package image

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The files `make build` writes, the ones the final stage of Dockerfile.k8s
// copies from the build stage: the node agent (the ENTRYPOINT) and the
// cluster reporter, which `catops-k8s cluster` execs from the directory of
// the running catops-k8s (cmd/kubernetes, execCluster), so it must be copied
// beside it under this very name.
const (
	AgentBinaryName   = "catops-k8s"
	ClusterBinaryName = "catops-k8s-cluster"
)

// Want is what a Dockerfile's final stage makes of a Base: the runtime
// config and the files (the base's, the copies and the directories above).
type Want struct {
	Config v1.Config
	// Files by path; Copied marks the COPY destinations, whose mode and
	// owner are known.
	Files map[string]WantFile
}

// WantFile is one path the image must hold.
type WantFile struct {
	Dir    bool
	Copied bool
	Mode   fs.FileMode
	UID    int
	GID    int
	Line   int // of the COPY
}

// CheckDockerfile compares img with the final stage of the Dockerfile at
// file, built on base. It returns one line per difference (none: they
// agree); the error is for a Dockerfile it cannot read or a final stage
// with an instruction it does not model.
func CheckDockerfile(file string, base Base, img v1.Image) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	stages, err := ParseDockerfile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	want, err := Expect(stages, base)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return Compare(want, img)
}

// Expect applies the final stage of stages to base, as a Dockerfile build
// would. It knows FROM (which must be base.Ref; a pinned @digest is
// ignored), COPY --from=<earlier stage> of the two binaries, USER,
// ENTRYPOINT, CMD, WORKDIR, ENV, EXPOSE, LABEL and STOPSIGNAL, with $VAR and
// ${VAR} taken from ENV. Any other instruction (RUN, ADD, ARG, VOLUME,
// SHELL, HEALTHCHECK, ...) is an error: the agent image does not model it,
// and test/node/image must learn it first. A final stage that does not copy
// both binaries, or not side by side (ClusterBinaryName in the directory of
// every copy of AgentBinaryName), is an error too: its image could not run
// `catops-k8s cluster`, whatever the image built here holds.
func Expect(stages []Stage, base Base) (Want, error) {
	if len(stages) == 0 {
		return Want{}, fmt.Errorf("no stages")
	}
	final := stages[len(stages)-1]
	from, _, _ := strings.Cut(final.From, "@")
	if from != base.Ref {
		return Want{}, fmt.Errorf("line %d: the final stage is FROM %s, the agent image stands in for %s (test/node/image/distroless.go)",
			final.Line, final.From, base.Ref)
	}
	cfg := base.Config
	cfg.Env = slices.Clone(base.Config.Env)
	cfg.ExposedPorts = maps.Clone(base.Config.ExposedPorts)
	cfg.Labels = maps.Clone(base.Config.Labels)
	files := map[string]WantFile{}
	for _, f := range base.Files {
		files[f.Path] = WantFile{Dir: f.Dir}
	}
	var copies []copied
	for _, ins := range final.Instructions {
		expand := func(s string) string { return expandEnv(s, cfg.Env) }
		switch ins.Cmd {
		case "COPY":
			cps, err := parseCopy(ins, stages[:len(stages)-1], cfg.WorkingDir, expand)
			if err != nil {
				return Want{}, err
			}
			for _, c := range cps {
				files[c.dst] = c.file
			}
			copies = append(copies, cps...)
		case "USER":
			cfg.User = expand(ins.Args)
		case "ENTRYPOINT":
			cfg.Entrypoint = command(ins.Args)
			cfg.Cmd = nil // an ENTRYPOINT resets the base's CMD
		case "CMD":
			cfg.Cmd = command(ins.Args)
		case "WORKDIR":
			wd := expand(ins.Args)
			if !path.IsAbs(wd) {
				wd = path.Join(orRoot(cfg.WorkingDir), wd)
			}
			cfg.WorkingDir = path.Clean(wd)
			if _, ok := files[cfg.WorkingDir]; !ok {
				files[cfg.WorkingDir] = WantFile{Dir: true}
			}
		case "ENV":
			kvs, err := keyValues(ins, expand)
			if err != nil {
				return Want{}, err
			}
			for _, kv := range kvs {
				cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
			}
		case "LABEL":
			kvs, err := keyValues(ins, expand)
			if err != nil {
				return Want{}, err
			}
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range kvs {
				cfg.Labels[kv[0]] = kv[1]
			}
		case "EXPOSE":
			words, err := splitWords(expand(ins.Args))
			if err != nil {
				return Want{}, fmt.Errorf("line %d: EXPOSE: %w", ins.Line, err)
			}
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range words {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				cfg.ExposedPorts[strings.ToLower(p)] = struct{}{}
			}
		case "STOPSIGNAL":
			cfg.StopSignal = expand(ins.Args)
		default:
			return Want{}, fmt.Errorf("line %d: %s in the final stage is not modelled by the agent image: "+
				"teach test/node/image (images.go, check.go) what it does first", ins.Line, ins.Cmd)
		}
	}
	if err := sideBySide(copies, final.Line); err != nil {
		return Want{}, err
	}
	for p := range maps.Clone(files) {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := files[dir]; !ok {
				files[dir] = WantFile{Dir: true}
			}
		}
	}
	return Want{Config: cfg, Files: files}, nil
}

// copied is one file a COPY puts in the image: which binary (the base name
// of its source), where, and how.
type copied struct {
	binary string
	dst    string
	file   WantFile
}

// sideBySide checks that the final stage (FROM at line) copies both
// binaries, the cluster reporter beside the agent: one line saying what is
// wrong and where.
func sideBySide(copies []copied, line int) error {
	var agents, clusters []copied
	for _, c := range copies {
		switch c.binary {
		case AgentBinaryName:
			agents = append(agents, c)
		case ClusterBinaryName:
			clusters = append(clusters, c)
		}
	}
	if len(agents) == 0 {
		return fmt.Errorf("line %d: the final stage does not copy %s, the binary `make build` writes", line, AgentBinaryName)
	}
	if len(clusters) == 0 {
		return fmt.Errorf("line %d: the final stage does not copy %s: `%s cluster` execs it from beside %s (COPY, line %d), "+
			"add COPY --from=<build stage> /src/%s %s", line, ClusterBinaryName, AgentBinaryName, agents[0].dst, agents[0].file.Line,
			ClusterBinaryName, path.Join(path.Dir(agents[0].dst), ClusterBinaryName))
	}
	for _, a := range agents {
		want := path.Join(path.Dir(a.dst), ClusterBinaryName)
		found := false
		for _, c := range clusters {
			found = found || c.dst == want
		}
		if !found {
			c := clusters[0]
			return fmt.Errorf("line %d: COPY puts %s at %s, not beside %s (COPY, line %d): `%s cluster` execs %s",
				c.file.Line, ClusterBinaryName, c.dst, a.dst, a.file.Line, AgentBinaryName, want)
		}
	}
	return nil
}

// parseCopy reads `COPY [--from=STAGE] [--chown=UID:GID] [--chmod=MODE]
// [--link] SRC... DST` where each SRC is one of the binaries of an earlier
// stage (several sources need a directory DST, ending in "/").
func parseCopy(ins Instruction, earlier []Stage, workdir string, expand func(string) string) ([]copied, error) {
	words, ok := execForm(ins.Args)
	if !ok {
		var err error
		if words, err = splitWords(ins.Args); err != nil {
			return nil, fmt.Errorf("line %d: COPY: %w", ins.Line, err)
		}
	}
	wf := WantFile{Copied: true, Mode: 0o755, Line: ins.Line} // go build's 0755 (umask 022 in the golang image)
	from := ""
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		flag, val, _ := strings.Cut(words[0], "=")
		words = words[1:]
		switch flag {
		case "--from":
			from = val
		case "--chown":
			u, g, ok := strings.Cut(expand(val), ":")
			if !ok {
				g = u
			}
			uid, err1 := strconv.Atoi(u)
			gid, err2 := strconv.Atoi(g)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("line %d: COPY --chown=%s: only numeric uid:gid is modelled", ins.Line, val)
			}
			wf.UID, wf.GID = uid, gid
		case "--chmod":
			m, err := strconv.ParseUint(val, 8, 32)
			if err != nil || m > 0o7777 {
				return nil, fmt.Errorf("line %d: COPY --chmod=%s: only an octal mode is modelled", ins.Line, val)
			}
			wf.Mode = fs.FileMode(m) & fs.ModePerm
			if m&0o1000 != 0 {
				wf.Mode |= fs.ModeSticky
			}
		case "--link":
			// The same files and metadata, only built differently.
		default:
			return nil, fmt.Errorf("line %d: COPY %s is not modelled by the agent image", ins.Line, flag)
		}
	}
	if len(words) < 2 {
		return nil, fmt.Errorf("line %d: COPY without a source and a destination", ins.Line)
	}
	if !fromEarlierStage(from, earlier) {
		return nil, fmt.Errorf("line %d: COPY from %q: the agent image copies only the build stage's binaries (COPY --from=<stage>)",
			ins.Line, orContext(from))
	}
	srcs, dst := words[:len(words)-1], expand(words[len(words)-1])
	if len(srcs) > 1 && !strings.HasSuffix(dst, "/") {
		return nil, fmt.Errorf("line %d: COPY of %d sources to %s: the destination must be a directory, ending in /", ins.Line, len(srcs), dst)
	}
	var out []copied
	for _, src := range srcs {
		src = expand(src)
		name := path.Base(src)
		if (name != AgentBinaryName && name != ClusterBinaryName) || strings.ContainsAny(src, "*?[") {
			return nil, fmt.Errorf("line %d: COPY of %s: the agent image copies only %s and %s, the binaries `make build` writes",
				ins.Line, src, AgentBinaryName, ClusterBinaryName)
		}
		d := dst
		if strings.HasSuffix(d, "/") {
			d += name
		}
		if !path.IsAbs(d) {
			d = path.Join(orRoot(workdir), d)
		}
		out = append(out, copied{binary: name, dst: path.Clean(d), file: wf})
	}
	return out, nil
}

func fromEarlierStage(from string, earlier []Stage) bool {
	if from == "" {
		return false
	}
	for i, st := range earlier {
		if strings.EqualFold(st.Name, from) || strconv.Itoa(i) == from {
			return true
		}
	}
	return false
}

func orContext(from string) string {
	if from == "" {
		return "the build context"
	}
	return from
}

func orRoot(dir string) string {
	if dir == "" {
		return "/"
	}
	return dir
}

// command reads ENTRYPOINT or CMD: the exec form as is, the shell form as
// the builder stores it (the default SHELL, which the image does not have).
func command(args string) []string {
	if words, ok := execForm(args); ok {
		return words
	}
	return []string{"/bin/sh", "-c", args}
}

// keyValues reads `KEY=VALUE ...` (or the legacy `KEY VALUE`) of ENV/LABEL.
func keyValues(ins Instruction, expand func(string) string) ([][2]string, error) {
	words, err := splitWords(ins.Args)
	if err != nil {
		return nil, fmt.Errorf("line %d: %s: %w", ins.Line, ins.Cmd, err)
	}
	if len(words) > 0 && !strings.Contains(words[0], "=") {
		key, val, _ := strings.Cut(ins.Args, " ")
		return [][2]string{{key, expand(strings.TrimSpace(val))}}, nil
	}
	var kvs [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("line %d: %s: %q is not KEY=VALUE", ins.Line, ins.Cmd, w)
		}
		kvs = append(kvs, [2]string{k, expand(v)})
	}
	return kvs, nil
}

func expandEnv(s string, env []string) string {
	return os.Expand(s, func(k string) string {
		for _, kv := range env {
			if key, val, _ := strings.Cut(kv, "="); key == k {
				return val
			}
		}
		return ""
	})
}

func setEnv(env []string, key, val string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			env[i] = key + "=" + val
			return env
		}
	}
	return append(env, key+"="+val)
}
