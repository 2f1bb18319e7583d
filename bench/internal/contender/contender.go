// Package contender starts the proxies the benchmark compares, each as a
// child process on loopback with its own config in a private directory.
package contender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
)

// Contender is one way of getting a GET from the load generator to the
// upstream.
type Contender interface {
	// Name is the short row label, e.g. "nginx".
	Name() string
	// Describe says in one line how the contender is set up.
	Describe() string
	// Start launches the contender and returns once its process is running
	// (not necessarily ready: see Instance.WaitReady).
	Start(ctx context.Context, env Env) (*Instance, error)
}

// Env is what a contender needs to start.
type Env struct {
	Dir      string // private writable directory for configs and logs
	Upstream string // upstream host:port on loopback, serving UpstreamPath
	CPU      string // CPU list for taskset (e.g. "0"); "" = no pinning
	Log      *slog.Logger
	// ServeUpstream makes the same upstream also listen on addr (host:port,
	// port 0 = any free one) until the returned listener is closed, for a
	// contender that cannot reach loopback; nil = not offered.
	ServeUpstream func(addr string) (net.Listener, error)
}

// UpstreamPath is the upstream resource every contender must reach.
const UpstreamPath = "/data"

// ProxiedPath is the path clients ask the reverse proxies and the
// ambassador for; they rewrite it to UpstreamPath.
const ProxiedPath = "/api"

// Target is where the load generator sends its requests.
type Target struct {
	URL   string   // GET this URL
	Proxy *url.URL // through this forward proxy; nil = connect to URL's host
	// Dial opens the load generator's connections; nil = an ordinary
	// dialer here. A contender whose client must sit elsewhere (in another
	// network namespace) sets it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Instance is a started contender.
type Instance struct {
	Target Target
	// PID is the root process whose tree is measured; 0 = no process (direct).
	PID int
	// LogFile counts one line per request (access or audit log); "" = none.
	LogFile string
	proc    *daemon
	// teardown undoes what Start set up besides the process (a network
	// namespace, say), after the process has stopped; nil = nothing.
	teardown func() error
}

// Stop ends the contender's processes, waits for them and tears down what
// else the contender set up.
func (i *Instance) Stop() error {
	var err error
	if i.proc != nil {
		err = i.proc.stop()
	}
	if i.teardown != nil {
		err = errors.Join(err, i.teardown())
	}
	return err
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("contender: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePorts returns n distinct free ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("contender: free port: %w", err)
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Direct sends requests straight to the upstream: the floor.
type Direct struct{}

var _ Contender = Direct{}

func (Direct) Name() string     { return "direct" }
func (Direct) Describe() string { return "no proxy: load generator → upstream" }

func (Direct) Start(_ context.Context, env Env) (*Instance, error) {
	return &Instance{Target: Target{URL: "http://" + env.Upstream + UpstreamPath}}, nil
}
