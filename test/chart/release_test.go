package chart

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The release tests check that what the chart installs is what the release
// workflow pushes: hack/release.sh is the one place that names the image, its
// tags, the version and the chart registry; these tests hold the chart,
// deploy/, the workflow, Dockerfile.k8s, the Makefile and the README to it.

const (
	// The image name of the guide the project started from.
	wantImage         = "ghcr.io/catops/cli/kubernetes-connector"
	wantChartRegistry = "oci://ghcr.io/catops/charts"
	workflowPath      = ".github/workflows/kubernetes.yml"
)

// releaseScript runs hack/release.sh with args (and extra environment) and
// returns its stdout, its stderr and whether it succeeded.
func releaseScript(t *testing.T, env []string, args ...string) (stdout, stderr string, ok bool) {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(t), "hack", "release.sh"), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "running hack/release.sh %v", args)
	}
	return out.String(), errb.String(), err == nil
}

// runRelease runs hack/release.sh, which must succeed, and returns its output
// lines.
func runRelease(t *testing.T, env []string, args ...string) []string {
	t.Helper()
	out, stderr, ok := releaseScript(t, env, args...)
	require.True(t, ok, "hack/release.sh %s: %s", strings.Join(args, " "), stderr)
	return strings.Split(strings.TrimRight(out, "\n"), "\n")
}

// releaseRefused runs hack/release.sh, which must fail with one line on
// stderr and nothing on stdout, and returns that line.
func releaseRefused(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, stderr, ok := releaseScript(t, env, args...)
	require.False(t, ok, "hack/release.sh %s should fail; printed %q", strings.Join(args, " "), out)
	assert.Empty(t, out, "nothing on stdout when refused")
	line := strings.TrimRight(stderr, "\n")
	assert.NotContains(t, line, "\n", "refused with one line")
	assert.True(t, strings.HasPrefix(line, "release.sh: "), "the line names the script: %q", line)
	return line
}

// isSemver: X.Y.Z or X.Y.Z-PRE, numeric identifiers without leading zeros,
// no build metadata (not allowed in image tags).
func isSemver(v string) bool {
	core, pre, hasPre := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	numeric := func(s string) bool {
		if s == "" || (len(s) > 1 && s[0] == '0') {
			return false
		}
		_, err := strconv.ParseUint(s, 10, 64)
		return err == nil
	}
	for _, p := range parts {
		if !numeric(p) {
			return false
		}
	}
	if !hasPre {
		return true
	}
	ident := regexp.MustCompile(`^[0-9A-Za-z-]+$`)
	digits := regexp.MustCompile(`^[0-9]+$`)
	for _, id := range strings.Split(pre, ".") {
		if !ident.MatchString(id) || (digits.MatchString(id) && !numeric(id)) {
			return false
		}
	}
	return true
}

func TestReleaseIsSemver(t *testing.T) {
	for _, v := range []string{"0.1.0", "1.2.3", "10.20.30", "1.2.3-rc.1", "1.2.3-0a", "1.2.3-alpha-1.0"} {
		assert.True(t, isSemver(v), v)
	}
	for _, v := range []string{"", "1.2", "v1.2.3", "01.2.3", "1.2.3-", "1.2.3-rc.01", "1.2.3-rc..1", "1.2.3+b", "1.2.3.4", "1.2.x"} {
		assert.False(t, isSemver(v), v)
	}
}

// chartVersion returns Chart.yaml's version after checking that it is
// semver and equal to appVersion: chart and connector are released
// together, under one version.
func chartVersion(t *testing.T) string {
	t.Helper()
	c := yamlFile(t, "Chart.yaml")
	version, _ := c["version"].(string)
	appVersion, _ := c["appVersion"].(string)
	require.True(t, isSemver(version), "charts/catops/Chart.yaml version %q is not X.Y.Z[-PRE]", version)
	require.Equal(t, version, appVersion,
		"charts/catops/Chart.yaml: version and appVersion must be the same (the release's version)")
	return version
}

