package rig

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// rootModule is the module path of the repository's root go.mod.
const rootModule = "github.com/catops/cli"

// Binary names the rig may need, as built by hack/build-tools.sh.
const (
	BinEtcd              = "etcd"
	BinKubeAPIServer     = "kube-apiserver"
	BinControllerManager = "kube-controller-manager"
	BinScheduler         = "kube-scheduler"
	BinKubectl           = "kubectl"
	BinKwok              = "kwok"
	BinMetricsServer     = "metrics-server"
	BinHelm              = "helm"
)

// EnvKubeAPIServer names the kube-apiserver binary the rig runs, in place of
// BinKubeAPIServer: RIG_KUBE_APISERVER=kube-apiserver-1.34 runs the oldest
// API server the connector supports (make test-compat). It is a name in
// BinDir, not a path.
const EnvKubeAPIServer = "RIG_KUBE_APISERVER"

// APIServerBinary returns the kube-apiserver binary name chosen by
// $RIG_KUBE_APISERVER, or BinKubeAPIServer when it is unset.
func APIServerBinary() (string, error) {
	name := strings.TrimSpace(os.Getenv(EnvKubeAPIServer))
	if name == "" {
		return BinKubeAPIServer, nil
	}
	if !strings.HasPrefix(name, BinKubeAPIServer) || strings.ContainsRune(name, filepath.Separator) {
		return "", fmt.Errorf("rig: %s=%q: want the name of a kube-apiserver binary in the rig's bin folder, "+
			"such as kube-apiserver-1.34 (see hack/build-tools.sh --list)", EnvKubeAPIServer, name)
	}
	return name, nil
}

// RepoRoot finds the repository root by walking up from the working
// directory to the go.mod whose module is github.com/catops/cli (the tools
// modules under hack/tools are skipped).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if mod, err := modulePath(filepath.Join(dir, "go.mod")); err == nil && mod == rootModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("rig: no go.mod for module %s above the working directory", rootModule)
		}
		dir = parent
	}
}

func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", errors.New("no module line")
}

// BinDir is where the rig's binaries are looked up: $RIG_BIN_DIR if set,
// else .cache/bin at the repository root.
func BinDir() (string, error) {
	if d := os.Getenv("RIG_BIN_DIR"); d != "" {
		return filepath.Abs(d)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "bin"), nil
}

// Binary returns the path of one of the rig's tools (see the Bin constants),
// or an error that says how to build it.
func Binary(name string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	return binaryIn(dir, name)
}

func binaryIn(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("rig: %s not found at %s: build the rig's tools first with `make tools` "+
			"(or hack/build-tools.sh %s; a cold build takes ~30 min on 2 cores, later runs are instant)", name, p, name)
	}
	return p, nil
}
