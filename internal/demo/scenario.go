package demo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"text/template"
	"time"
)

// Scenario runs the seed scenario end to end on loopback: the stand-in
// services, the ambassador binary with the demo table, a mapped call, two
// denied calls, an /explain call, then the audit lines.
type Scenario struct {
	Ambassador string // path to the ambassador binary
	Routes     string // RouteTable template ({{.Door}}, {{.Numbers}}, {{.Timecheck}})
	Out        io.Writer
}

type ports struct{ Door, Numbers, Timecheck, Forward, Admin int }

// Run executes the scenario; an error names the step that failed.
func (s *Scenario) Run(ctx context.Context) error {
	numbers, err := serve(Numbers(0))
	if err != nil {
		return err
	}
	defer numbers.Close()
	timecheck, err := serve(Timecheck())
	if err != nil {
		return err
	}
	defer timecheck.Close()
	p := ports{Numbers: portOf(numbers), Timecheck: portOf(timecheck)}
	if p.Door, p.Forward, p.Admin, err = freePorts(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "meshlite-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	routesFile := filepath.Join(dir, "routes.yaml")
	if err := s.render(routesFile, p); err != nil {
		return err
	}
	s.step("1. the ambassador starts with the demo RouteTable (%s)", routesFile)
	var audit bytes.Buffer
	amb, err := s.start(ctx, routesFile, p, &audit)
	if err != nil {
		return err
	}
	steps := []func(ports) error{s.mapped, s.denied, s.metadata, s.explain}
	for _, step := range steps {
		if err = step(p); err != nil {
			break
		}
	}
	if stopErr := stop(amb); err == nil {
		err = stopErr
	}
	s.step("6. the audit log: one JSON line per request")
	fmt.Fprint(s.Out, audit.String())
	return err
}

func (s *Scenario) render(path string, p ports) error {
	t, err := template.New("routes").Parse(s.Routes)
	if err != nil {
		return fmt.Errorf("demo: routes template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return fmt.Errorf("demo: routes template: %w", err)
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

func (s *Scenario) start(ctx context.Context, routesFile string, p ports, audit io.Writer) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, s.Ambassador, "--routes", routesFile,
		"--listen", fmt.Sprintf("127.0.0.1:%d", p.Forward), "--admin", fmt.Sprintf("127.0.0.1:%d", p.Admin),
		"--log-level", "warn")
	cmd.Stdout, cmd.Stderr = audit, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("demo: start ambassador %s: %w (run `make build` first)", s.Ambassador, err)
	}
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", p.Admin)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, nil
			}
		}
	}
	stop(cmd)
	return nil, errors.New("demo: the ambassador did not become ready within 10s")
}

func (s *Scenario) mapped(p ports) error {
	u := fmt.Sprintf("http://localhost:%d/api", p.Door)
	s.step("2. the app calls %s: the ambassador maps it to the numbers API", u)
	return s.show(http.DefaultClient, u, http.StatusOK)
}

func (s *Scenario) denied(p ports) error {
	s.step("3. the app calls a destination no rule allows, through the forward proxy: 403 with the reason")
	return s.show(proxied(p.Forward), "http://api.unknown.example/exfiltrate", http.StatusForbidden)
}

func (s *Scenario) metadata(p ports) error {
	s.step("4. the app tries the cloud metadata address: denied (literal IPs need a cidrs rule; link-local is never allowed)")
	return s.show(proxied(p.Forward), "http://169.254.169.254/latest/meta-data/", http.StatusForbidden)
}

func (s *Scenario) explain(p ports) error {
	q := url.Values{"url": {fmt.Sprintf("http://localhost:%d/api", p.Door)}, "method": {"GET"}}
	u := fmt.Sprintf("http://127.0.0.1:%d/explain?%s", p.Admin, q.Encode())
	s.step("5. /explain says what would happen to a request, without sending it")
	return s.show(http.DefaultClient, u, http.StatusOK)
}

// show makes one GET and prints the answer; the status must be want.
func (s *Scenario) show(c *http.Client, u string, want int) error {
	resp, err := c.Get(u)
	if err != nil {
		return fmt.Errorf("demo: GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(s.Out, "   GET %s\n   -> %s\n", u, resp.Status)
	if reason := resp.Header.Get("X-Meshlite-Reason"); reason != "" {
		fmt.Fprintf(s.Out, "   X-Meshlite-Reason: %s\n", reason)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		fmt.Fprintf(s.Out, "   | %s\n", sc.Text())
	}
	if resp.StatusCode != want {
		return fmt.Errorf("demo: GET %s: got %s, want %d", u, resp.Status, want)
	}
	return nil
}

func (s *Scenario) step(format string, args ...any) {
	fmt.Fprintf(s.Out, "\n== "+format+"\n", args...)
}

func proxied(port int) *http.Client {
	proxy := &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 10 * time.Second}
}

func serve(h http.Handler) (*http.Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	srv := &http.Server{Handler: h, Addr: ln.Addr().String(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

func portOf(srv *http.Server) int {
	_, port, _ := net.SplitHostPort(srv.Addr)
	var n int
	fmt.Sscan(port, &n)
	return n
}

// freePorts asks the kernel for three free loopback ports.
func freePorts() (a, b, c int, err error) {
	var out [3]int
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, 0, fmt.Errorf("demo: %w", err)
		}
		defer ln.Close()
		out[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return out[0], out[1], out[2], nil
}

// stop sends SIGTERM and waits; the ambassador must exit 0.
func stop(cmd *exec.Cmd) error {
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("demo: ambassador did not stop cleanly on SIGTERM: %w", err)
	}
	return nil
}
