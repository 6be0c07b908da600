package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/catops/cli/test/rig"
)

// down stops, in order: the kubelet, containerd, the control plane, every
// process left in the node's mount namespace (container shims and
// containers), the anchor (the namespace and all its mounts go with it);
// then removes the kubepods cgroups Up saw absent, and the state folder.
func down(p paths, c *rig.Cluster, st *state, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	t0 := time.Now()
	var errs []error
	for _, x := range []struct {
		p     proc
		grace time.Duration
	}{{st.Kubelet, 10 * time.Second}, {st.Containerd, 10 * time.Second}} {
		if x.p.PID == 0 {
			continue
		}
		d, err := x.p.stop(x.grace)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d > 0 {
			logf("node: %s (pid %d) stopped in %.2fs", x.p.Name, x.p.PID, d.Seconds())
		}
	}
	if st.ControlPlane {
		t := time.Now()
		var err error
		if c != nil && !c.Running(rig.CompEtcd) && fileExists(filepath.Join(p.cp, rig.StateFile)) {
			c = nil // a detached control plane: its state file knows the PIDs
		}
		switch {
		case c != nil:
			err = c.Stop()
		case fileExists(filepath.Join(p.cp, rig.StateFile)):
			err = rig.StopDetached(p.cp, func(f string, a ...any) { logf("node: control plane: "+f, a...) })
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node: control plane: %w", err))
		} else {
			logf("node: control plane stopped in %.2fs", time.Since(t).Seconds())
		}
	}
	// Whatever else runs in the namespace was started by the node: it is
	// the namespace the anchor created (checked to be alive and ours).
	if st.MountNS != "" && st.Anchor.alive() && mountNS(st.Anchor.PID) == st.MountNS {
		left := slices.DeleteFunc(pidsInMountNS(st.MountNS), func(pid int) bool { return pid == st.Anchor.PID })
		for _, pid := range left {
			logf("node: killing pid %d (%s), left in the node's namespace", pid, rig.PIDExe(pid))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, pid := range left {
			if !rig.WaitPIDGone(pid, 5*time.Second) {
				errs = append(errs, fmt.Errorf("node: pid %d survives SIGKILL", pid))
			}
		}
	}
	// Containers run in mount namespaces of their own: find them in the
	// kubepods cgroups the node made (absent before Up, so ours).
	if left := cgroupProcs(st.NewCgroups); len(left) > 0 {
		for _, pid := range left {
			logf("node: killing pid %d (%s), left in the node's kubepods cgroups", pid, rig.PIDExe(pid))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, pid := range left {
			if !rig.WaitPIDGone(pid, 5*time.Second) {
				errs = append(errs, fmt.Errorf("node: pid %d survives SIGKILL", pid))
			}
		}
	}
	if st.Anchor.PID != 0 {
		if _, err := st.Anchor.stop(5 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if st.MountNS != "" {
		deadline := time.Now().Add(10 * time.Second)
		for len(pidsInMountNS(st.MountNS)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if left := pidsInMountNS(st.MountNS); len(left) > 0 {
			errs = append(errs, fmt.Errorf("node: the namespace %s still has processes %v", st.MountNS, left))
		}
	}
	if err := removeCgroups(st.NewCgroups); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("node: down incomplete, state kept in %s: %w", p.dir, errors.Join(errs...))
	}
	if err := os.RemoveAll(p.dir); err != nil {
		return err
	}
	logf("node: down in %.2fs; removed %s", time.Since(t0).Seconds(), p.dir)
	return nil
}
