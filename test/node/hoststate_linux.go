package node

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/catops/cli/test/rig"
)

// hostSysctls are the kernel settings a node could change machine-wide.
var hostSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward",
}

// hostPaths are the fixed paths the kubelet, containerd, libcni and
// kube-controller-manager write to when nothing hides them.
var hostPaths = []string{
	"/var/lib/kubelet", "/var/lib/cni", "/var/lib/containerd", "/var/log/containers", "/var/log/pods",
	"/run/containerd", "/run/netns", "/run/mount/utab", "/etc/cni", "/opt/cni", "/usr/libexec/kubernetes",
}

// nodePorts are the kubelet's and containerd's well-known ports.
var nodePorts = map[int]bool{10248: true, 10250: true, 10255: true, 10256: true}

// HostState describes what the node must leave as it found it, as text to
// compare before Up and after Down: the sysctls above, the mounts of this
// (the host's) mount namespace, the fixed paths, /run's entries, network
// links, the cgroup directories two levels down, listening TCP sockets on
// the node's ports or held by the project's binaries, and processes
// running them (.cache/ of the repository). Another rig running beside it
// (CI) does not show: its binaries live in another clone.
func HostState() (string, error) {
	var b strings.Builder
	for _, k := range hostSysctls {
		v, err := os.ReadFile(filepath.Join("/proc/sys", k))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "sysctl %s=%s\n", k, strings.TrimSpace(string(v)))
	}
	mounts, err := readMounts("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, m := range mounts {
		fmt.Fprintf(&b, "mount %s\n", m)
	}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); err == nil {
			fmt.Fprintf(&b, "path %s\n", p)
		}
	}
	for _, g := range []string{"/run/*", "/sys/class/net/*", cgroupRoot + "/*/*/"} {
		ms, _ := filepath.Glob(g)
		for _, m := range ms {
			if st, err := os.Stat(m); strings.HasPrefix(g, cgroupRoot) && (err != nil || !st.IsDir()) {
				continue // cgroup control files
			}
			fmt.Fprintf(&b, "entry %s\n", m)
		}
	}
	ours := ourExePrefix()
	owners := socketOwners()
	for _, l := range listeners() {
		exe := owners[l.inode]
		if nodePorts[l.port] || (ours != "" && strings.HasPrefix(exe, ours)) {
			fmt.Fprintf(&b, "listen %s %s\n", l.addr, exe)
		}
	}
	if ours != "" {
		ents, _ := os.ReadDir("/proc")
		var lines []string
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if exe := rig.PIDExe(pid); strings.HasPrefix(exe, ours) {
				lines = append(lines, fmt.Sprintf("process %s", exe))
			}
		}
		sort.Strings(lines)
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	return b.String(), nil
}

// ourExePrefix is the repository's .cache/ (kubelet, control plane,
// runtime binaries).
func ourExePrefix() string {
	root, err := rig.RepoRoot()
	if err != nil {
		return ""
	}
	return filepath.Join(root, ".cache") + "/"
}

// readMounts returns "mount point fstype source" per line of mountinfo,
// in order (IDs left out: they change with every mount, not the state).
func readMounts(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		a, c := strings.Fields(pre), strings.Fields(post)
		if !ok || len(a) < 5 || len(c) < 2 {
			continue
		}
		out = append(out, a[4]+" "+c[0]+" "+c[1])
	}
	return out, sc.Err()
}

type listener struct {
	addr  string
	port  int
	inode string
}

// listeners parses the host's /proc/net/tcp{,6} for sockets in LISTEN state.
func listeners() []listener {
	var out []listener
	// thread-self: this thread's network namespace, the host's (/proc/net is
	// the thread-group leader's).
	for _, f := range []string{"/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" {
				continue
			}
			_, portHex, _ := strings.Cut(fs[1], ":")
			port, _ := strconv.ParseInt(portHex, 16, 32)
			out = append(out, listener{addr: filepath.Base(f) + " " + fs[1], port: int(port), inode: fs[9]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	return out
}

// socketOwners maps socket inodes to the exe of a process holding them.
func socketOwners() map[string]string {
	owners := map[string]string{}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, _ := os.ReadDir(filepath.Join(p, "fd"))
		var exe string
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join(p, "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(l, "socket:[") {
				continue
			}
			if exe == "" {
				exe, _ = os.Readlink(filepath.Join(p, "exe"))
			}
			owners[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = exe
		}
	}
	return owners
}
