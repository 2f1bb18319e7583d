package contender

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Door selects how the load generator reaches the ambassador.
type Door int

const (
	// MappingDoor sends origin-form requests to the local mapping listener
	// that the route source's localhost port opens.
	MappingDoor Door = iota
	// ForwardDoor sends absolute-form requests for the route source URL
	// through the forward proxy listener (--listen).
	ForwardDoor
)

// Ambassador is the meshlite ambassador binary, driven through its CLI with
// a static RouteTable and its audit log on (stdout to a file).
type Ambassador struct {
	Binary string
	Door   Door
}

var _ Contender = Ambassador{}

func (a Ambassador) Name() string {
	if a.Door == ForwardDoor {
		return "meshlite-forward"
	}
	return "meshlite-mapping"
}

func (a Ambassador) Describe() string {
	if a.Door == ForwardDoor {
		return "meshlite ambassador, forward-proxy door (GET http://localhost:PORT/api via --listen), audit log to a file"
	}
	return "meshlite ambassador, local mapping door (GET http://127.0.0.1:PORT/api), audit log to a file"
}

const routeTable = `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: bench}
spec:
  routes:
    - name: api
      source: http://localhost:%d%s
      target: http://%s%s
`

func (a Ambassador) Start(_ context.Context, env Env) (*Instance, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	door, listen, admin := ports[0], ports[1], ports[2]
	routes := filepath.Join(env.Dir, "routes.yaml")
	table := fmt.Sprintf(routeTable, door, ProxiedPath, env.Upstream, UpstreamPath)
	if err := os.WriteFile(routes, []byte(table), 0o644); err != nil {
		return nil, fmt.Errorf("ambassador: %w", err)
	}
	audit := filepath.Join(env.Dir, "audit.log")
	argv := []string{a.Binary,
		"--routes", routes,
		"--listen", fmt.Sprintf("127.0.0.1:%d", listen),
		"--admin", fmt.Sprintf("127.0.0.1:%d", admin),
		"--log-level", "warn",
	}
	d, err := startDaemon(env, "ambassador", argv, audit)
	if err != nil {
		return nil, err
	}
	target := Target{URL: fmt.Sprintf("http://127.0.0.1:%d%s", door, ProxiedPath)}
	if a.Door == ForwardDoor {
		target = Target{
			URL:   fmt.Sprintf("http://localhost:%d%s", door, ProxiedPath),
			Proxy: &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", listen)},
		}
	}
	return &Instance{Target: target, PID: d.pid(), LogFile: audit, proc: d}, nil
}

// BuildAmbassador builds ./cmd/ambassador of the main module rooted at
// moduleDir into outDir the way the release image does (static, no cgo,
// stripped) and returns the binary's path. The error carries the compiler's
// output so that a skipped contender says why.
func BuildAmbassador(ctx context.Context, moduleDir, outDir string) (string, error) {
	bin := filepath.Join(outDir, "ambassador")
	if _, err := os.Stat(filepath.Join(moduleDir, "cmd", "ambassador")); err != nil {
		return "", fmt.Errorf("ambassador: no cmd/ambassador in %s yet", moduleDir)
	}
	if err := releaseBuild(ctx, moduleDir, bin, "./cmd/ambassador", "grpcnotrace"); err != nil {
		return "", fmt.Errorf("ambassador: %w", err)
	}
	return bin, nil
}

// releaseBuild builds pkg of the module in dir into bin as meshlite's
// releases are built: static (no cgo), -trimpath, stripped, with tags.
func releaseBuild(ctx context.Context, dir, bin, pkg, tags string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", tags, "-ldflags", "-s -w", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, firstLines(string(out), 8))
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, " | ")
}
