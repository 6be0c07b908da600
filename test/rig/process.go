package rig

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one child of the rig, in its own process group, with its
// output appended to a log file.
type process struct {
	name    string
	bin     string
	args    []string
	logPath string
	detach  bool // outlives this Go process (the shell entry); no parent-death signal

	mu      sync.Mutex
	cmd     *exec.Cmd
	pidv    int           // PID of the current run (kept: Release clears cmd.Process.Pid)
	done    chan struct{} // closed when the process has exited and been reaped
	waitErr error
}

// spawnReq asks the spawner goroutine to start a command.
type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

// spawn starts cmd from one goroutine locked to an OS thread that never
// exits. The kernel delivers the parent-death signal (Pdeathsig) when the
// *thread* that forked a child exits, so children must not be started from
// threads the Go runtime might retire.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for req := range spawnCh {
				req.err <- req.cmd.Start()
			}
		}()
	})
	req := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawnCh <- req
	return <-req.err
}

func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.aliveLocked() {
		return fmt.Errorf("rig: %s already running (pid %d)", p.name, p.pidv)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "\n==== rig: starting %s at %s\n==== %s %s\n", p.name, time.Now().Format(time.RFC3339), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !p.detach {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := spawn(cmd); err != nil {
		logf.Close()
		return fmt.Errorf("rig: starting %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.pidv = cmd.Process.Pid
	p.waitErr = nil
	done := make(chan struct{})
	p.done = done
	if p.detach {
		// The shell entry exits right after start; the orphan is reaped by init.
		_ = cmd.Process.Release() // only frees the handle; the process runs on
		logf.Close()
		return nil
	}
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pidv
}

// exited reports whether the process has exited (only meaningful for
// non-detached processes; caller holds no lock requirement).
func (p *process) exited() bool {
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// running reports whether the process is still alive.
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && p.aliveLocked()
}

func (p *process) aliveLocked() bool {
	if p.detach {
		return pidAlive(p.pidv)
	}
	return !p.exited()
}

// exitError returns how the process ended, once it has.
func (p *process) exitError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// stop sends SIGTERM to the process group, waits up to grace, then sends
// SIGKILL and waits for the exit.
func (p *process) stop(grace time.Duration) error {
	p.mu.Lock()
	cmd, done, detach, pid := p.cmd, p.done, p.detach, p.pidv
	p.mu.Unlock()
	if cmd == nil || pid <= 0 {
		return nil
	}
	if detach {
		return stopPID(pid, grace)
	}
	select {
	case <-done:
		return nil
	default:
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("rig: %s (pid %d) did not exit after SIGKILL", p.name, pid)
	}
}

// stopPID stops a process group whose leader is not our child (a process
// left by `rig up`): SIGTERM, poll, SIGKILL, poll.
func stopPID(pid int, grace time.Duration) error {
	if !pidAlive(pid) {
		return nil
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	if waitPIDGone(pid, grace) {
		return nil
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if waitPIDGone(pid, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("rig: pid %d did not exit after SIGKILL", pid)
}

func waitPIDGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !pidAlive(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// Format: pid (comm) state ...; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	return data[i+2] != 'Z' && data[i+2] != 'X'
}

// pidExe returns the executable of a running pid ("" if unknown).
func pidExe(pid int) string {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(exe, " (deleted)")
}

// logTail returns the last n lines of a process's log.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// PIDAlive reports whether pid exists and is not a zombie; for packages
// that stop processes of their own the way the rig does (test/node).
func PIDAlive(pid int) bool { return pidAlive(pid) }

// WaitPIDGone waits up to d for pid to exit; false if it is still there.
func WaitPIDGone(pid int, d time.Duration) bool { return waitPIDGone(pid, d) }

// PIDExe returns the executable of a running pid ("" if unknown).
func PIDExe(pid int) string { return pidExe(pid) }
