package image

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dockerfileK8s is the project's Dockerfile, relative to this package.
var dockerfileK8s = filepath.Join("..", "..", "..", "Dockerfile.k8s")

// fileOf is the file at p in spec (the test fails without one).
func fileOf(t *testing.T, spec *Spec, p string) *File {
	t.Helper()
	for i := range spec.Files {
		if spec.Files[i].Path == p {
			return &spec.Files[i]
		}
	}
	t.Fatalf("no %s in the spec", p)
	return nil
}

// lineOf is the number of the line of data that is line.
func lineOf(t *testing.T, data []byte, line string) int {
	t.Helper()
	for i, l := range strings.SplitAfter(string(data), "\n") {
		if l == line {
			return i + 1
		}
	}
	t.Fatalf("no line %q", line)
	return 0
}

func agentImage(t *testing.T, edit func(*Spec)) (v1.Image, Base) {
	t.Helper()
	base := Distroless([]byte("a CA bundle\n"))
	spec := agentSpec(t, fakeBinary("agent"), fakeBinary("cluster"), base)
	if edit != nil {
		edit(&spec)
	}
	img, err := Build(spec)
	require.NoError(t, err)
	return img, base
}

// The agent image the rig runs is the image Dockerfile.k8s builds: same
// binary paths (the agent and, beside it, the cluster reporter), USER,
// ENTRYPOINT, CMD, WORKDIR, ENV, ports, labels and files.
func TestDockerfileK8sAgrees(t *testing.T) {
	img, base := agentImage(t, nil)
	diffs, err := CheckDockerfile(dockerfileK8s, base, img)
	require.NoError(t, err)
	assert.Empty(t, diffs)
}

