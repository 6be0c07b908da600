package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/catops/cli/test/rig"
)

// AgentOptions start one catops-k8s process.
type AgentOptions struct {
	Binary     string
	Kubeconfig string
	Node       string
	BackendURL string
	Token      string
	Interval   time.Duration
	// Source is CATOPS_POD_METRICS_SOURCE (metrics-api, kubelet or none).
	Source string
	// Format is CATOPS_WIRE_FORMAT (delta or snapshot).
	Format string
	// LogDir receives <name>.log with the agent's JSON log.
	LogDir string
	Name   string
	// Env is added last.
	Env []string
}

// Agent is a running catops-k8s process.
type Agent struct {
	Name       string
	cmd        *exec.Cmd
	healthAddr string
	done       chan error
	log        *os.File
}

// StartAgent starts the agent and waits until its /readyz answers 200
// (caches synced) or timeout passes.
func StartAgent(ctx context.Context, o AgentOptions, timeout time.Duration) (*Agent, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	a := &Agent{Name: o.Name, healthAddr: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan error, 1)}
	a.log, err = os.Create(filepath.Join(o.LogDir, o.Name+".log"))
	if err != nil {
		return nil, err
	}
	a.cmd = exec.Command(o.Binary)
	a.cmd.Env = append(os.Environ(),
		"KUBECONFIG="+o.Kubeconfig,
		"NODE_NAME="+o.Node,
		"NAMESPACE=catops-system",
		"CATOPS_BACKEND_URL="+o.BackendURL,
		"CATOPS_AUTH_TOKEN="+o.Token,
		"COLLECTION_INTERVAL="+o.Interval.String(),
		"CATOPS_POD_METRICS_SOURCE="+o.Source,
		"CATOPS_WIRE_FORMAT="+o.Format,
		"CATOPS_HEALTH_ADDR="+a.healthAddr,
		"CATOPS_LOG_LEVEL=info",
	)
	a.cmd.Env = append(a.cmd.Env, o.Env...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		a.log.Close()
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get("http://" + a.healthAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a, nil
			}
		}
		select {
		case err := <-a.done:
			a.log.Close()
			return nil, fmt.Errorf("agent %s exited before it was ready: %w (log: %s)", o.Name, err, a.log.Name())
		case <-ctx.Done():
			a.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			a.Stop()
			return nil, fmt.Errorf("agent %s not ready after %s (log: %s)", o.Name, timeout, a.log.Name())
		}
	}
}

// Stop sends SIGTERM and waits for the agent to flush and exit.
func (a *Agent) Stop() {
	if a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	// The exit status is not a finding: the agent's log says how it ended.
	select {
	case err := <-a.done:
		_ = err
	case <-time.After(15 * time.Second):
		_ = a.cmd.Process.Kill()
		err := <-a.done
		_ = err
	}
	a.log.Close()
}

// Proc is what /proc says about a process.
type Proc struct {
	// CPUSeconds is utime + stime: the CPU time of every thread the
	// process ever had, in 10 ms clock ticks (too coarse for an agent that
	// uses a millicore or two over a 30 s window).
	CPUSeconds float64
	// SchedSeconds is the CPU time of the process's live threads from
	// their schedstat (nanoseconds, the scheduler's own count); 0 when it
	// cannot be read. A thread that ended takes its time with it.
	SchedSeconds float64
	RSSBytes     int64
	HWMBytes     int64 // peak RSS
	// RSSAnonBytes and RSSFileBytes split RSSBytes: anonymous memory (the
	// Go heap, stacks, the runtime's) and file pages (the binary's text
	// and data as far as touched), from RssAnon and RssFile.
	RSSAnonBytes, RSSFileBytes int64
}

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (Proc, error) {
	var p Proc
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return p, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	p.CPUSeconds = (ut + st) / clockTicks
	if ns, ok := schedstatNanos(pid); ok {
		p.SchedSeconds = float64(ns) / 1e9
	}
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			p.RSSBytes = kb << 10
		case "VmHWM":
			p.HWMBytes = kb << 10
		case "RssAnon":
			p.RSSAnonBytes = kb << 10
		case "RssFile":
			p.RSSFileBytes = kb << 10
		}
	}
	return p, sc.Err()
}

// CPUBetween is the CPU time a process used between two reads: from
// schedstat when both reads have it and it did not go down (no thread
// ended in between, which Go programs rarely do), else from utime + stime.
func CPUBetween(p0, p1 Proc) float64 {
	if p0.SchedSeconds > 0 && p1.SchedSeconds >= p0.SchedSeconds {
		return p1.SchedSeconds - p0.SchedSeconds
	}
	return p1.CPUSeconds - p0.CPUSeconds
}

// schedstatNanos is the sum of the first field (time on a CPU, in ns) of
// /proc/<pid>/task/*/schedstat; ok is false when one cannot be read.
func schedstatNanos(pid int) (uint64, bool) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, false
	}
	var sum uint64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that ended since the glob
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		sum += n
	}
	return sum, true
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// Proc reads the agent's /proc figures.
func (a *Agent) Proc() (Proc, error) { return ReadProc(a.cmd.Process.Pid) }

// Metric reads one unlabelled sample from the agent's /metrics.
func (a *Agent) Metric(name string) (float64, error) {
	resp, err := http.Get("http://" + a.healthAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("agent %s: no sample %s on /metrics", a.Name, name)
}

func freePort() (int, error) { return rig.FreePort() }

// Samples reads every sample of the metric name from the agent's /metrics.
func (a *Agent) Samples(name string) (rig.Samples, error) {
	resp, err := http.Get("http://" + a.healthAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	s, err := rig.ParseMetrics(string(b))
	if err != nil {
		return nil, err
	}
	return s.Filter(name, nil), nil
}
