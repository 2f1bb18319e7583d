// Package contender starts the proxies the benchmark compares, each as a
// child process on loopback with its own config in a private directory.
package contender

import (
	"context"
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
}

// Instance is a started contender.
type Instance struct {
	Target Target
	// PID is the root process whose tree is measured; 0 = no process (direct).
	PID int
	// LogFile counts one line per request (access or audit log); "" = none.
	LogFile string
	proc    *daemon
}

// Stop ends the contender's processes and waits for them.
func (i *Instance) Stop() error {
	if i.proc == nil {
		return nil
	}
	return i.proc.stop()
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