// A change to Dockerfile.k8s that the agent image does not follow fails the
// check; changes that leave the image as it is pass.
func TestDockerfileChangesAreCaught(t *testing.T) {
	orig, err := os.ReadFile(dockerfileK8s)
	require.NoError(t, err)
	const (
		copyLine  = "COPY --from=build /src/catops-k8s /catops-k8s\n"
		clLine    = "COPY --from=build /src/catops-k8s-cluster /catops-k8s-cluster\n"
		userLine  = "USER 65534:65534\n"
		entryLine = `ENTRYPOINT ["/catops-k8s"]` + "\n"
		fromLine  = "FROM gcr.io/distroless/static:nonroot\n"
	)
	fromAt, agentAt, clAt := lineOf(t, orig, fromLine), lineOf(t, orig, copyLine), lineOf(t, orig, clLine)
	tests := []struct {
		name     string
		old, new string
		// wantDiff: lines of the difference (each must appear); wantErr: the
		// error for a final stage the check does not model; neither: agree.
		wantDiff []string
		wantErr  string
	}{
		{name: "another user", old: userLine, new: "USER 65532:65532\n",
			wantDiff: []string{`USER: the Dockerfile gives "65532:65532", the image has "65534:65534"`}},
		{name: "binaries elsewhere", old: copyLine + clLine + userLine + entryLine,
			new: "COPY --from=build /src/catops-k8s /usr/local/bin/catops-k8s\n" +
				"COPY --from=build /src/catops-k8s-cluster /usr/local/bin/\n" + userLine + `ENTRYPOINT ["/usr/local/bin/catops-k8s"]` + "\n",
			wantDiff: []string{
				`ENTRYPOINT: the Dockerfile gives ["/usr/local/bin/catops-k8s"], the image has ["/catops-k8s"]`,
				"/usr/local/bin/catops-k8s: the Dockerfile makes it (COPY, line",
				"/usr/local/bin/catops-k8s-cluster: the Dockerfile makes it (COPY, line",
				"/catops-k8s: in the image, but neither the base stand-in nor the Dockerfile makes it",
				"/catops-k8s-cluster: in the image, but neither the base stand-in nor the Dockerfile makes it",
			}},
		{name: "binaries moved, ENTRYPOINT not", old: copyLine + clLine,
			new:      "COPY --from=build /src/catops-k8s /bin/\nCOPY --from=build /src/catops-k8s-cluster /bin/\n",
			wantDiff: []string{"ENTRYPOINT /catops-k8s: the Dockerfile makes no such file, its image would not start"}},
		{name: "relative destinations land in the base's WORKDIR", old: copyLine + clLine,
			new: "COPY --from=build /src/catops-k8s catops-k8s\nCOPY --from=build /src/catops-k8s-cluster ./\n",
			wantDiff: []string{
				"/home/nonroot/catops-k8s: the Dockerfile makes it (COPY, line",
				"/home/nonroot/catops-k8s-cluster: the Dockerfile makes it (COPY, line",
			}},
		{name: "cluster reporter not executable by the user", old: clLine,
			new:      "COPY --from=build --chmod=0700 /src/catops-k8s-cluster /catops-k8s-cluster\n",
			wantDiff: []string{fmt.Sprintf("/catops-k8s-cluster: the Dockerfile copies it (COPY, line %d) with mode -rwx------ owner 0:0, the image has mode -rwxr-xr-x owner 0:0", clAt)}},
		{name: "entrypoint arguments", old: entryLine, new: `ENTRYPOINT ["/catops-k8s", "--once"]` + "\n",
			wantDiff: []string{`ENTRYPOINT: the Dockerfile gives ["/catops-k8s", "--once"], the image has ["/catops-k8s"]`}},
		{name: "shell-form entrypoint", old: entryLine, new: "ENTRYPOINT /catops-k8s\n",
			wantDiff: []string{`ENTRYPOINT: the Dockerfile gives ["/bin/sh", "-c", "/catops-k8s"], the image has ["/catops-k8s"]`}},
		{name: "a CMD", old: entryLine, new: entryLine + `CMD ["--log-level=debug"]` + "\n",
			wantDiff: []string{`CMD: the Dockerfile gives ["--log-level=debug"], the image has none`}},
		{name: "a WORKDIR", old: userLine, new: "WORKDIR /\n" + userLine,
			wantDiff: []string{`WORKDIR: the Dockerfile gives "/", the image has "/home/nonroot"`}},
		{name: "an EXPOSE", old: entryLine, new: entryLine + "EXPOSE 8080 9090/udp\n",
			wantDiff: []string{"EXPOSE: the Dockerfile gives [8080/tcp 9090/udp], the image has []"}},
		{name: "an ENV", old: userLine, new: userLine + "ENV GOMEMLIMIT=100MiB PATH=/bin:$PATH\n",
			wantDiff: []string{`ENV: the Dockerfile gives [GOMEMLIMIT="100MiB" PATH="/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" SSL_CERT_FILE="/etc/ssl/certs/ca-certificates.crt"], the image has [PATH=`}},
		{name: "a LABEL", old: userLine, new: userLine + `LABEL org.opencontainers.image.source="https://github.com/catops/cli"` + "\n",
			wantDiff: []string{`LABEL: the Dockerfile gives [org.opencontainers.image.source="https://github.com/catops/cli"], the image has []`}},
		{name: "a STOPSIGNAL", old: entryLine, new: entryLine + "STOPSIGNAL SIGINT\n",
			wantDiff: []string{`STOPSIGNAL: the Dockerfile gives "SIGINT", the image has ""`}},
		{name: "binary not executable by the user", old: copyLine, new: "COPY --from=build --chmod=0700 /src/catops-k8s /catops-k8s\n",
			wantDiff: []string{"with mode -rwx------ owner 0:0, the image has mode -rwxr-xr-x owner 0:0"}},
		{name: "binary owned by the user", old: copyLine, new: "COPY --from=build --chown=65534:65534 /src/catops-k8s /catops-k8s\n",
			wantDiff: []string{"with mode -rwxr-xr-x owner 65534:65534, the image has mode -rwxr-xr-x owner 0:0"}},
		{name: "another base", old: fromLine, new: "FROM gcr.io/distroless/static:latest\n",
			wantErr: "the final stage is FROM gcr.io/distroless/static:latest, the agent image stands in for gcr.io/distroless/static:nonroot"},
		{name: "a RUN", old: userLine, new: "RUN mkdir /data\n" + userLine,
			wantErr: "RUN in the final stage is not modelled by the agent image"},
		{name: "a copy from the context", old: copyLine, new: copyLine + "COPY deploy/catops.yaml /etc/catops.yaml\n",
			wantErr: `COPY from "the build context": the agent image copies only the build stage's binaries`},
		{name: "a third file from the build", old: copyLine, new: copyLine + "COPY --from=build /src/LICENSE /LICENSE\n",
			wantErr: "COPY of /src/LICENSE: the agent image copies only catops-k8s and catops-k8s-cluster, the binaries `make build` writes"},
		{name: "a second source, no directory", old: copyLine + clLine, new: "COPY --from=build /src/catops-k8s /src/catops-k8s-cluster /x\n",
			wantErr: "COPY of 2 sources to /x: the destination must be a directory, ending in /"},

		// The cluster reporter: `catops-k8s cluster` execs catops-k8s-cluster
		// from the directory of catops-k8s; a final stage without it there
		// fails, whatever the image.
		{name: "no cluster reporter", old: clLine, new: "",
			wantErr: fmt.Sprintf("line %d: the final stage does not copy catops-k8s-cluster: `catops-k8s cluster` execs it from beside /catops-k8s (COPY, line %d), "+
				"add COPY --from=<build stage> /src/catops-k8s-cluster /catops-k8s-cluster", fromAt, agentAt)},
		{name: "cluster reporter in another directory", old: clLine, new: "COPY --from=build /src/catops-k8s-cluster /usr/local/bin/\n",
			wantErr: fmt.Sprintf("line %d: COPY puts catops-k8s-cluster at /usr/local/bin/catops-k8s-cluster, not beside /catops-k8s (COPY, line %d): "+
				"`catops-k8s cluster` execs /catops-k8s-cluster", clAt, agentAt)},
		{name: "cluster reporter under another name", old: clLine, new: "COPY --from=build /src/catops-k8s-cluster /catops-cluster\n",
			wantErr: fmt.Sprintf("line %d: COPY puts catops-k8s-cluster at /catops-cluster, not beside /catops-k8s (COPY, line %d): `catops-k8s cluster` execs /catops-k8s-cluster",
				clAt, agentAt)},
		{name: "agent moved, cluster reporter not", old: copyLine + clLine + userLine + entryLine,
			new: "COPY --from=build /src/catops-k8s /bin/catops-k8s\n" + clLine + userLine + `ENTRYPOINT ["/bin/catops-k8s"]` + "\n",
			wantErr: fmt.Sprintf("line %d: COPY puts catops-k8s-cluster at /catops-k8s-cluster, not beside /bin/catops-k8s (COPY, line %d): `catops-k8s cluster` execs /bin/catops-k8s-cluster",
				clAt, agentAt)},
		{name: "no agent", old: copyLine, new: "",
			wantErr: fmt.Sprintf("line %d: the final stage does not copy catops-k8s, the binary `make build` writes", fromAt)},
		{name: "an ARG", old: userLine, new: "ARG VERSION\n" + userLine,
			wantErr: "ARG in the final stage is not modelled"},

		// Changes that build the same image.
		{name: "base pinned by digest", old: fromLine,
			new: "FROM gcr.io/distroless/static:nonroot@sha256:0000000000000000000000000000000000000000000000000000000000000000\n"},
		{name: "directory destination", old: copyLine, new: "COPY --link --from=build /src/catops-k8s /\n"},
		{name: "both binaries in one COPY", old: copyLine + clLine, new: "COPY --from=build /src/catops-k8s /src/catops-k8s-cluster /\n"},
		{name: "cluster reporter copied first", old: copyLine + clLine, new: clLine + copyLine},
		{name: "continuations, comments, lower case", old: userLine + entryLine,
			new: "# who runs it\nuser 65534:65534\nentrypoint [ \\\n  # the binary\n  \"/catops-k8s\" \\\n]\n"},
		{name: "USER without the group", old: userLine, new: "USER 65534\n",
			wantDiff: []string{`USER: the Dockerfile gives "65534", the image has "65534:65534"`}},
	}
	img, base := agentImage(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Contains(t, string(orig), tt.old, "the variant's starting point is no longer in Dockerfile.k8s: update the test")
			file := filepath.Join(t.TempDir(), "Dockerfile.k8s")
			require.NoError(t, os.WriteFile(file, []byte(strings.Replace(string(orig), tt.old, tt.new, 1)), 0o600))
			diffs, err := CheckDockerfile(file, base, img)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			if len(tt.wantDiff) == 0 {
				assert.Empty(t, diffs)
				return
			}
			require.NotEmpty(t, diffs, "the check passed a Dockerfile the image does not follow")
			all := strings.Join(diffs, "\n")
			for _, want := range tt.wantDiff {
				assert.Contains(t, all, want)
			}
		})
	}
}

