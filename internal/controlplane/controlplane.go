// Package controlplane wires the control plane together: the source (a
// directory, or RouteTable resources) feeds the xDS server, and the admin
// listener reports on both.
package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/internal/controlplane/inject"
	"github.com/meshlite/meshlite/internal/controlplane/kube"
	"github.com/meshlite/meshlite/internal/controlplane/source"
	"github.com/meshlite/meshlite/internal/controlplane/webhook"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
	"github.com/meshlite/meshlite/internal/telemetry"
)

// Options configure a control plane. Zero values are useful except
// RoutesDir.
type Options struct {
	// RoutesDir is the directory of RouteTable files. Required unless
	// Kubernetes is set.
	RoutesDir string
	// Kubernetes, when set, replaces the directory with RouteTable
	// resources read from the API server, and writes their status.
	Kubernetes *KubernetesOptions
	// Logger receives every component's events; nil discards them.
	Logger *slog.Logger
	// Registry collects the metrics served on /metrics; nil means
	// telemetry.NewRegistry().
	Registry *prometheus.Registry
	// XDS are the gRPC server's limits and keepalive settings; TypeURL,
	// Logger and Registerer are filled in.
	XDS xds.Options
	// Debounce is the window that coalesces a burst of changes to the
	// directory or the RouteTable resources (an isolated change is
	// published at once; see source.Coalescer); 0 means 100ms.
	Debounce time.Duration
	// Resync rescans the directory this often without change events; 0
	// means never.
	Resync time.Duration
	// AdminOpen lets non-loopback clients read /status (it names files,
	// pods and their addresses); by default only loopback clients may.
	AdminOpen bool
	// ShutdownGrace bounds the admin listener's shutdown; 0 means 10s.
	// The xDS server's own bound is XDS.StopTimeout.
	ShutdownGrace time.Duration
	// Webhook is the mutating admission webhook; off when Addr is empty.
	Webhook WebhookOptions
}

// WebhookOptions configure the admission webhook (POST /inject over TLS).
type WebhookOptions struct {
	// Addr is the HTTPS listen address; "" turns the webhook off.
	Addr string
	// CertFile and KeyFile are the PEM certificate and key, re-read when
	// they change.
	CertFile, KeyFile string
	// Inject is what is injected.
	Inject inject.Options
}

