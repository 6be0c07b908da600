package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const cgroupRoot = "/sys/fs/cgroup"

// absentKubepods lists <hierarchy>/kubepods for each cgroup hierarchy where
// it does not exist: the kubelet (and runc, in "unified") will create them,
// and Down removes exactly those.
func absentKubepods() []string {
	hs, _ := os.ReadDir(cgroupRoot)
	var out []string
	for _, h := range hs {
		d := filepath.Join(cgroupRoot, h.Name(), "kubepods")
		if h.IsDir() && !fileExists(d) {
			out = append(out, d)
		}
	}
	return out
}

// cgroupProcs lists the processes in the cgroup trees dirs (containers:
// they have mount namespaces of their own, so the namespace sweep misses
// them, but they live in the kubepods cgroups the node made).
func cgroupProcs(dirs []string) []int {
	var pids []int
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
				return nil //nolint:nilerr // a cgroup removed meanwhile
			}
			data, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(pids, pid) {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// removeCgroups removes each cgroup tree, deepest first, retrying while the
// kernel still releases the cgroups of processes just killed.
func removeCgroups(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		if !strings.HasPrefix(d, cgroupRoot+"/") || !strings.HasSuffix(d, "/kubepods") {
			errs = append(errs, fmt.Errorf("node: refusing to remove cgroup %s", d))
			continue
		}
		var err error
		for range 50 {
			if err = rmdirTree(d); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node: cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// rmdirTree rmdirs every directory under d, then d (cgroup files cannot
// and need not be removed).
func rmdirTree(d string) error {
	var dirs []string
	err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	slices.Reverse(dirs)
	for _, x := range dirs {
		if err := os.Remove(x); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