// A change to the agent image that Dockerfile.k8s does not make fails the
// check too.
func TestImageChangesAreCaught(t *testing.T) {
	tests := map[string]struct {
		edit func(*Spec)
		want string
	}{
		"another user": {func(s *Spec) { s.Config.User = "65532" },
			`USER: the Dockerfile gives "65534:65534", the image has "65532"`},
		"a user name": {func(s *Spec) { s.Config.User = "nobody" },
			`USER "nobody" is not a numeric uid[:gid]`},
		"a working directory": {func(s *Spec) { s.Config.WorkingDir = "/" },
			`WORKDIR: the Dockerfile gives "/home/nonroot", the image has "/"`},
		"an argument": {func(s *Spec) { s.Config.Cmd = []string{"--help"} },
			`CMD: the Dockerfile gives none, the image has ["--help"]`},
		"an env var": {func(s *Spec) { s.Config.Env = append(s.Config.Env, "GODEBUG=x") },
			"ENV: the Dockerfile gives [PATH="},
		"an extra file": {func(s *Spec) { s.Files = append(s.Files, File{Path: "/etc/catops.yaml", Mode: 0o644}) },
			"/etc/catops.yaml: in the image, but neither the base stand-in nor the Dockerfile makes it"},
		"a missing base file": {func(s *Spec) { s.Files = s.Files[1:] },
			"/etc/passwd: the Dockerfile makes it, the image has no such path"},
		"binary not executable by 65534": {func(s *Spec) { fileOf(t, s, AgentPath).Mode = 0o700 },
			"ENTRYPOINT /catops-k8s (mode -rwx------, owner 0:0) is not executable by USER 65534:65534"},
		"binary under another name": {func(s *Spec) {
			fileOf(t, s, AgentPath).Path = "/agent"
			s.Config.Entrypoint = []string{"/agent"}
		}, `ENTRYPOINT: the Dockerfile gives ["/catops-k8s"], the image has ["/agent"]`},
		"cluster reporter not executable by 65534": {func(s *Spec) { fileOf(t, s, ClusterPath).Mode = 0o700 },
			"`catops-k8s cluster` execs /catops-k8s-cluster, beside the ENTRYPOINT: /catops-k8s-cluster (mode -rwx------, owner 0:0) is not executable by USER 65534:65534"},
		"no cluster reporter": {func(s *Spec) {
			s.Files = slices.DeleteFunc(s.Files, func(f File) bool { return f.Path == ClusterPath })
		},
			"`catops-k8s cluster` execs /catops-k8s-cluster, beside the ENTRYPOINT: /catops-k8s-cluster: no such file in the image"},
		"cluster reporter elsewhere": {func(s *Spec) { fileOf(t, s, ClusterPath).Path = "/bin/catops-k8s-cluster" },
			"/catops-k8s-cluster: the Dockerfile makes it (COPY, line"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			img, base := agentImage(t, tt.edit)
			diffs, err := CheckDockerfile(dockerfileK8s, base, img)
			require.NoError(t, err)
			assert.Contains(t, strings.Join(diffs, "\n"), tt.want)
		})
	}
}
