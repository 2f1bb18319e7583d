package contender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// Transparent is the ambassador's transparent door as a pod uses it: the
// load generator's connections are made inside a network namespace where
// `ambassador init` installed the capture, and it sends plain
// `GET http://upstream.test:PORT/data` with no proxy settings; the capture
// redirects them to the ambassador, which runs in the same namespace as
// uid/gid 1337 with --transparent. The upstream is the same server as the
// other contenders', also listening on this namespace's end of the pod's
// veth, and the ambassador's upstream leg crosses that veth.
type Transparent struct{ Binary string }

var _ Contender = Transparent{}

// Proxy identity and capture port, as `ambassador init` defaults them.
const (
	transparentUID  = 1337
	transparentPort = 15001
)

func (Transparent) Name() string { return "meshlite-transparent" }
func (Transparent) Describe() string {
	return "meshlite ambassador, transparent door: client in a network namespace with the capture on (ambassador init), " +
		"GET http://upstream.test:PORT/data with no proxy settings, redirected to --transparent; ambassador as uid/gid 1337; " +
		"upstream over a veth pair; audit log to a file"
}

// TransparentMissing says why the transparent contender cannot run here
// ("" = it can).
func TransparentMissing() string {
	if why := PodMissing(); why != "" {
		return why
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		return "needs setpriv (util-linux) to run the ambassador as uid/gid 1337"
	}
	return ""
}

const transparentTable = `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: bench-transparent}
spec:
  egress:
    - name: upstream
      host: %s
      ports: [%d]
`

func (t Transparent) Start(ctx context.Context, env Env) (_ *Instance, err error) {
	if env.ServeUpstream == nil {
		return nil, errors.New("transparent: the harness offers no way to serve the upstream to a pod")
	}
	if why := TransparentMissing(); why != "" {
		return nil, errors.New("transparent: " + why)
	}
	p, err := newPod(ctx)
	if err != nil {
		return nil, err
	}
	var up net.Listener
	teardown := func() error {
		err := p.remove()
		if up != nil {
			_ = up.Close() // also closed when the upstream stops
		}
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, teardown())
		}
	}()
	if up, err = env.ServeUpstream(net.JoinHostPort(p.gateway.String(), "0")); err != nil {
		return nil, err
	}
	port := up.Addr().(*net.TCPAddr).Port
	if err := t.capture(ctx, env, p); err != nil {
		return nil, err
	}
	routes := filepath.Join(env.Dir, "routes.yaml")
	if err := os.WriteFile(routes, fmt.Appendf(nil, transparentTable, UpstreamName, port), 0o644); err != nil {
		return nil, fmt.Errorf("transparent: %w", err)
	}
	audit := filepath.Join(env.Dir, "audit.log")
	id := strconv.Itoa(transparentUID)
	argv := p.exec("setpriv", "--reuid="+id, "--regid="+id, "--clear-groups", t.Binary,
		"--routes", routes,
		"--transparent", fmt.Sprintf("127.0.0.1:%d", transparentPort),
		"--listen", "127.0.0.1:1080",
		"--admin", "127.0.0.1:9901",
		"--log-level", "warn",
	)
	d, err := startDaemon(env, "ambassador", argv, audit)
	if err != nil {
		return nil, err
	}
	return &Instance{
		Target:   Target{URL: fmt.Sprintf("http://%s:%d%s", UpstreamName, port, UpstreamPath), Dial: p.Dial},
		PID:      d.pid(),
		LogFile:  audit,
		proc:     d,
		teardown: teardown,
	}, nil
}

// capture runs `ambassador init` in the pod, its output kept in the
// contender's directory.
func (t Transparent) capture(ctx context.Context, env Env, p *pod) error {
	id := strconv.Itoa(transparentUID)
	argv := p.exec(t.Binary, "init", "--proxy-uid", id, "--proxy-gid", id,
		"--capture-port", strconv.Itoa(transparentPort), "--dns", p.gateway.String())
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	_ = os.WriteFile(filepath.Join(env.Dir, "init.out"), out, 0o644)
	if err != nil {
		return fmt.Errorf("transparent: ambassador init: %w: %s", err, firstLines(string(out), 8))
	}
	return nil
}
