package node

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/catops/cli/test/rig"
)

// proc is one process of the node, as recorded in state.json.
type proc struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Exe  string `json:"exe"` // what /proc/PID/exe must say
	Log  string `json:"log,omitempty"`
}

// alive reports whether p still runs its program (not a zombie, not a
// recycled PID).
func (p proc) alive() bool {
	return p.PID > 0 && rig.PIDAlive(p.PID) && rig.PIDExe(p.PID) == p.Exe
}

func lookPathResolved(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(p)
}

// startDetached starts argv in its own session with output appended to log,
// and reaps it in the background while this process lives (no zombies in
// the test process; after the shell entry exits, init reaps).
func startDetached(name, exe string, argv []string, log string) (proc, error) {
	lf, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return proc{}, err
	}
	defer lf.Close()
	fmt.Fprintf(lf, "\n==== node: starting %s at %s\n==== %s\n", name, time.Now().Format(time.RFC3339), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return proc{}, fmt.Errorf("node: starting %s: %w", name, err)
	}
	go func() { _ = cmd.Wait() }()
	return proc{Name: name, PID: cmd.Process.Pid, Exe: exe, Log: log}, nil
}

// waitExe waits until p has exec'd into its program (nsenter and unshare
// exec without forking, so the PID stays).
func waitExe(p proc, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if p.alive() {
			return nil
		}
		if !rig.PIDAlive(p.PID) {
			return fmt.Errorf("node: %s (pid %d) exited at start; see %s", p.Name, p.PID, p.Log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("node: %s (pid %d) runs %q, not %s", p.Name, p.PID, rig.PIDExe(p.PID), p.Exe)
}

// stop sends SIGTERM, waits up to grace, then SIGKILL. A PID that no longer
// runs p.Exe is left alone.
func (p proc) stop(grace time.Duration) (time.Duration, error) {
	t0 := time.Now()
	if !p.alive() {
		return 0, nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return 0, fmt.Errorf("node: SIGTERM %s (pid %d): %w", p.Name, p.PID, err)
	}
	if rig.WaitPIDGone(p.PID, grace) {
		return time.Since(t0), nil
	}
	if p.alive() {
		_ = syscall.Kill(p.PID, syscall.SIGKILL)
	}
	if !rig.WaitPIDGone(p.PID, 5*time.Second) {
		return time.Since(t0), fmt.Errorf("node: %s (pid %d) still running after SIGKILL", p.Name, p.PID)
	}
	return time.Since(t0), nil
}

// mountNS is the identity of pid's mount namespace ("mnt:[4026531841]").
func mountNS(pid int) string { return nsID(pid, "mnt") }

// nsID is the identity ("net:[4026532...]") of pid's namespace of the kind
// ("mnt", "net"); empty if pid is gone.
func nsID(pid int, kind string) string {
	ns, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + kind)
	return ns
}

// pidsInMountNS lists the live processes in the mount namespace ns.
func pidsInMountNS(ns string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if mountNS(pid) == ns && rig.PIDAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
