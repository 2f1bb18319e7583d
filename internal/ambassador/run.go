// Package ambassador wires the ambassador: configuration in, doors, the
// request pipeline, the admin listener and the xDS client out, until the
// context ends; then a graceful stop.
package ambassador

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/proxy"
	"github.com/meshlite/meshlite/internal/ambassador/resolver"
	"github.com/meshlite/meshlite/internal/ambassador/transparent"
	"github.com/meshlite/meshlite/internal/ambassador/upstream"
	"github.com/meshlite/meshlite/internal/ambassador/xdsclient"
	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/telemetry"
	"github.com/meshlite/meshlite/pkg/routes"
)

// Run serves until ctx ends, then stops gracefully within cfg.ShutdownGrace.
// Audit lines go to stdout, operational logs to stderr.
func Run(ctx context.Context, cfg config.Ambassador, stdout, stderr io.Writer) error {
	log, err := telemetry.NewLogger(stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	deny, err := cfg.DenyList()
	if err != nil {
		return err
	}
	reg := telemetry.NewRegistry()
	tp, stopTracing, err := telemetry.NewTracerProvider(ctx, "meshlite-ambassador")
	if err != nil {
		return err
	}
	defer stopTracing(context.WithoutCancel(ctx))
	auditLog, err := audit.NewLogger(stdout, audit.Options{Overflow: audit.Overflow(cfg.AuditOverflow), Registerer: reg})
	if err != nil {
		return err
	}
	defer auditLog.Close()
	transport := upstream.NewClient(upstream.Options{
		MaxIdleConnsPerHost: cfg.MaxIdleConnsPerHost,
		DialTimeout:         cfg.DialTimeout,
		DefaultTimeout:      cfg.UpstreamTimeout,
		Registerer:          reg,
		Logger:              log,
	})
	defer transport.CloseIdleConnections()

	h := proxy.New(proxy.Options{
		Transport: transport, Audit: auditLog, Logger: log, Registerer: reg,
		TracerProvider: tp, Propagator: telemetry.Propagator(), DefaultTimeout: cfg.UpstreamTimeout,
		TunnelIdleTimeout: cfg.TunnelIdleTimeout, DialTimeout: cfg.DialTimeout, NodeID: nodeID(cfg),
	}, &proxy.State{Origin: "none", Pending: "starting", Workload: cfg.Workload})
	a := &instance{cfg: cfg, log: log, reg: reg, h: h}
	a.doors = newDoors(h, limits{
		readHeaderTimeout: cfg.ReadHeaderTimeout, idleTimeout: cfg.IdleTimeout,
		maxHeaderBytes: cfg.MaxHeaderBytes, maxConnections: cfg.MaxConnections,
	}, log)
	res, err := resolver.New(resolver.Options{ResolvConf: cfg.ResolvConf, NoCache: !cfg.DNSCache})
	if err != nil {
		return err
	}
	a.loader = &loader{
		h: h, doors: a.doors, fixed: fixedSelf(cfg.Admin), deny: deny, resolver: res, log: log, workload: cfg.Workload,
	}
	if err := a.start(ctx); err != nil {
		a.doors.shutdown(context.Background())
		return err
	}
	<-ctx.Done()
	return a.stop()
}

// instance is one running ambassador.
type instance struct {
	cfg    config.Ambassador
	log    *slog.Logger
	reg    *prometheus.Registry
	h      *proxy.Handler
	doors  *doors
	loader *loader
	admin  *telemetry.Admin
	xds    *xdsclient.Client
	// transparent is the transparent door; nil when --transparent is off.
	transparent *transparent.Door
}

func (a *instance) start(ctx context.Context) error {
	if err := a.doors.openForward(a.cfg.Listen); err != nil {
		return err
	}
	if a.cfg.Transparent != "" {
		td, err := a.doors.openTransparent(a.cfg.Transparent, a.cfg.DetectTimeout)
		if err != nil {
			return err
		}
		a.transparent = td
		go td.SelfCheck(ctx)
	}
	if err := a.loadStatic(); err != nil {
		return err
	}
	if a.cfg.XDS != "" {
		if err := a.startXDS(ctx); err != nil {
			return err
		}
	}
	return a.startAdmin()
}

// ready is /readyz: the handler's answer, and while a table is awaited from
// the control plane, what the xDS client last saw.
func (a *instance) ready() (bool, string) {
	if a.transparent != nil {
		if ok, reason := a.transparent.Ready(); !ok {
			return false, reason
		}
	}
	ok, reason := a.h.Ready()
	if ok || a.xds == nil {
		return ok, reason
	}
	switch st := a.xds.State(); {
	case st.LastNACK != "":
		return false, reason + " (last table rejected: " + st.LastNACK + ")"
	case st.Connected:
		return false, reason + " (connected; the control plane has no table for this workload yet)"
	case st.LastError != "":
		return false, reason + " (last attempt: " + st.LastError + ")"
	}
	return false, reason
}

// loadStatic serves the --routes file, the Proxy__ table, or deny-all; with
// --xds and neither, it denies with a reason until the first table arrives.
func (a *instance) loadStatic() error {
	rt, origin, err := a.staticTable()
	if err != nil {
		return err
	}
	if rt == nil && a.cfg.XDS != "" {
		a.h.Swap(&proxy.State{Origin: "none", Workload: a.cfg.Workload, Pending: fmt.Sprintf(
			"no route table yet: waiting for workload %q's table from the control plane at %s", a.cfg.Workload, a.cfg.XDS)})
		return nil
	}
	if rt == nil {
		a.log.Warn("no route table configured: every request is denied (pass --routes FILE or --xds)")
		rt, origin = denyAll(), "none"
	}
	return a.loader.apply(rt, "", origin)
}

func (a *instance) staticTable() (*routes.RouteTable, string, error) {
	if a.cfg.Routes != "" {
		rt, err := routes.Load(a.cfg.Routes)
		return rt, "file:" + a.cfg.Routes, err
	}
	rt, err := a.cfg.Compat.Table()
	return rt, "environment", err
}

func (a *instance) startAdmin() error {
	a.admin = telemetry.NewAdmin(telemetry.AdminOptions{
		Registry: a.reg, Ready: a.ready, OpenDebug: a.cfg.AdminOpen, Logger: a.log,
	})
	a.admin.HandleLocal("/config_dump", a.h.ConfigDumpHandler())
	a.admin.HandleLocal("/explain", a.h.ExplainHandler())
	a.admin.HandleProfiles()
	ln, err := net.Listen("tcp", a.cfg.Admin)
	if err != nil {
		return fmt.Errorf("ambassador: cannot open admin listener on %s: %w", a.cfg.Admin, errors.Unwrap(err))
	}
	go func() {
		if err := a.admin.Serve(ln); err != nil {
			a.log.Error("admin listener stopped", "addr", a.cfg.Admin, "err", err)
		}
	}()
	return nil
}

// nodeID is the ambassador's node id, sent to the control plane and written
// in every audit line: --node-id, else $POD_NAME, else the host name; empty
// when even the host name is unknown (the xDS client then reports why).
func nodeID(cfg config.Ambassador) string {
	if cfg.NodeID != "" {
		return cfg.NodeID
	}
	if pod := os.Getenv("POD_NAME"); pod != "" {
		return pod
	}
	host, _ := os.Hostname()
	return host
}

func (a *instance) startXDS(ctx context.Context) error {
	c, err := xdsclient.New(xdsclient.Options{
		Addr: a.cfg.XDS, NodeID: nodeID(a.cfg), Workload: a.cfg.Workload, Namespace: a.cfg.Namespace,
		Logger: a.log, Registerer: a.reg,
		Security: xdsclient.Security{
			CAFile: a.cfg.XDSClientIdentity.CA, ServerName: a.cfg.XDSClientIdentity.ServerName,
			CertFile: a.cfg.XDSClientIdentity.Cert, KeyFile: a.cfg.XDSClientIdentity.Key, TokenFile: a.cfg.XDSClientIdentity.Token,
		},
		Apply: func(version string, rt *routes.RouteTable) error {
			return a.loader.apply(rt, version, "xds:"+a.cfg.XDS)
		},
	})
	if err != nil {
		return err
	}
	a.xds = c
	go func() {
		if err := c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("xds client stopped", "err", err)
		}
	}()
	return nil
}

// stop stops accepting, lets in-flight requests and tunnels finish within
// the grace period, then closes what is left.
func (a *instance) stop() error {
	a.log.Info("shutting down", "grace", a.cfg.ShutdownGrace.String())
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace)
	defer cancel()
	a.doors.shutdown(ctx)
	a.h.Wait(ctx)
	if a.admin != nil {
		a.admin.Shutdown(ctx)
	}
	a.log.Info("stopped")
	return nil
}

// fixedSelf is the admin listener as the policy must see it: a wildcard
// bind is the ambassador's own on every address.
func fixedSelf(admin string) []netip.AddrPort {
	host, port, err := net.SplitHostPort(admin)
	if err != nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(orUnspecified(host), port))
	if err != nil {
		return nil
	}
	self := []netip.AddrPort{ap}
	if ap.Addr().IsUnspecified() {
		// bound to every address: the pod IP reaches it too.
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if p, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(p.IP); ok {
					self = append(self, netip.AddrPortFrom(ip.Unmap(), ap.Port()))
				}
			}
		}
	}
	return self
}

func orUnspecified(host string) string {
	if host == "" {
		return "0.0.0.0"
	}
	if host == "localhost" {
		return "127.0.0.1"
	}
	return host
}
