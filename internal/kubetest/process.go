package kubetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// process is a server the cluster runs, its output going to a log file.
type process struct {
	name string
	log  string // path of the file holding its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited; err is set then
	err  error
}

func startProcess(name, logPath, bin string, args ...string) (*process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = procAttr()
	p := &process{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The kernel sends procAttr's death signal when the thread that
		// started the process ends, not the test binary; the Go runtime ends
		// a thread when a goroutine locked to it returns (as network
		// namespace code does). Holding this thread until the process is
		// gone keeps the signal for the binary's death alone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer f.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("kubetest: start %s: %w", name, err)
	}
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to end, kills it if it has not within grace, and
// waits for it.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last n lines of the process's output, for a failure
// message.
func (p *process) tail(n int) string {
	out, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(no %s log: %v)", p.name, err)
	}
	lines := bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("last %d lines of %s output:\n%s", len(lines), p.name, bytes.Join(lines, []byte("\n")))
}

// logContains reports whether the process's output so far contains s.
func (p *process) logContains(s string) bool {
	out, err := os.ReadFile(p.log)
	return err == nil && strings.Contains(string(out), s)
}