// TestReleaseChartInstallsTheReleasedImage: the chart, its default render and
// deploy/catops.yaml all install <image>:<appVersion>, the image and tag the
// release workflow pushes.
func TestReleaseChartInstallsTheReleasedImage(t *testing.T) {
	version := chartVersion(t)
	assert.Equal(t, []string{version}, runRelease(t, nil, "current"))
	assert.Equal(t, []string{wantImage}, runRelease(t, nil, "image"))
	assert.Equal(t, []string{wantImage}, runRelease(t, nil, "image", "catops/cli"))
	want := wantImage + ":" + version

	image := yamlFile(t, "values.yaml")["image"].(map[string]any)
	assert.Equal(t, wantImage, image["repository"], "charts/catops/values.yaml image.repository")
	assert.Equal(t, "", image["tag"], "charts/catops/values.yaml image.tag: empty, so the tag is the appVersion")

	r := render(t, "--set", "auth.token=x")
	assert.Equal(t, want, r.container(t).Image, "helm template")

	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "catops.yaml"))
	require.NoError(t, err)
	assert.Equal(t, want, decode(t, string(data)).container(t).Image,
		"deploy/catops.yaml (regenerate it with `make manifests`)")
}

// writeChart makes a copy of charts/catops in a temporary folder with
// Chart.yaml's version and appVersion set, and returns its path.
func writeChart(t *testing.T, version, appVersion string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "catops")
	require.NoError(t, os.CopyFS(dir, os.DirFS(chartDir(t))))
	path := filepath.Join(dir, "Chart.yaml")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	s := regexp.MustCompile(`(?m)^version: .*$`).ReplaceAllString(string(data), "version: "+version)
	s = regexp.MustCompile(`(?m)^appVersion: .*$`).ReplaceAllString(s, `appVersion: "`+appVersion+`"`)
	require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
	return dir
}

func TestReleaseVersionFromTag(t *testing.T) {
	current := chartVersion(t)
	for _, ref := range []string{"v" + current, "refs/tags/v" + current, "v" + current + "-rc.1"} {
		want := strings.TrimPrefix(strings.TrimPrefix(ref, "refs/tags/"), "v")
		assert.Equal(t, []string{want}, runRelease(t, nil, "version", ref), ref)
	}

	chart123 := []string{"CHART_DIR=" + writeChart(t, "1.2.3", "1.2.3")}
	for ref, want := range map[string]string{
		"refs/tags/v1.2.3":       "1.2.3",
		"v1.2.3":                 "1.2.3",
		"refs/tags/v1.2.3-rc.1":  "1.2.3-rc.1", // a pre-release of the version Chart.yaml says
		"v1.2.3-beta.2":          "1.2.3-beta.2",
		"v1.2.3-0a.alpha-1":      "1.2.3-0a.alpha-1",
		"refs/tags/v1.2.3-rc.10": "1.2.3-rc.10",
	} {
		assert.Equal(t, []string{want}, runRelease(t, chart123, "version", ref), ref)
	}
	for ref, says := range map[string]string{
		"v1.2.4":           "bump both to 1.2.4 there",
		"refs/tags/v1.3.0": "disagrees with",
		"v1.2.4-rc.1":      "bump both to 1.2.4 there",
		"v2.0.0":           "Chart.yaml",
		"1.2.3":            "a release tag is vX.Y.Z",
		"refs/tags/1.2.3":  "a release tag is vX.Y.Z",
		"refs/heads/main":  "is not a tag",
		"main":             "a release tag is vX.Y.Z",
		"v1.2":             "is not a version",
		"v1.2.3.4":         "is not a version",
		"v01.2.3":          "is not a version",
		"v1.2.3+build.1":   "is not a version",
		"v1.2.3-":          "is not a version",
		"v1.2.3-rc.01":     "is not a version",
		"v1.2.3-rc..1":     "is not a version",
		"v1.2.3-rc_1":      "is not a version",
		"":                 "a release tag is vX.Y.Z",
	} {
		assert.Contains(t, releaseRefused(t, chart123, "version", ref), says, "ref %q", ref)
	}

	// version and appVersion must agree, whatever the tag.
	split := []string{"CHART_DIR=" + writeChart(t, "1.2.3", "1.2.4")}
	assert.Contains(t, releaseRefused(t, split, "version", "v1.2.3"), "version 1.2.3 and appVersion 1.2.4 differ")
	assert.Contains(t, releaseRefused(t, split, "current"), "differ")
	bad := []string{"CHART_DIR=" + writeChart(t, "1.2", "1.2")}
	assert.Contains(t, releaseRefused(t, bad, "version", "v1.2.0"), "Chart.yaml version '1.2' is not a version")
}

