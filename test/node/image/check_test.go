package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dockerfileK8s is the project's Dockerfile, relative to this package.
var dockerfileK8s = filepath.Join("..", "..", "..", "Dockerfile.k8s")

func agentImage(t *testing.T, edit func(*Spec)) (v1.Image, Base) {
	t.Helper()
	base := Distroless([]byte("a CA bundle\n"))
	spec := Agent(fakeBinary("agent"), base)
	if edit != nil {
		edit(&spec)
	}
	img, err := Build(spec)
	require.NoError(t, err)
	return img, base
}

// The agent image the rig runs is the image Dockerfile.k8s builds: same
// binary path, USER, ENTRYPOINT, CMD, WORKDIR, ENV, ports, labels and files.
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
		userLine  = "USER 65534:65534\n"
		entryLine = `ENTRYPOINT ["/catops-k8s"]` + "\n"
		fromLine  = "FROM gcr.io/distroless/static:nonroot\n"
	)
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
		{name: "binary elsewhere", old: copyLine + userLine + entryLine,
			new: "COPY --from=build /src/catops-k8s /usr/local/bin/catops-k8s\n" + userLine + `ENTRYPOINT ["/usr/local/bin/catops-k8s"]` + "\n",
			wantDiff: []string{
				`ENTRYPOINT: the Dockerfile gives ["/usr/local/bin/catops-k8s"], the image has ["/catops-k8s"]`,
				"/usr/local/bin/catops-k8s: the Dockerfile makes it (COPY, line",
				"/catops-k8s: in the image, but neither the base stand-in nor the Dockerfile makes it",
			}},
		{name: "binary moved, ENTRYPOINT not", old: copyLine, new: "COPY --from=build /src/catops-k8s /bin/\n",
			wantDiff: []string{"ENTRYPOINT /catops-k8s: the Dockerfile makes no such file, its image would not start"}},
		{name: "relative destination lands in the base's WORKDIR", old: copyLine, new: "COPY --from=build /src/catops-k8s catops-k8s\n",
			wantDiff: []string{"/home/nonroot/catops-k8s: the Dockerfile makes it (COPY, line"}},
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
			wantErr: `COPY from "the build context": the agent image copies only the build stage's binary`},
		{name: "a second file from the build", old: copyLine, new: copyLine + "COPY --from=build /src/LICENSE /LICENSE\n",
			wantErr: "COPY of /src/LICENSE: the agent image copies only catops-k8s"},
		{name: "an ARG", old: userLine, new: "ARG VERSION\n" + userLine,
			wantErr: "ARG in the final stage is not modelled"},

		// Changes that build the same image.
		{name: "base pinned by digest", old: fromLine,
			new: "FROM gcr.io/distroless/static:nonroot@sha256:0000000000000000000000000000000000000000000000000000000000000000\n"},
		{name: "directory destination", old: copyLine, new: "COPY --link --from=build /src/catops-k8s /\n"},
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
		"binary not executable by 65534": {func(s *Spec) { s.Files[len(s.Files)-1].Mode = 0o700 },
			"ENTRYPOINT /catops-k8s (mode -rwx------, owner 0:0) is not executable by USER 65534:65534"},
		"binary under another name": {func(s *Spec) {
			s.Files[len(s.Files)-1].Path = "/agent"
			s.Config.Entrypoint = []string{"/agent"}
		}, `ENTRYPOINT: the Dockerfile gives ["/catops-k8s"], the image has ["/agent"]`},
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
