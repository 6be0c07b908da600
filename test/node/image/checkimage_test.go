package image

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hack/check-image.sh (`make check-image`) checks Dockerfile.k8s with no
// image at hand; its parse step (--parse-only, about a second: no builds)
// requires both binaries of `make build` in the final stage, the cluster
// reporter beside the agent, and says what is wrong in one FAIL line. The
// Go check (Expect) requires the same of the images built here.
func TestCheckImageScriptRequiresClusterReporterBesideAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs hack/check-image.sh --parse-only four times")
	}
	for _, tool := range []string{"bash", "awk", "make", "sed", "grep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("hack/check-image.sh needs %s: %v", tool, err)
		}
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "..", "hack", "check-image.sh"))
	require.NoError(t, err)
	orig, err := os.ReadFile(dockerfileK8s)
	require.NoError(t, err)
	const clLine = "COPY --from=build /src/catops-k8s-cluster /catops-k8s-cluster\n"
	require.Contains(t, string(orig), clLine, "the variants' starting point is no longer in Dockerfile.k8s: update the test")

	tests := []struct {
		name string
		new  string // replaces clLine
		// wantFail: the one FAIL line; "": the check passes, saying wantOK.
		wantFail, wantOK string
	}{
		{name: "Dockerfile.k8s", new: clLine,
			wantOK: "  ok    final stage copies catops-k8s-cluster from 'build' beside catops-k8s (/catops-k8s-cluster)"},
		{name: "no cluster reporter", new: "",
			wantFail: "  FAIL  final stage does not copy catops-k8s-cluster from 'build': `catops-k8s cluster` execs it from beside catops-k8s, " +
				"add COPY --from=build /src/catops-k8s-cluster /catops-k8s-cluster"},
		{name: "cluster reporter in another directory", new: "COPY --from=build /src/catops-k8s-cluster /usr/local/bin/\n",
			wantFail: "  FAIL  final stage puts catops-k8s-cluster at /usr/local/bin/catops-k8s-cluster, not beside catops-k8s (/catops-k8s): " +
				"`catops-k8s cluster` execs /catops-k8s-cluster"},
		{name: "cluster reporter under another name", new: "COPY --from=build /src/catops-k8s-cluster /catops-cluster\n",
			wantFail: "  FAIL  final stage puts catops-k8s-cluster at /catops-cluster, not beside catops-k8s (/catops-k8s): " +
				"`catops-k8s cluster` execs /catops-k8s-cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := strings.Replace(string(orig), clLine, tt.new, 1)
			file := filepath.Join(t.TempDir(), "Dockerfile.k8s")
			require.NoError(t, os.WriteFile(file, []byte(data), 0o600))
			cmd := exec.Command("bash", script, "--parse-only")
			cmd.Env = append(os.Environ(), "DOCKERFILE="+file)
			out, err := cmd.CombinedOutput()
			var fails []string
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(l, "  FAIL  ") {
					fails = append(fails, l)
				}
			}
			if tt.wantFail == "" {
				require.NoError(t, err, "%s", out)
				assert.Contains(t, string(out), tt.wantOK+"\n")
				return
			}
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "check-image passed a Dockerfile it must refuse (err %v):\n%s", err, out)
			assert.Equal(t, 1, exit.ExitCode())
			require.Len(t, fails, 1, "one FAIL line:\n%s", out)
			assert.True(t, strings.HasPrefix(fails[0], tt.wantFail), "got %q, want it to start with %q", fails[0], tt.wantFail)
			assert.Contains(t, string(out), "check-image: FAILED")
		})
	}
}
