package contender

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// daemon is a contender process run in the foreground as our child, in its
// own process group so that its workers can be stopped with it.
type daemon struct {
	name    string
	cmd     *exec.Cmd
	stderr  string
	done    chan struct{}
	waitErr error
}

// startDaemon runs argv (pinned with taskset when env.CPU is set) with stdout
// to stdoutPath ("" = discard) and stderr to <Dir>/<name>.stderr.
func startDaemon(env Env, name string, argv []string, stdoutPath string) (*daemon, error) {
	if env.CPU != "" {
		argv = append([]string{"taskset", "-c", env.CPU}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = env.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	d := &daemon{name: name, cmd: cmd, stderr: filepath.Join(env.Dir, name+".stderr"), done: make(chan struct{})}
	errFile, err := os.Create(d.stderr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer errFile.Close()
	cmd.Stderr = errFile
	if stdoutPath != "" {
		out, err := os.Create(stdoutPath)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defer out.Close()
		cmd.Stdout = out
	}
	env.Log.Debug("starting", "contender", name, "argv", strings.Join(argv, " "))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, argv[0], err)
	}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// exited reports an early exit with the tail of the process's stderr.
func (d *daemon) exited() error {
	select {
	case <-d.done:
		return fmt.Errorf("%s: exited early (%v): %s", d.name, d.waitErr, d.stderrTail())
	default:
		return nil
	}
}

func (d *daemon) stderrTail() string {
	raw, _ := os.ReadFile(d.stderr)
	s := strings.TrimSpace(string(raw))
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}

// stop sends SIGTERM to the process group, then SIGKILL after 5 s.
func (d *daemon) stop() error {
	pgid := d.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-d.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s: pid %d did not exit after SIGKILL", d.name, pgid)
	}
}

// WaitReady polls the target until it answers 200 with a body of wantBytes,
// the process exits, or timeout passes.
func (i *Instance) WaitReady(ctx context.Context, wantBytes int, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(i.Target.Proxy), DialContext: i.Target.Dial}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if i.proc != nil {
			if err := i.proc.exited(); err != nil {
				return err
			}
		}
		if last = probe(ctx, client, i.Target.URL, wantBytes); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("contender: not ready after %s: %w", timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func probe(ctx context.Context, c *http.Client, url string, wantBytes int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %.200s", url, resp.StatusCode, body)
	}
	if len(body) != wantBytes {
		return fmt.Errorf("GET %s: body %d bytes, want %d", url, len(body), wantBytes)
	}
	return nil
}
