package rig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// State is what a detached rig (test/rig/cmd/rig up) records in
// <dir>/state.json so that later commands can find and stop it.
type State struct {
	APIServerURL string         `json:"apiServerURL"`
	EtcdURL      string         `json:"etcdURL"`
	Kubeconfig   string         `json:"kubeconfig"`
	Processes    []StateProcess `json:"processes"` // in start order
	Started      time.Time      `json:"started"`
	Ready        bool           `json:"ready"` // false while (or if) `up` has not finished
}

// StateProcess is one process of a detached rig.
type StateProcess struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Exe  string `json:"exe"`
	Log  string `json:"log"`
}

// StateFile is the state file's name inside the rig's folder.
const StateFile = "state.json"

func (c *Cluster) writeState(ready bool) error {
	c.mu.Lock()
	st := State{APIServerURL: c.APIServerURL, EtcdURL: c.EtcdURL, Kubeconfig: c.Kubeconfig, Started: c.t0, Ready: ready}
	for _, name := range c.order {
		p := c.procs[name]
		st.Processes = append(st.Processes, StateProcess{Name: name, PID: p.pid(), Exe: p.bin, Log: p.logPath})
	}
	c.mu.Unlock()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	// One PID file per process too, for shell use (kill $(cat .rig/pids/etcd.pid)).
	pidDir := filepath.Join(c.Dir, "pids")
	if err := os.MkdirAll(pidDir, 0o755); err != nil {
		return err
	}
	for _, p := range st.Processes {
		if err := os.WriteFile(filepath.Join(pidDir, p.Name+".pid"), fmt.Appendf(nil, "%d\n", p.PID), 0o644); err != nil {
			return err
		}
	}
	tmp := filepath.Join(c.Dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.Dir, StateFile))
}

// ReadState reads a detached rig's state (os.ErrNotExist if there is none).
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("rig: %s: %w", filepath.Join(dir, StateFile), err)
	}
	return &st, nil
}

// Alive reports whether the process is running and is still the rig's
// binary (not a recycled PID).
func (p StateProcess) Alive() bool {
	if !pidAlive(p.PID) {
		return false
	}
	exe := pidExe(p.PID)
	return exe == "" || exe == p.Exe || strings.HasSuffix(exe, "/"+filepath.Base(p.Exe))
}

// StopDetached stops every process recorded in dir's state (reverse start
// order, SIGTERM then SIGKILL per process group) and then removes dir.
// Processes whose PID now belongs to another program are left alone.
func StopDetached(dir string, logf func(string, ...any)) error {
	st, err := ReadState(dir)
	if err != nil {
		return err
	}
	var errs []error
	for i := len(st.Processes) - 1; i >= 0; i-- {
		p := st.Processes[i]
		if !p.Alive() {
			logf("%-24s pid %-7d not running", p.Name, p.PID)
			continue
		}
		t0 := time.Now()
		if err := stopPID(p.PID, stopGrace(p.Name)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
			continue
		}
		logf("%-24s pid %-7d stopped in %.1fs", p.Name, p.PID, time.Since(t0).Seconds())
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return CleanDir(dir)
}

// rigEntries are the files and folders a rig creates in its data folder.
var rigEntries = []string{StateFile, StateFile + ".tmp", "pids", "pki", "etcd", "logs", "kubeconfig", "kwok.yaml", ownerFile}

// CleanDir removes what a rig wrote into dir, and dir itself if nothing else
// is left in it (other files, e.g. another rig's folder nested inside, stay).
func CleanDir(dir string) error {
	var errs []error
	for _, e := range rigEntries {
		if err := os.RemoveAll(filepath.Join(dir, e)); err != nil {
			errs = append(errs, err)
		}
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) == 0 {
		if err := os.Remove(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Attach returns a Cluster handle for a rig started detached in dir, for
// API access (Get, Metrics, Clientset, CreateNode, ...). Its Stop does
// nothing; use StopDetached.
func Attach(ctx context.Context, dir string) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	st, err := ReadState(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		Dir:          dir,
		Kubeconfig:   st.Kubeconfig,
		APIServerURL: st.APIServerURL,
		EtcdURL:      st.EtcdURL,
		PKI:          pkiPaths(filepath.Join(dir, "pki")),
		procs:        map[string]*process{},
		stopped:      true,
	}
	c.binDir, _ = BinDir()
	if err := c.initHTTPClient(); err != nil {
		return nil, err
	}
	return c, nil
}
