package capturetest

// The system under test: the ambassador binary, built once per test run,
// `ambassador init` run as root in the pod, and the ambassador itself run
// in the pod as the proxy user with its audit log captured.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

const (
	capturePort = 15001
	adminAddr   = "127.0.0.1:9901"
	buildWait   = 5 * time.Minute
)

// binaries are the ambassador and a copy of this test binary in a directory
// every user in the pod can read: the go tool's own directories are
// root's alone.
type binaries struct {
	dir, ambassador, test string
	copyErr, buildErr     error
}

var (
	copyOnce, buildOnce sync.Once
	bins                binaries
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// testBinary copies this test binary where the pod's users can run it,
// once per run.
func testBinary(t *testing.T) *binaries {
	t.Helper()
	copyOnce.Do(func() { bins.copyErr = bins.copyTest() })
	if bins.copyErr != nil {
		t.Fatal(bins.copyErr)
	}
	return &bins
}

// buildBinaries also builds the ambassador from this module, once per run.
func buildBinaries(t *testing.T) *binaries {
	t.Helper()
	testBinary(t)
	buildOnce.Do(func() { bins.buildErr = bins.buildAmbassador() })
	if bins.buildErr != nil {
		t.Fatal(bins.buildErr)
	}
	return &bins
}

func (b *binaries) copyTest() error {
	dir, err := os.MkdirTemp("", "meshlite-capturetest-")
	if err != nil {
		return err
	}
	b.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	b.test = filepath.Join(dir, "capturetest.test")
	return copyFile(os.Args[0], b.test, 0o755)
}

func (b *binaries) buildAmbassador() error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildWait)
	defer cancel()
	b.ambassador = filepath.Join(b.dir, "ambassador")
	build := exec.CommandContext(ctx, "go", "build", "-o", b.ambassador, "./cmd/ambassador")
	build.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the ambassador: %v\n%s", err, out)
	}
	return nil
}

func copyFile(from, to string, mode os.FileMode) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// initCapture runs `ambassador init` as root in the pod.
func (tp *topology) initCapture(t *testing.T, b *binaries, args ...string) string {
	t.Helper()
	out, err := cmdOutput("ip", append([]string{"netns", "exec", tp.pod, b.ambassador, "init"}, args...)...)
	if err != nil {
		t.Fatalf("ambassador init: %v", err)
	}
	return out
}

// ambassador is a running ambassador process in a pod.
type ambassador struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *testnet.Buffer // the audit log
	stderr *testnet.Buffer
}

// startAmbassador runs the ambassador in the pod as uid:uid with the
// transparent door, the given RouteTable and extra flags; it is stopped in
// t.Cleanup and lives at most helperLifetime.
func (tp *topology) startAmbassador(b *binaries, uid int, table string, extra ...string) *ambassador {
	tp.t.Helper()
	return tp.startWrappedAmbassador(b, uid, table, nil, extra...)
}

// startWrappedAmbassador is startAmbassador with wrap (a command such as
// prlimit and its flags) run in the pod before setpriv.
func (tp *topology) startWrappedAmbassador(b *binaries, uid int, table string, wrap []string, extra ...string) *ambassador {
	t := tp.t
	t.Helper()
	routes := filepath.Join(b.dir, tp.pod+"-routes.yaml")
	if err := os.WriteFile(routes, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(routes) })
	id := strconv.Itoa(uid)
	args := append([]string{"netns", "exec", tp.pod}, wrap...)
	args = append(args, "setpriv", "--reuid="+id, "--regid="+id, "--clear-groups",
		b.ambassador, "--routes", routes, "--transparent", "127.0.0.1:"+strconv.Itoa(capturePort),
		"--listen", "127.0.0.1:1080", "--admin", adminAddr)
	a := &ambassador{t: t, stdout: &testnet.Buffer{}, stderr: &testnet.Buffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), helperLifetime)
	a.cmd = exec.CommandContext(ctx, "ip", append(args, extra...)...)
	a.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	a.cmd.Dir = b.dir
	a.cmd.Stdout, a.cmd.Stderr = a.stdout, a.stderr
	if err := a.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting the ambassador: %v", err)
	}
	t.Cleanup(func() {
		stopProcess(a.cmd, func() error { return a.cmd.Process.Signal(syscall.SIGTERM) })
		cancel()
		if t.Failed() {
			t.Logf("ambassador (uid %d) stderr:\n%s\nstdout:\n%s", uid, a.stderr, a.stdout)
		}
	})
	return a
}

// stopProcess asks cmd to end with ask, waits up to five seconds, then
// kills it.
func stopProcess(cmd *exec.Cmd, ask func() error) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	ask()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// auditLine is one decoded audit line.
type auditLine map[string]any

func (l auditLine) str(k string) string {
	v, _ := l[k].(string)
	return v
}

func (l auditLine) num(k string) int64 {
	v, _ := l[k].(float64)
	return int64(v)
}

func (l auditLine) String() string {
	b, _ := json.Marshal(l)
	return string(b)
}

// audit returns the audit lines written so far (stdout lines that are JSON
// objects).
func (a *ambassador) audit() []auditLine {
	var out []auditLine
	for _, s := range strings.Split(a.stdout.String(), "\n") {
		var l auditLine
		if strings.HasPrefix(s, "{") && json.Unmarshal([]byte(s), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// waitAudit waits until a line after the first `from` matches, and
// returns it. Lines are written after the answer, a connection's only when
// it closes, so the test polls, bounded.
func (a *ambassador) waitAudit(t *testing.T, from int, what string, match func(auditLine) bool) auditLine {
	t.Helper()
	deadline := time.Now().Add(stateWait)
	for {
		lines := a.audit()
		for _, l := range lines[min(from, len(lines)):] {
			if match(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, l := range lines[min(from, len(lines)):] {
				b.WriteString("\n  " + l.String())
			}
			t.Fatalf("no audit line for %s within %s; lines since the case began:%s", what, stateWait, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mark returns the number of audit lines so far, where a case begins.
func (a *ambassador) mark() int { return len(a.audit()) }