func TestReleaseImageTags(t *testing.T) {
	for version, want := range map[string][]string{
		"1.2.3":        {"1.2.3", "1.2", "1", "latest"},
		"10.0.1":       {"10.0.1", "10.0", "10", "latest"},
		"0.4.1":        {"0.4.1", "0.4", "latest"}, // no floating "0": a 0.x minor may break
		"1.2.3-rc.1":   {"1.2.3-rc.1"},             // a pre-release is never latest
		"0.1.0-beta.2": {"0.1.0-beta.2"},
	} {
		assert.Equal(t, want, runRelease(t, nil, "tags", version), version)
	}
	for _, version := range []string{"v1.2.3", "1.2", "1.2.3+b", ""} {
		assert.Contains(t, releaseRefused(t, nil, "tags", version), "is not a version")
	}
}

func TestReleaseNames(t *testing.T) {
	for repo, want := range map[string][2]string{
		"catops/cli":        {wantImage, wantChartRegistry},
		"CatOps/CLI":        {wantImage, wantChartRegistry}, // GHCR names are lowercase
		"Some-One/catops.x": {"ghcr.io/some-one/catops.x/kubernetes-connector", "oci://ghcr.io/some-one/charts"},
	} {
		assert.Equal(t, []string{want[0]}, runRelease(t, nil, "image", repo), repo)
		assert.Equal(t, []string{want[1]}, runRelease(t, nil, "chart-registry", repo), repo)
	}
	assert.Equal(t, []string{wantChartRegistry}, runRelease(t, nil, "chart-registry"))
	for _, repo := range []string{"catops", "a/b/c", "a b/c", "ghcr.io/catops/cli"} {
		assert.Contains(t, releaseRefused(t, nil, "image", repo), "want owner/name")
	}
}

// parseOutputs reads $GITHUB_OUTPUT lines: name=value and multi-line
// name<<DELIMITER ... DELIMITER.
func parseOutputs(t *testing.T, lines []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for i := 0; i < len(lines); i++ {
		if name, delim, ok := strings.Cut(lines[i], "<<"); ok {
			var value []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				value = append(value, lines[i])
			}
			require.Less(t, i, len(lines), "output %s: no closing %s", name, delim)
			m[name] = strings.Join(value, "\n")
			continue
		}
		name, value, ok := strings.Cut(lines[i], "=")
		require.True(t, ok, "output line %q", lines[i])
		m[name] = value
	}
	return m
}

// TestReleaseWorkflowOutputs: what the workflow's image job is given for a
// release tag, a pre-release tag and a main push.
func TestReleaseWorkflowOutputs(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	version := chartVersion(t)
	tags := runRelease(t, nil, "tags", version)
	var want []string
	for _, tag := range tags {
		want = append(want, wantImage+":"+tag)
	}
	out := parseOutputs(t, runRelease(t, nil, "outputs", "refs/tags/v"+version, sha, "catops/cli"))
	wantHost := strings.TrimSuffix(wantImage, "/kubernetes-connector") + "/host-agent"
	var wantHostTags []string
	for _, tag := range tags {
		wantHostTags = append(wantHostTags, wantHost+":"+tag)
	}
	assert.Equal(t, map[string]string{
		"version":        version,
		"release":        "true",
		"image":          wantImage,
		"chart-registry": wantChartRegistry,
		"tags":           strings.Join(want, "\n"),
		"host-image":     wantHost,
		"host-tags":      strings.Join(wantHostTags, "\n"),
	}, out)
	assert.Contains(t, tags, "latest")

	chart123 := []string{"CHART_DIR=" + writeChart(t, "1.2.3", "1.2.3")}
	out = parseOutputs(t, runRelease(t, chart123, "outputs", "refs/tags/v1.2.3-rc.1", sha, "Fork/CLI"))
	assert.Equal(t, "1.2.3-rc.1", out["version"])
	assert.Equal(t, "true", out["release"])
	assert.Equal(t, "ghcr.io/fork/cli/kubernetes-connector:1.2.3-rc.1", out["tags"])
	assert.Equal(t, "oci://ghcr.io/fork/charts", out["chart-registry"])

	out = parseOutputs(t, runRelease(t, nil, "outputs", "refs/heads/main", sha, "catops/cli"))
	assert.Equal(t, "false", out["release"])
	assert.Equal(t, wantImage+":main\n"+wantImage+":sha-0123456", out["tags"], "main: never latest")
	assert.NotEmpty(t, out["version"])

	assert.Contains(t, releaseRefused(t, chart123, "outputs", "refs/tags/v1.2.4", sha, "catops/cli"), "disagrees with")
	assert.Contains(t, releaseRefused(t, nil, "outputs", "refs/heads/feature", sha, "catops/cli"), "main and for tags")
	assert.Contains(t, releaseRefused(t, nil, "outputs", "refs/heads/main", "not-a-sha", "catops/cli"), "want a hex SHA")
}

