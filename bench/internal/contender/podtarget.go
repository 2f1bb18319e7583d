package contender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// Resolve is how a PodTarget's route names its upstream.
type Resolve int

const (
	// ByIP: the route target is the upstream's address.
	ByIP Resolve = iota
	// ByName: the route target is a DNS name, resolved with the cache on.
	ByName
	// ByNameUncached: the same name with --dns-cache=false.
	ByNameUncached
)

// PodTarget is the ambassador's local mapping door in a pod (a network
// namespace, as for the transparent contender) whose resolver
// configuration is a Kubernetes pod's: three search domains and ndots:5,
// so the upstream's external name (one dot) is tried with each search
// domain before itself, A and AAAA each: 8 questions per uncached lookup.
// A DNS server written with miekg/dns runs in the harness on the pod's
// gateway. The ByIP row is the same pod with an address target: the
// difference between the rows is what resolving costs.
type PodTarget struct {
	Binary  string
	Resolve Resolve
}

var _ Contender = PodTarget{}

// PodUpstreamName is the external name the ByName rows' route targets.
const PodUpstreamName = "upstream.example"

// podSearch is the pod's search list, as Kubernetes writes it.
const podSearch = "bench.svc.cluster.local svc.cluster.local cluster.local"

func (t PodTarget) Name() string {
	switch t.Resolve {
	case ByName:
		return "meshlite-pod-name"
	case ByNameUncached:
		return "meshlite-pod-name-nocache"
	}
	return "meshlite-pod-ip"
}

func (t PodTarget) Describe() string {
	const pod = "meshlite ambassador in a pod (network namespace; search with three domains, ndots:5), " +
		"local mapping door (GET http://127.0.0.1:PORT/api from inside the pod), upstream over a veth pair, "
	switch t.Resolve {
	case ByName:
		return pod + "route target " + PodUpstreamName + " resolved by a DNS server on the pod's gateway (miekg/dns in the harness, TTL 30 s), --dns-cache=true"
	case ByNameUncached:
		return pod + "route target " + PodUpstreamName + " resolved by DNS for every request (--dns-cache=false: 8 questions each)"
	}
	return pod + "route target the upstream's IP address (no DNS)"
}

const podTable = `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: bench-pod}
spec:
  routes:
    - name: api
      source: http://localhost:%d%s
      target: http://%s%s
`

// podDoor is the mapping door's port inside the pod.
const podDoor = 8080

func (t PodTarget) Start(ctx context.Context, env Env) (_ *Instance, err error) {
	if env.ServeUpstream == nil {
		return nil, errors.New("pod: the harness offers no way to serve the upstream to a pod")
	}
	if why := PodMissing(); why != "" {
		return nil, errors.New("pod: " + why)
	}
	p, err := newPod(ctx)
	if err != nil {
		return nil, err
	}
	var closers []func() error
	teardown := func() error {
		errs := []error{p.remove()}
		for _, c := range closers {
			errs = append(errs, c())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, teardown())
		}
	}()
	up, err := env.ServeUpstream(net.JoinHostPort(p.gateway.String(), "0"))
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() error { _ = up.Close(); return nil }) // also closed when the upstream stops
	target := up.Addr().String()
	argv := []string{t.Binary}
	if t.Resolve != ByIP {
		srv, err := startDNSServer(p.gateway.String(), PodUpstreamName, p.gateway)
		if err != nil {
			return nil, fmt.Errorf("pod: dns server: %w", err)
		}
		closers = append(closers, srv.Close)
		conf := filepath.Join(env.Dir, "resolv.conf")
		body := fmt.Sprintf("nameserver %s\nsearch %s\noptions ndots:5\n", srv.addr, podSearch)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			return nil, fmt.Errorf("pod: %w", err)
		}
		target = net.JoinHostPort(PodUpstreamName, strconv.Itoa(up.Addr().(*net.TCPAddr).Port))
		argv = append(argv, "--resolv-conf", conf, "--dns-cache="+strconv.FormatBool(t.Resolve == ByName))
	}
	routes := filepath.Join(env.Dir, "routes.yaml")
	if err := os.WriteFile(routes, fmt.Appendf(nil, podTable, podDoor, ProxiedPath, target, UpstreamPath), 0o644); err != nil {
		return nil, fmt.Errorf("pod: %w", err)
	}
	audit := filepath.Join(env.Dir, "audit.log")
	argv = append(argv, "--routes", routes, "--listen", "127.0.0.1:1080", "--admin", "127.0.0.1:9901", "--log-level", "warn")
	d, err := startDaemon(env, "ambassador", p.exec(argv...), audit)
	if err != nil {
		return nil, err
	}
	return &Instance{
		Target:   Target{URL: fmt.Sprintf("http://127.0.0.1:%d%s", podDoor, ProxiedPath), Dial: p.Dial},
		PID:      d.pid(),
		LogFile:  audit,
		proc:     d,
		teardown: teardown,
	}, nil
}
