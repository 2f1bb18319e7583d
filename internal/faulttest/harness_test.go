package faulttest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

func TestMain(m *testing.M) { os.Exit(testnet.MainWithCommands(m, bins, "ambassador", "controlplane")) }

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testnet.Eventually(t, waitLimit, what, cond)
}

// line is the part of an audit line the tests read.
type line struct {
	ID       string `json:"id"`
	Door     string `json:"door"`
	Method   string `json:"method"`
	URL      string `json:"url"`
	Route    string `json:"route"`
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Status   int    `json:"status"`
	Attempts int    `json:"attempts"`
	BytesOut int64  `json:"bytes_out"`
}

// auditSink reads an ambassador's stdout line by line. While paused it
// does not read at all, so the pipe fills as it would behind a stuck log
// shipper.
type auditSink struct {
	pause sync.Mutex // held while the sink is stalled
	mu    sync.Mutex
	lines []line
	bad   []string // lines that are not JSON audit lines
	done  chan struct{}
}

func newAuditSink(r io.Reader) *auditSink {
	s := &auditSink{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			s.pause.Lock()
			b, err := br.ReadBytes('\n')
			s.pause.Unlock()
			if len(b) > 0 {
				s.add(b)
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

func (s *auditSink) add(b []byte) {
	var l line
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := json.Unmarshal(b, &l); err != nil || l.ID == "" {
		s.bad = append(s.bad, string(b))
		return
	}
	s.lines = append(s.lines, l)
}

// stall stops reading until the returned function is called.
func (s *auditSink) stall() (resume func()) {
	s.pause.Lock()
	return sync.OnceFunc(s.pause.Unlock)
}

// proc is a running binary.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr *testnet.Buffer
	exited chan struct{}
	err    error // Wait's result, set before exited closes
	// termSent: SIGTERM was sent (a second one is not, so that a test
	// never depends on what a repeated signal does)
	termSent bool
}

func start(t *testing.T, name string, args []string, stdout io.Writer) *proc {
	t.Helper()
	p := &proc{name: name, stderr: &testnet.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bins[name], args...)
	p.cmd.Stdout, p.cmd.Stderr = stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s %v stderr:\n%s", name, args, p.stderr.String())
		}
	})
	return p
}

// terminate sends SIGTERM once; later calls do nothing.
func (p *proc) terminate(t *testing.T) {
	t.Helper()
	if p.termSent {
		return
	}
	p.termSent = true
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
}

// signal sends sig (SIGTERM at most once) and waits for the exit.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if sig == syscall.SIGTERM {
		p.terminate(t)
	} else if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(waitLimit):
		t.Fatalf("%s did not exit within %s of %s", p.name, waitLimit, sig)
	}
}

// amb is an ambassador process with its audit sink and admin URL.
type amb struct {
	*proc
	audit  *auditSink
	admin  string
	listen string
}

// ambOptions are the ambassador flags a test varies.
type ambOptions struct {
	routes   string // table file; "" = none (with xds: wait for the control plane's)
	overflow string // "" = the default (block)
	xds      string // control plane HOST:PORT, "" = none
	extra    []string
}

func startAmbassador(t *testing.T, o ambOptions) *amb {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	admin := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	args := []string{"--listen", listen, "--admin", admin,
		"--shutdown-grace", "5s", "--dial-timeout", "2s", "--log-level", "info"}
	if o.routes != "" {
		args = append(args, "--routes", o.routes)
	}
	if o.overflow != "" {
		args = append(args, "--audit-overflow", o.overflow)
	}
	if o.xds != "" {
		args = append(args, "--xds", o.xds, "--workload", "app", "--node-id", t.Name())
	}
	args = append(args, o.extra...)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	a := &amb{proc: start(t, "ambassador", args, pw), audit: newAuditSink(pr), admin: "http://" + admin, listen: listen}
	pw.Close() // the child holds the write end now
	t.Cleanup(func() { pr.Close() })
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

// metric sums every series of the named metric on /metrics (all label
// sets); -1 when /metrics cannot be read.
func (a *amb) metric(name string) float64 {
	code, body := get(a.admin + "/metrics")
	if code != http.StatusOK {
		return -1
	}
	return testnet.MetricSum(body, name)
}

// tally is the ambassador's own count of what it answered, read from
// /metrics once the counts are still.
type tally struct {
	requests, lines, dropped float64
}

// settle waits until meshlite_requests_total reaches want and the audit
// counters account for every request (lines written + dropped = requests),
// and returns the counts.
func (a *amb) settle(t *testing.T, want int) tally {
	t.Helper()
	var k tally
	for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		k = tally{a.metric("meshlite_requests_total"), a.metric("meshlite_audit_lines_total"), a.metric("meshlite_audit_dropped_total")}
		if k.requests == float64(want) && k.lines+k.dropped == k.requests {
			return k
		}
	}
	t.Fatalf("metrics did not settle: requests_total %v (client counted %d), audit lines %v + dropped %v",
		k.requests, want, k.lines, k.dropped)
	return k
}

// stop sends SIGTERM, waits for the exit and for stdout's end, and returns
// every audit line.
func (a *amb) stop(t *testing.T) []line {
	t.Helper()
	a.signal(t, syscall.SIGTERM)
	if a.err != nil {
		t.Errorf("ambassador exit: %v\n%s", a.err, a.stderr.String())
	}
	select {
	case <-a.audit.done:
	case <-time.After(waitLimit):
		t.Fatal("stdout not closed after the ambassador exited")
	}
	a.audit.mu.Lock()
	defer a.audit.mu.Unlock()
	if len(a.audit.bad) > 0 {
		t.Errorf("%d stdout lines are not audit lines, first: %q", len(a.audit.bad), a.audit.bad[0])
	}
	return append([]line(nil), a.audit.lines...)
}

// checkIntegrity is the audit log's claim: lines (+ dropped) = requests, on
// both sides: answered, the client's count of the requests the ambassador
// took (those that got any answer, or that reached an open door), and
// meshlite_requests_total.
func checkIntegrity(t *testing.T, fault string, answered int, k tally, lines []line) {
	t.Helper()
	t.Logf("%s: client counted %d, requests_total %v, audit lines %d (lines_total %v), dropped %v",
		fault, answered, k.requests, len(lines), k.lines, k.dropped)
	if float64(len(lines))+k.dropped != float64(answered) || k.requests != float64(answered) {
		t.Errorf("%s: audit lines %d + dropped %v, requests_total %v: want all to account for the %d answered requests",
			fault, len(lines), k.dropped, k.requests, answered)
	}
}

// tableFile writes a RouteTable YAML document and returns its path.
func tableFile(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// routeTable is a table for workload "app" with one local door per route:
// source http://localhost:PORT/api → target, with extra YAML lines for the
// route (timeout, retry), indented as route fields.
type routeSpec struct {
	name, target, extra string
	port                int
}

func routeTable(routes ...routeSpec) string {
	var b strings.Builder
	b.WriteString("apiVersion: meshlite/v1\nkind: RouteTable\nmetadata:\n  name: app\nspec:\n  routes:\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "    - name: %s\n      source: http://localhost:%d/api\n      target: %s\n", r.name, r.port, r.target)
		if r.extra != "" {
			for l := range strings.SplitSeq(strings.TrimSpace(r.extra), "\n") {
				b.WriteString("      " + l + "\n")
			}
		}
	}
	return b.String()
}

// door is the URL of a local mapping door's /api path.
func door(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/api", port) }

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

// silentListener accepts connections and never reads or answers; it holds
// them until the test ends.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}