// TestReleaseChartPackage packages the chart as the release job does and
// checks that the package installs the image pushed with it: the project's
// image, or a fork's own.
func TestReleaseChartPackage(t *testing.T) {
	helm := []string{"HELM=" + helmBin(t)}
	for _, tc := range []struct{ version, repo, image string }{
		{chartVersion(t), "catops/cli", wantImage},
		{"9.8.7-rc.1", "catops/cli", wantImage},
		{"9.8.7", "Some-One/Fork", "ghcr.io/some-one/fork/kubernetes-connector"},
	} {
		t.Run(tc.version+" "+tc.repo, func(t *testing.T) {
			out := t.TempDir()
			tgz := runRelease(t, helm, "chart", tc.version, tc.repo, out)
			require.Equal(t, []string{filepath.Join(out, "catops-"+tc.version+".tgz")}, tgz)

			meta, err := runHelm(t, "show", "chart", tgz[0])
			require.NoError(t, err)
			js, err := utilyaml.ToJSON([]byte(meta))
			require.NoError(t, err)
			var c map[string]any
			require.NoError(t, json.Unmarshal(js, &c))
			assert.Equal(t, tc.version, c["version"])
			assert.Equal(t, tc.version, c["appVersion"])

			rendered, err := runHelm(t, "template", release, tgz[0], "--namespace", namespace, "--set", "auth.token=x")
			require.NoError(t, err)
			r := decode(t, rendered)
			assert.Equal(t, tc.image+":"+tc.version, r.container(t).Image)
			assert.Equal(t, tc.version, r.daemonSet.Labels["app.kubernetes.io/version"])
		})
	}

	// A values.yaml whose image is not the released one cannot be packaged.
	dir := writeChart(t, "1.2.3", "1.2.3")
	values := filepath.Join(dir, "values.yaml")
	data, err := os.ReadFile(values)
	require.NoError(t, err)
	require.Contains(t, string(data), "repository: "+wantImage+"\n")
	require.NoError(t, os.WriteFile(values, bytes.Replace(data, []byte(wantImage), []byte("ghcr.io/catops/catops-k8s"), 1), 0o644))
	line := releaseRefused(t, append(helm, "CHART_DIR="+dir), "chart", "1.2.3", "catops/cli", t.TempDir())
	assert.Contains(t, line, "installs 'ghcr.io/catops/catops-k8s:1.2.3', not "+wantImage+":1.2.3")
}

// workflow is the part of the workflow file these tests read.
type workflow struct {
	On          map[string]any    `json:"on"`
	Permissions map[string]string `json:"permissions"`
	Jobs        map[string]struct {
		Needs       any               `json:"needs"`
		If          string            `json:"if"`
		Permissions map[string]string `json:"permissions"`
		Outputs     map[string]string `json:"outputs"`
		Steps       []struct {
			ID   string            `json:"id"`
			Uses string            `json:"uses"`
			Run  string            `json:"run"`
			With map[string]any    `json:"with"`
			Env  map[string]string `json:"env"`
		} `json:"steps"`
	} `json:"jobs"`
}

