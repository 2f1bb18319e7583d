package propagation

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// controlPlane is the control plane binary run as a child process, so that
// its CPU time and memory are its own and read from /proc.
type controlPlane struct {
	cmd   *exec.Cmd
	xds   string // host:port
	admin string // base URL
	args  []string
	log   string // path of its log file
	exit  chan error
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100 on
// every Linux architecture).
const userHZ = 100

// startControlPlane runs `binary serve` over dir on loopback with extra
// flags, logging to logPath, and waits until /readyz answers 200.
func startControlPlane(binary, dir, logPath string, extra []string, timeout time.Duration) (*controlPlane, error) {
	xdsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("propagation: control plane log: %w", err)
	}
	defer logFile.Close()
	cp := &controlPlane{
		xds:   fmt.Sprintf("127.0.0.1:%d", xdsPort),
		admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort),
		log:   logPath,
		exit:  make(chan error, 1),
	}
	cp.args = append([]string{"serve", "--routes", dir, "--xds", cp.xds, "--admin", strings.TrimPrefix(cp.admin, "http://")}, extra...)
	cp.cmd = exec.Command(binary, cp.args...)
	cp.cmd.Stdout, cp.cmd.Stderr = logFile, logFile
	if err := cp.cmd.Start(); err != nil {
		return nil, fmt.Errorf("propagation: start control plane %s: %w", binary, err)
	}
	go func() { cp.exit <- cp.cmd.Wait() }()
	err = waitFor(timeout, func() bool {
		select {
		case err := <-cp.exit:
			cp.exit <- err
			return true
		default:
		}
		resp, err := http.Get(cp.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err == nil && cp.exited() {
		err = errors.New("exited")
	}
	if err != nil {
		cp.stop()
		return nil, fmt.Errorf("propagation: control plane not ready: %w\n%s", err, tail(logPath, 20))
	}
	return cp, nil
}

func (cp *controlPlane) exited() bool {
	select {
	case err := <-cp.exit:
		cp.exit <- err
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to 15s for a graceful stop, then kills.
func (cp *controlPlane) stop() error {
	_ = cp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-cp.exit:
		cp.exit <- err
		return err
	case <-time.After(15 * time.Second):
		_ = cp.cmd.Process.Kill()
		return errors.New("propagation: control plane did not stop within 15s; killed")
	}
}

// cpuSeconds is the control plane's user+system CPU time so far.
func (cp *controlPlane) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cp.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("propagation: %w", err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("propagation: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("propagation: short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("propagation: /proc stat: %w", err)
	}
	return float64(utime+stime) / userHZ, nil
}

// memory returns the control plane's resident set size now (VmRSS) and at
// its peak (VmHWM), in bytes.
func (cp *controlPlane) memory() (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", cp.cmd.Process.Pid))
	if err != nil {
		return 0, 0, fmt.Errorf("propagation: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		switch key {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak, sc.Err()
}

// acks returns the control plane's count of ACKs received, summed over
// stream kinds, from /metrics.
func (cp *controlPlane) acks() (int64, error) {
	resp, err := http.Get(cp.admin + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("propagation: %w", err)
	}
	defer resp.Body.Close()
	var total int64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "meshlite_controlplane_xds_acks_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("propagation: /metrics: %q: %w", line, err)
		}
		total += int64(v)
	}
	return total, sc.Err()
}

// BuildControlPlane builds ./cmd/controlplane of the repository at root
// into dir and returns the binary's path.
func BuildControlPlane(root, dir string) (string, error) {
	out := filepath.Join(dir, "controlplane")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/controlplane")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("propagation: go build ./cmd/controlplane: %w\n%s", err, b)
	}
	return out, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("propagation: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
