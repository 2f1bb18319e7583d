package learntest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

// waitLimit bounds every wait: generous, since the machine is shared; the
// tests assert what happens, never how fast.
const waitLimit = 20 * time.Second

// bins holds the paths of the built binaries, by command name.
var bins = map[string]string{}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// the upstream helper inside the namespace needs no binaries
		os.Exit(m.Run())
	}
	os.Exit(testnet.MainWithCommands(m, bins, "ambassador", "controlplane"))
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testnet.Eventually(t, waitLimit, what, cond)
}

// run runs a binary to completion and returns its stdout, stderr and exit
// error.
func run(t *testing.T, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var o, e strings.Builder
	cmd := exec.CommandContext(ctx, bins[name], args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// ambassador is a running ambassador whose stdout (the audit log) is
// collected whole.
type ambassador struct {
	cmd     *exec.Cmd
	audit   *testnet.Buffer
	stderr  *testnet.Buffer
	exited  chan struct{}
	err     error // Wait's result, set before exited closes
	admin   string
	forward string // the forward door, http://HOST:PORT
}

// startAmbassador starts an ambassador serving the static table in routes
// for workload "web", resolving names through resolvConf, and waits until
// it is ready.
func startAmbassador(t *testing.T, routes, resolvConf string) *ambassador {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	admin := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	a := &ambassador{audit: &testnet.Buffer{}, stderr: &testnet.Buffer{}, exited: make(chan struct{}),
		admin: "http://" + admin, forward: "http://" + listen}
	a.cmd = exec.Command(bins["ambassador"], "--listen", listen, "--admin", admin, "--routes", routes,
		"--workload", "web", "--node-id", "web-7d9f-x2", "--resolv-conf", resolvConf,
		"--shutdown-grace", "5s", "--dial-timeout", "2s", "--log-level", "info")
	a.cmd.Stdout, a.cmd.Stderr = a.audit, a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start ambassador: %v", err)
	}
	go func() { a.err = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-a.exited
		if t.Failed() {
			t.Logf("ambassador stderr:\n%s", a.stderr.String())
		}
	})
	eventually(t, "the ambassador ready", func() bool {
		select {
		case <-a.exited:
			t.Fatalf("ambassador exited early: %v\n%s", a.err, a.stderr.String())
		default:
		}
		code, _ := get(a.admin + "/readyz")
		return code == http.StatusOK
	})
	return a
}

// waitLines waits until the ambassador has written n audit lines, as
// /metrics counts them (a CONNECT tunnel's line comes when it closes).
func (a *ambassador) waitLines(t *testing.T, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d audit lines", n), func() bool {
		return a.metric("meshlite_audit_lines_total") == float64(n)
	})
}

// metric sums every series of the named metric on /metrics; -1 when
// /metrics cannot be read.
func (a *ambassador) metric(name string) float64 {
	code, body := get(a.admin + "/metrics")
	if code != http.StatusOK {
		return -1
	}
	return testnet.MetricSum(body, name)
}

// stop sends SIGTERM, waits for the exit and returns the whole audit log.
func (a *ambassador) stop(t *testing.T) string {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM ambassador: %v", err)
	}
	select {
	case <-a.exited:
	case <-time.After(waitLimit):
		t.Fatalf("ambassador did not exit within %s of SIGTERM", waitLimit)
	}
	if a.err != nil {
		t.Errorf("ambassador exit: %v\n%s", a.err, a.stderr.String())
	}
	return a.audit.String()
}

var plainClient = &http.Client{Timeout: waitLimit}

// get returns the status and body of GET url; 0 and the error on failure.
func get(url string) (int, string) {
	resp, err := plainClient.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}