func readWorkflow(t *testing.T) (workflow, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), workflowPath))
	require.NoError(t, err)
	js, err := utilyaml.ToJSON(data)
	require.NoError(t, err)
	// YAML 1.1 reads the key `on` as true.
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(js, &top))
	if on, ok := top["true"]; ok {
		top["on"] = on
		delete(top, "true")
	}
	js, err = json.Marshal(top)
	require.NoError(t, err)
	var w workflow
	require.NoError(t, json.Unmarshal(js, &w))
	return w, string(data)
}

func needs(v any) []string {
	switch n := v.(type) {
	case string:
		return []string{n}
	case []any:
		var s []string
		for _, x := range n {
			s = append(s, x.(string))
		}
		return s
	}
	return nil
}

// TestReleaseWorkflow: the workflow pushes the image and the chart the
// script names, with its tags and version, on main and on v* tags, with
// packages: write only in the jobs that push.
func TestReleaseWorkflow(t *testing.T) {
	w, text := readWorkflow(t)

	push, _ := w.On["push"].(map[string]any)
	require.NotNil(t, push, "on.push")
	assert.Equal(t, []any{"main"}, push["branches"])
	assert.Equal(t, []any{"v*"}, push["tags"], "a release is a tag v*")
	assert.Contains(t, w.On, "pull_request")

	// No image or chart name written in the workflow: they come from the script.
	code := regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(text, "")
	assert.NotRegexp(t, `ghcr\.io/`, code, "image and chart names come from hack/release.sh")
	assert.NotContains(t, text, "metadata-action", "the tags come from hack/release.sh, not docker/metadata-action")

	assert.Equal(t, map[string]string{"contents": "read"}, w.Permissions, "top-level permissions")
	for name, job := range w.Jobs {
		if name == "image" || name == "chart-release" {
			assert.Equal(t, map[string]string{"contents": "read", "packages": "write"}, job.Permissions, name)
		} else {
			assert.NotContains(t, job.Permissions, "packages", "%s pushes nothing", name)
		}
	}

	image, ok := w.Jobs["image"]
	require.True(t, ok, "job image")
	assert.Subset(t, needs(image.Needs), []string{"test", "helm"}, "the image is pushed after the tests")
	assert.Contains(t, image.If, "refs/heads/main")
	assert.Contains(t, image.If, "startsWith(github.ref, 'refs/tags/v')")
	var outputsStep, buildStep, hostStep bool
	for _, s := range image.Steps {
		if s.ID == "release" {
			outputsStep = true
			assert.Contains(t, s.Run, `hack/release.sh outputs "$GITHUB_REF" "$GITHUB_SHA" "$GITHUB_REPOSITORY"`)
			assert.Contains(t, s.Run, `>> "$GITHUB_OUTPUT"`)
		}
		if strings.HasPrefix(s.Uses, "docker/build-push-action@") && s.With["file"] == "Dockerfile" {
			hostStep = true
			assert.Equal(t, "linux/amd64,linux/arm64", s.With["platforms"])
			assert.Equal(t, "${{ steps.release.outputs.host-tags }}", s.With["tags"])
			assert.Equal(t, "VERSION=${{ steps.release.outputs.version }}", s.With["build-args"])
			continue
		}
		if strings.HasPrefix(s.Uses, "docker/build-push-action@") {
			buildStep = true
			assert.Equal(t, "Dockerfile.k8s", s.With["file"])
			assert.Equal(t, "linux/amd64,linux/arm64", s.With["platforms"])
			assert.Equal(t, true, s.With["push"])
			assert.Equal(t, "${{ steps.release.outputs.tags }}", s.With["tags"])
			assert.Equal(t, "VERSION=${{ steps.release.outputs.version }}", s.With["build-args"],
				"the image's main.version is the release version")
			assert.Contains(t, s.With["labels"], "org.opencontainers.image.version=${{ steps.release.outputs.version }}")
		}
	}
	assert.True(t, outputsStep, "image job: a step id 'release' running hack/release.sh outputs")
	assert.True(t, buildStep, "image job: docker/build-push-action")
	assert.True(t, hostStep, "image job: docker/build-push-action of the host agent's Dockerfile")
	assert.Equal(t, "${{ steps.release.outputs.version }}", image.Outputs["version"])
	assert.Equal(t, "${{ steps.release.outputs.release }}", image.Outputs["release"])
	assert.Equal(t, "${{ steps.release.outputs.chart-registry }}", image.Outputs["chart-registry"])

	chart, ok := w.Jobs["chart-release"]
	require.True(t, ok, "job chart-release")
	assert.Equal(t, []string{"image"}, needs(chart.Needs), "the chart is pushed after its image")
	assert.Equal(t, "needs.image.outputs.release == 'true'", chart.If)
	var pushStep bool
	for _, s := range chart.Steps {
		if !strings.Contains(s.Run, "helm push") {
			continue
		}
		pushStep = true
		assert.Equal(t, "${{ needs.image.outputs.version }}", s.Env["VERSION"])
		assert.Equal(t, "${{ needs.image.outputs.chart-registry }}", s.Env["CHART_REGISTRY"])
		assert.Contains(t, s.Run, `tgz=$(hack/release.sh chart "$VERSION" "$GITHUB_REPOSITORY" dist)`)
		assert.Contains(t, s.Run, ".cache/bin/helm registry login ghcr.io ")
		assert.Contains(t, s.Run, `.cache/bin/helm push "$tgz" "$CHART_REGISTRY"`)
	}
	assert.True(t, pushStep, "chart-release: a step that runs helm push")

	pkg, ok := w.Jobs["chart-package"]
	require.True(t, ok, "job chart-package")
	var packaged bool
	for _, s := range pkg.Steps {
		packaged = packaged || strings.Contains(s.Run, "hack/release.sh chart ")
	}
	assert.True(t, packaged, "chart-package packages with hack/release.sh chart, as a release does")
}

