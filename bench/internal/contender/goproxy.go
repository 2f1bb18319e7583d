package contender

import (
	"context"
	"fmt"
	"path/filepath"
)

// GoProxy is cmd/goproxy: net/http/httputil.ReverseProxy and nothing else,
// the floor for any proxy built on Go's net/http.
type GoProxy struct{ Binary string }

var _ Contender = GoProxy{}

func (GoProxy) Name() string { return "go-reverseproxy" }
func (GoProxy) Describe() string {
	return "Go's net/http/httputil.ReverseProxy alone (bench/cmd/goproxy): no allowlist, no log, no metrics; the floor for a net/http proxy"
}

func (g GoProxy) Start(_ context.Context, env Env) (*Instance, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	d, err := startDaemon(env, "goproxy", []string{g.Binary, "-listen", addr, "-upstream", env.Upstream}, "")
	if err != nil {
		return nil, err
	}
	return &Instance{Target: Target{URL: "http://" + addr + ProxiedPath}, PID: d.pid(), proc: d}, nil
}

// BuildGoProxy builds ./cmd/goproxy of the bench module rooted at benchDir
// into outDir with the ambassador's release flags and returns its path.
func BuildGoProxy(ctx context.Context, benchDir, outDir string) (string, error) {
	bin := filepath.Join(outDir, "goproxy")
	if err := releaseBuild(ctx, benchDir, bin, "./cmd/goproxy", ""); err != nil {
		return "", fmt.Errorf("goproxy: %w", err)
	}
	return bin, nil
}
