package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Cgroups is a synthetic cgroup tree of the node, for the agent's cgroup
// throttling source (CATOPS_THROTTLING_SOURCE=cgroup, HOST_SYS=Sys): the
// layout of the real node of test/node (cgroup v1, cgroupfs driver,
// /sys/fs/cgroup/cpu/kubepods/burstable/pod<UID>/<container ID>), one
// cgroup per pod, its sandbox and each container, with a cpu.stat whose
// CFS counters are the synthetic kubelet's cAdvisor figures for the same
// container, rewritten every Every.
type Cgroups struct {
	// Sys is the directory to give the agent as HOST_SYS.
	Sys   string
	Every time.Duration

	k    *Kubelet
	mu   sync.Mutex
	pods []CgroupPod
}

// CgroupPod is a pod of the API with its UID and its containers' runtime
// IDs (kwok's kwok://<uid>-<name>, without the scheme).
type CgroupPod struct {
	KubeletPod
	UID string
	IDs map[string]string // container name → ID
}

// NewCgroups makes the tree in a new directory under dir, with counters
// from k's figures. Everything else of Sys links to the machine's /sys, so
// that the agent's host figures read through HOST_SYS are the machine's,
// as for the agents beside it.
func NewCgroups(dir string, k *Kubelet) (*Cgroups, error) {
	sys, err := os.MkdirTemp(dir, "sys-")
	if err != nil {
		return nil, err
	}
	c := &Cgroups{Sys: sys, Every: 5 * time.Second, k: k}
	if err := linkAllBut("/sys", sys, "fs"); err != nil {
		c.Close()
		return nil, err
	}
	if err := linkAllBut("/sys/fs", filepath.Join(sys, "fs"), "cgroup"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// linkAllBut makes dst a directory of links to each entry of src but
// skip, which it makes an empty directory.
func linkAllBut(src, dst, skip string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dst, skip), 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == skip {
			continue
		}
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// SetPods makes the pods' cgroups and writes their counters once.
func (c *Cgroups) SetPods(pods []CgroupPod) error {
	c.mu.Lock()
	c.pods = append([]CgroupPod(nil), pods...)
	c.mu.Unlock()
	return c.write(time.Now())
}

// Run rewrites the counters every Every until ctx ends.
func (c *Cgroups) Run(ctx context.Context) {
	t := time.NewTicker(c.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			_ = c.write(now)
		}
	}
}

// Close removes the tree.
func (c *Cgroups) Close() { _ = os.RemoveAll(c.Sys) }

func (c *Cgroups) write(now time.Time) error {
	c.mu.Lock()
	pods := c.pods
	c.mu.Unlock()
	for _, p := range pods {
		dir := filepath.Join(c.Sys, "fs", "cgroup", "cpu", "kubepods", "burstable", "pod"+p.UID)
		if err := os.MkdirAll(filepath.Join(dir, containerID(p.KubeletPod, "")), 0o755); err != nil {
			return err
		}
		for _, name := range kubeletContainers {
			id := p.IDs[name]
			if id == "" {
				continue
			}
			periods, throttled, seconds := c.k.container(p.KubeletPod, name, now).cfs()
			text := fmt.Sprintf("nr_periods %.0f\nnr_throttled %.0f\nthrottled_time %.0f\nnr_bursts 0\nburst_time 0\n", periods, throttled, seconds*1e9)
			cg := filepath.Join(dir, id)
			if err := os.MkdirAll(cg, 0o755); err != nil {
				return err
			}
			// Renamed into place: the agent never reads half a file.
			tmp := filepath.Join(cg, ".cpu.stat")
			if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
				return err
			}
			if err := os.Rename(tmp, filepath.Join(cg, "cpu.stat")); err != nil {
				return err
			}
		}
	}
	return nil
}
