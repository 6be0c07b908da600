package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The names the kubelet gives the cgroup that holds every pod: kubepods
// with the cgroupfs driver, kubepods.slice with the systemd driver, and
// <root>-kubepods.slice below a --cgroup-root of the systemd driver (kind:
// kubelet.slice/kubelet-kubepods.slice).
const (
	kubepodsName  = "kubepods"
	kubepodsSlice = "kubepods.slice"
)

// maxSearchDepth bounds how deep below the cgroup root the kubepods cgroup
// is looked for: the kubelet's --cgroup-root puts it one or two levels
// down. Deeper ones belong to nested nodes (a kind node in a pod), not to
// this node's kubelet.
const maxSearchDepth = 3

// maxSearchDirs bounds the directories read while looking for it, on a
// node with a large unrelated tree (thousands of systemd units).
const maxSearchDirs = 4096

// errNoHierarchy: neither a cgroup v1 cpu hierarchy nor a cgroup v2 tree
// with the cpu controller is mounted at the root given.
var errNoHierarchy = errors.New("no cgroup v1 cpu hierarchy nor cgroup v2 tree")

// hierarchy finds the tree whose cgroups hold cpu.stat with the CFS
// counters below mount (HOST_SYS/fs/cgroup): the v1 cpu controller's
// (mount/cpu, also where cpu and cpuacct are mounted together, and on a
// hybrid host whose unified tree has no cpu controller), else the v2 tree
// itself. It returns the tree's root and the cgroup version.
func hierarchy(mount string) (string, int, error) {
	for _, name := range []string{"cpu", "cpu,cpuacct", "cpuacct,cpu"} {
		dir := filepath.Join(mount, name)
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir, 1, nil
		}
	}
	controllers, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers")) //nolint:gosec // G304: below HOST_SYS, the operator's setting

	if err == nil {
		for _, c := range strings.Fields(string(controllers)) {
			if c == "cpu" {
				return mount, 2, nil
			}
		}
	}
	return "", 0, errNoHierarchy
}

// findKubepods returns the kubepods cgroups below root, at most
// maxSearchDepth levels down, without looking inside them (breadth first:
// the shallowest is the node's own).
func findKubepods(root string) []string {
	var found []string
	level := []string{root}
	read := 0
	for depth := 0; depth < maxSearchDepth && len(level) > 0 && len(found) == 0; depth++ {
		var next []string
		for _, dir := range level {
			if read++; read > maxSearchDirs {
				return found
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range entries {
				if !e.IsDir() {
					continue
				}
				path := filepath.Join(dir, e.Name())
				if isKubepods(e.Name()) {
					found = append(found, path)
					continue
				}
				next = append(next, path)
			}
		}
		level = next
	}
	return found
}

func isKubepods(name string) bool {
	return name == kubepodsName || name == kubepodsSlice || strings.HasSuffix(name, "-"+kubepodsSlice)
}

// podDirs maps each pod's UID to its cgroup below the kubepods cgroups:
// Guaranteed pods sit right below them, Burstable and BestEffort pods
// below their QoS class's cgroup. The names are pod<UID> (cgroupfs) and
// kubepods[-<qos>]-pod<UID with _ for ->.slice (systemd). readable is
// false when none of the kubepods cgroups could be read.
func podDirs(kubepods []string) (out map[string]string, readable bool) {
	out = map[string]string{}
	for _, kp := range kubepods {
		entries, err := os.ReadDir(kp)
		if err != nil {
			continue
		}
		readable = true
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			path := filepath.Join(kp, e.Name())
			if uid, ok := podUID(e.Name()); ok {
				out[uid] = path
				continue
			}
			if !isQoSClass(e.Name()) {
				continue
			}
			inner, err := os.ReadDir(path)
			if err != nil {
				continue
			}
			for _, p := range inner {
				if uid, ok := podUID(p.Name()); ok && p.IsDir() {
					out[uid] = filepath.Join(path, p.Name())
				}
			}
		}
	}
	return out, readable
}

func isQoSClass(name string) bool {
	name = strings.TrimSuffix(name, ".slice")
	return strings.HasSuffix(name, "burstable") || strings.HasSuffix(name, "besteffort")
}

// podUID is the pod UID a pod cgroup's name holds, in the API's
// spelling: a UUID (36 characters; systemd writes its dashes as _), or the
// 32 hex digits the kubelet gives a static pod (the hash its mirror pod
// carries in the kubernetes.io/config.mirror annotation).
func podUID(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".slice")
	i := strings.LastIndex(name, "pod")
	if i < 0 {
		return "", false
	}
	if i > 0 && name[i-1] != '-' {
		return "", false
	}
	uid := strings.ReplaceAll(name[i+len("pod"):], "_", "-")
	switch {
	case len(uid) == 36 && strings.Count(uid, "-") == 4:
	case len(uid) == 32 && strings.Trim(uid, "0123456789abcdef") == "":
	default:
		return "", false
	}
	return uid, true
}

// containerDir finds the cgroup of the container with the runtime's ID
// (without its containerd:// scheme) in its pod's cgroup: named by the ID
// itself (containerd and Docker with the cgroupfs driver), crio-<ID>
// (CRI-O with cgroupfs), or <runtime>-<ID>.scope (systemd driver:
// cri-containerd-, crio-, docker-), but not CRI-O's crio-conmon-<ID>
// (its monitor process). The names come from the directory: nothing of
// the ID goes into a path unchecked.
func containerDir(podDir, id string) (string, error) {
	entries, err := os.ReadDir(podDir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.IsDir() && containerName(e.Name(), id) {
			return filepath.Join(podDir, e.Name()), nil
		}
	}
	return "", fs.ErrNotExist
}

func containerName(name, id string) bool {
	if id == "" {
		return false
	}
	if name == id {
		return true
	}
	prefix, ok := strings.CutSuffix(strings.TrimSuffix(name, ".scope"), "-"+id)
	return ok && prefix != "" && !strings.HasSuffix(prefix, "-conmon")
}