// TestReleaseVersionReachesTheBinary: the workflow's build arg VERSION (see
// TestReleaseWorkflow) is declared in Dockerfile.k8s's build stage and passed
// to `make build`, whose ldflags set main.version (hack/check-image.sh builds
// the binaries that way and finds the version inside them).
func TestReleaseVersionReachesTheBinary(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile.k8s"))
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	argAt, runAt, froms := -1, -1, 0
	for i, l := range lines {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "FROM "):
			froms++
		case froms == 1 && regexp.MustCompile(`^ARG VERSION(=|$)`).MatchString(l):
			argAt = i
		case froms == 1 && strings.HasPrefix(l, "RUN ") && strings.Contains(l, "make build"):
			runAt = i
			assert.Regexp(t, `make build .*VERSION=("?)\$\{?VERSION\}?`, l, "the build stage passes VERSION to make build")
		}
	}
	require.GreaterOrEqual(t, argAt, 0, "Dockerfile.k8s: no ARG VERSION in the build stage")
	require.GreaterOrEqual(t, runAt, 0, "Dockerfile.k8s: no RUN ... make build in the build stage")
	assert.Less(t, argAt, runAt, "ARG VERSION comes before the make build RUN")

	cmd := exec.Command("make", "-s", "-n", "build", "VERSION=1.2.3-rc.1")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make -n build: %s", out)
	assert.Contains(t, string(out), "-X main.version=1.2.3-rc.1", "make build sets main.version from VERSION")

	main, err := os.ReadFile(filepath.Join(root, "cmd", "kubernetes", "main.go"))
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^var version = `, string(main), "cmd/kubernetes declares main.version")
}

// TestReleaseDocs: the README's install command is the chart the workflow
// pushes, and the development guide says how to cut a release.
func TestReleaseDocs(t *testing.T) {
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(repoRoot(t), name))
		require.NoError(t, err)
		return string(data)
	}
	install := "helm install catops " + wantChartRegistry + "/catops --version "
	assert.True(t, strings.Contains(read("README.md"), install), "README.md: no %q", install)
	dev := read("docs/development.md")
	assert.True(t, strings.Contains(dev, "\n## Releases\n"), "docs/development.md: no section ## Releases")
	assert.True(t, strings.Contains(dev, "hack/release.sh"), "docs/development.md: hack/release.sh not named")
}