// KubernetesOptions configure the Kubernetes source (package kube).
type KubernetesOptions struct {
	// Config reaches the API server (kube.RESTConfig). Required.
	Config *rest.Config
	// LeaseNamespace and LeaseName name the Lease electing the replica
	// that writes status. Required.
	LeaseNamespace, LeaseName string
	// Identity is this replica in the Lease; "" means POD_NAME (else the
	// host name) with a random suffix.
	Identity string
	// StatusInterval is the shortest time between two status passes; 0
	// means 1s.
	StatusInterval time.Duration
	// Lease timings; 0 means 15s, 10s and 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Status is the /status document.
type Status struct {
	// Ready is true once the source was read (the directory scanned, or
	// the RouteTables listed) and its tables published.
	Ready       bool                 `json:"ready"`
	Tables      []source.TableStatus `json:"tables"`
	Ambassadors []xds.Ambassador     `json:"ambassadors"`
}

// ControlPlane serves the route tables of one source.
type ControlPlane struct {
	opts      Options
	log       *slog.Logger
	reg       *prometheus.Registry
	src       source.Source
	updates   <-chan source.Snapshot
	xds       *xds.Server
	webhook   *webhook.Server // nil when off
	published atomic.Bool
}

// New builds a control plane; Serve or Run starts it.
func New(opts Options) (*ControlPlane, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registry
	if reg == nil {
		reg = telemetry.NewRegistry()
	}
	xo := opts.XDS
	xo.TypeURL, xo.Logger, xo.Registerer = meshlitev1.TypeURL, log, reg
	srv, err := xds.New(xo)
	if err != nil {
		return nil, err
	}
	src, err := newSource(opts, log, reg, srv)
	if err != nil {
		return nil, err
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 10 * time.Second
	}
	wh, err := newWebhook(opts, log)
	if err != nil {
		return nil, err
	}
	return &ControlPlane{opts: opts, log: log, reg: reg, src: src, updates: src.Subscribe(), xds: srv, webhook: wh}, nil
}

// newSource builds the directory source, or the Kubernetes one, which
// counts the xDS server's ambassadors in each RouteTable's status.
func newSource(opts Options, log *slog.Logger, reg prometheus.Registerer, srv *xds.Server) (source.Source, error) {
	if k := opts.Kubernetes; k != nil {
		return kube.New(kube.Options{
			Config: k.Config, Ambassadors: srv.Ambassadors, Logger: log, Registerer: reg,
			LeaseNamespace: k.LeaseNamespace, LeaseName: k.LeaseName, Identity: k.Identity,
			StatusInterval: k.StatusInterval, Window: opts.Debounce,
			LeaseDuration: k.LeaseDuration, RenewDeadline: k.RenewDeadline, RetryPeriod: k.RetryPeriod,
		})
	}
	resync := opts.Resync
	if resync == 0 {
		resync = -1
	}
	return source.NewDir(source.Options{
		Dir: opts.RoutesDir, Logger: log, Registerer: reg, Debounce: opts.Debounce, Resync: resync,
	})
}

// newWebhook builds the webhook server, loading its certificate now so
// that a bad one stops the start; nil when the webhook is off.
func newWebhook(opts Options, log *slog.Logger) (*webhook.Server, error) {
	if opts.Webhook.Addr == "" {
		return nil, nil
	}
	in, err := inject.New(opts.Webhook.Inject)
	if err != nil {
		return nil, err
	}
	return webhook.New(webhook.Options{
		CertFile: opts.Webhook.CertFile, KeyFile: opts.Webhook.KeyFile,
		Handler: webhook.Handler(in, log), Logger: log, ShutdownGrace: opts.ShutdownGrace,
	})
}

// Run listens on xdsAddr, adminAddr and, when the webhook is on, its
// Options.Webhook.Addr, and serves until ctx is done.
func (cp *ControlPlane) Run(ctx context.Context, xdsAddr, adminAddr string) error {
	xdsLis, err := net.Listen("tcp", xdsAddr)
	if err != nil {
		return fmt.Errorf("controlplane: xds listener: %w", err)
	}
	adminLis, err := net.Listen("tcp", adminAddr)
	if err != nil {
		xdsLis.Close()
		return fmt.Errorf("controlplane: admin listener: %w", err)
	}
	var webhookLis net.Listener
	if cp.webhook != nil {
		if webhookLis, err = net.Listen("tcp", cp.opts.Webhook.Addr); err != nil {
			xdsLis.Close()
			adminLis.Close()
			return fmt.Errorf("controlplane: webhook listener: %w", err)
		}
	}
	return cp.ServeListeners(ctx, Listeners{XDS: xdsLis, Admin: adminLis, Webhook: webhookLis})
}

// Listeners are what ServeListeners serves on.
type Listeners struct {
	XDS, Admin net.Listener
	// Webhook serves the admission webhook when it is configured
	// (Options.Webhook.Addr); nil serves none.
	Webhook net.Listener
}

// Serve runs the source, the xDS server and the admin listener until ctx
// is done or one of them fails, then stops them all. It serves no webhook.
func (cp *ControlPlane) Serve(ctx context.Context, xdsLis, adminLis net.Listener) error {
	return cp.ServeListeners(ctx, Listeners{XDS: xdsLis, Admin: adminLis})
}

// ServeListeners is Serve with the webhook's listener too.
func (cp *ControlPlane) ServeListeners(ctx context.Context, lis Listeners) error {
	xdsLis, adminLis := lis.XDS, lis.Admin
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	run := func(f func() error) {
		wg.Go(func() {
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		})
	}
	run(func() error { return cp.src.Run(ctx) })
	run(func() error { cp.publish(ctx); return nil })
	run(func() error { return cp.xds.Serve(ctx, xdsLis) })
	run(func() error { return cp.serveAdmin(ctx, adminLis) })
	if lis.Webhook != nil && cp.webhook != nil {
		run(func() error { return cp.webhook.Serve(ctx, lis.Webhook) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err != nil {
		cp.log.Error("controlplane: stopped", "err", err)
		return err
	}
	cp.log.Info("controlplane: stopped")
	return nil
}

// serveAdmin serves the admin endpoints until ctx is done.
func (cp *ControlPlane) serveAdmin(ctx context.Context, lis net.Listener) error {
	a := cp.admin()
	errc := make(chan error, 1)
	go func() { errc <- a.Serve(lis) }()
	cp.log.Info("admin: serving", "address", lis.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cp.opts.ShutdownGrace)
	defer cancel()
	err := a.Shutdown(sctx)
	return errors.Join(err, <-errc)
}

// publish hands every snapshot to the xDS server.
func (cp *ControlPlane) publish(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case snap := <-cp.updates:
			if err := cp.xds.SetResources(resources(snap)); err != nil {
				cp.log.Error("controlplane: publish failed; the previous tables are still served", "error", err)
				continue
			}
			cp.published.Store(true)
		}
	}
}

func resources(snap source.Snapshot) []xds.Published {
	out := make([]xds.Published, 0, len(snap.Tables))
	for _, t := range snap.Tables {
		out = append(out, xds.Published{
			Resource: xds.Resource{Name: t.Name, Version: t.Version, Message: t.Resource},
			Changed:  t.Loaded,
		})
	}
	return out
}

// Ready reports whether the source was read (the directory scanned, or the
// RouteTables listed) and its tables published.
func (cp *ControlPlane) Ready() bool {
	_, scanned := cp.src.Current()
	return scanned && cp.published.Load()
}

// Status is what /status shows.
func (cp *ControlPlane) Status() Status {
	snap, _ := cp.src.Current()
	st := Status{Ready: cp.Ready(), Tables: snap.Status, Ambassadors: cp.xds.Ambassadors()}
	if st.Tables == nil {
		st.Tables = []source.TableStatus{}
	}
	return st
}

// Handler is the admin listener's handler: /healthz, /readyz, /metrics,
// /version, and /status for loopback clients (all clients with AdminOpen).
func (cp *ControlPlane) Handler() http.Handler { return cp.admin() }

func (cp *ControlPlane) admin() *telemetry.Admin {
	a := telemetry.NewAdmin(telemetry.AdminOptions{
		Registry:  cp.reg,
		Logger:    cp.log,
		OpenDebug: cp.opts.AdminOpen,
		Ready: func() (bool, string) {
			if !cp.Ready() {
				return false, "not ready: " + cp.notReadyReason()
			}
			return true, ""
		},
	})
	a.HandleLocal("GET /status", http.HandlerFunc(cp.serveStatus))
	a.HandleProfiles()
	return a
}

// notReadyReason says what a control plane that is not ready waits for.
func (cp *ControlPlane) notReadyReason() string {
	if cp.opts.Kubernetes != nil {
		return "the RouteTable resources have not been listed and published yet"
	}
	return "the route directory has not been scanned and published yet"
}

func (cp *ControlPlane) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(cp.Status())
}

// Validate checks every RouteTable file of dir as serve would load it and
// writes one line per warning ("warning: file: line N: field path:
// message"; warnings do not fail) and per problem ("file: field path:
// message") to out, then "N tables OK" when there is no problem. It
// reports whether the directory is clean; the error is
// for a directory that cannot be read.
func Validate(dir string, out io.Writer) (bool, error) {
	rep, err := source.ValidateDir(dir)
	if err != nil {
		return false, err
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(out, "warning: "+w.String())
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(out, p.String())
	}
	if len(rep.Problems) > 0 {
		return false, nil
	}
	if rep.Tables == 0 {
		fmt.Fprintf(out, "%s: no RouteTable files (*.yaml, *.yml): is this the right directory?\n", dir)
		return false, nil
	}
	noun := "tables"
	if rep.Tables == 1 {
		noun = "table"
	}
	fmt.Fprintf(out, "%d %s OK\n", rep.Tables, noun)
	return true, nil
}
