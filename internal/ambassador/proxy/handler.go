package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/upstream"
)

// Door names, as written in audit lines and metric labels.
const (
	DoorForward = "forward"
	DoorLocal   = "local"
	DoorExplain = "explain"
)

// Upstream sends allowed requests and dials allowed tunnels, to the checked
// addresses of the upstream.Target in the request context.
type Upstream interface {
	http.RoundTripper
	DialTunnel(ctx context.Context, t *upstream.Target) (net.Conn, error)
}

var _ Upstream = (*upstream.Transport)(nil)

// Options wire a Handler. Transport and Audit are required.
type Options struct {
	Transport      Upstream
	Audit          *audit.Logger
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// DefaultTimeout bounds a call whose route sets no timeout, retries
	// included. 0 means 30s.
	DefaultTimeout time.Duration
	// TunnelIdleTimeout closes a CONNECT tunnel, protocol upgrade or
	// transparent stream when no byte has moved either way for this long.
	// 0 means 1h.
	TunnelIdleTimeout time.Duration
	// DialTimeout bounds each name lookup (with the route timeout, else
	// DefaultTimeout, when shorter). 0 means 5s.
	DialTimeout time.Duration
	// NodeID is written in every audit line: the ambassador's xDS node id.
	NodeID string
}

// Handler is the pipeline shared by every door.
type Handler struct {
	state       atomic.Pointer[State]
	transport   Upstream
	audit       *audit.Logger
	log         *slog.Logger
	metrics     *metrics
	tracer      trace.Tracer
	tracing     bool // spans are recorded (not the no-op provider)
	propagator  propagation.TextMapPropagator
	timeout     time.Duration
	idleTimeout time.Duration
	dialTimeout time.Duration // bounds name lookups
	nodeID      string        // audit lines' node_id
	rp          *httputil.ReverseProxy
	ids         idSource
	tunnels     tunnels
	inflight    sync.WaitGroup
}

// New builds a Handler serving state s.
func New(opts Options, s *State) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	_, noTracing := opts.TracerProvider.(noop.TracerProvider)
	if opts.TracerProvider == nil {
		opts.TracerProvider, noTracing = noop.NewTracerProvider(), true
	}
	if opts.Propagator == nil {
		opts.Propagator = propagation.TraceContext{}
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = 30 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.TunnelIdleTimeout <= 0 {
		opts.TunnelIdleTimeout = defaultTunnelIdleTimeout
	}
	h := &Handler{
		transport:   opts.Transport,
		audit:       opts.Audit,
		log:         opts.Logger,
		metrics:     newMetrics(opts.Registerer),
		tracer:      opts.TracerProvider.Tracer("github.com/meshlite/meshlite/ambassador"),
		tracing:     !noTracing,
		propagator:  opts.Propagator,
		timeout:     opts.DefaultTimeout,
		idleTimeout: opts.TunnelIdleTimeout,
		dialTimeout: opts.DialTimeout,
		nodeID:      opts.NodeID,
	}
	h.ids.init()
	h.rp = &httputil.ReverseProxy{
		Rewrite:        h.rewrite,
		Transport:      opts.Transport,
		ErrorHandler:   h.upstreamError,
		ModifyResponse: stripOwnHeaders,
		BufferPool:     copyBuffers,
		ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	h.Swap(s)
	return h
}

// Swap makes s the state new requests use. In-flight requests finish on the
// state they started with. The transport's idle connections are closed, so
// the next requests dial the addresses the new table checks.
func (h *Handler) Swap(s *State) {
	if s.Loaded.IsZero() {
		s.Loaded = time.Now()
	}
	h.state.Store(s)
	h.metrics.swapped(s)
	if c, ok := h.transport.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// State returns the current state.
func (h *Handler) State() *State { return h.state.Load() }

// Ready reports whether the ambassador has a table to serve, and if not, why.
func (h *Handler) Ready() (bool, string) { return h.state.Load().ready() }

// Door returns the handler for one door. port is the local mapping door's
// port (0 for the forward door).
func (h *Handler) Door(name string, port uint16) http.Handler {
	return &door{h: h, name: name, port: port}
}

type door struct {
	h    *Handler
	name string
	port uint16
}

func (d *door) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.h.inflight.Add(1)
	defer d.h.inflight.Done()
	if r.Method == http.MethodConnect {
		d.h.tunnel(w, r, d)
		return
	}
	if !d.h.serve(w, r, d) {
		// The client went away (or half-closed, which the server cannot
		// tell apart) before any answer: close the connection rather than
		// let the server send an empty 200 for a request never made.
		panic(http.ErrAbortHandler)
	}
}

// Track counts a connection that a door hands over outside the HTTP
// servers (the transparent door's streams) as in flight, so that Wait
// waits for it; the door calls it as it accepts, and done when the
// connection has been served.
func (h *Handler) Track() (done func()) {
	h.inflight.Add(1)
	return sync.OnceFunc(h.inflight.Done)
}

// Wait waits until every request and tunnel in flight has ended, or ctx
// ends; then it closes the tunnels still open.
func (h *Handler) Wait(ctx context.Context) {
	idle := make(chan struct{})
	go func() { h.inflight.Wait(); close(idle) }()
	select {
	case <-idle:
		return
	case <-ctx.Done():
	}
	h.closeTunnels()
	select { // closed tunnels write their audit lines at once
	case <-idle:
	case <-time.After(time.Second):
	}
}

// stripOwnHeaders removes X-Meshlite-* from upstream answers: only the
// ambassador speaks with that prefix, so an upstream 403 never looks like a
// policy denial.
func stripOwnHeaders(resp *http.Response) error {
	for k := range resp.Header {
		if len(k) > 11 && strings.EqualFold(k[:11], "X-Meshlite-") {
			delete(resp.Header, k)
		}
	}
	return nil
}

// copyBufferSize is the size of the buffers that copy bodies and tunnels.
const copyBufferSize = 32 << 10

// copyBuffers pools the buffers used to copy bodies and tunnels. It holds
// array pointers so that neither Get nor Put allocates.
var copyBuffers = &bufferPool{pool: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}

type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte { return p.pool.Get().(*[copyBufferSize]byte)[:] }

// Put takes back a buffer from Get; any other slice is left to the GC.
func (p *bufferPool) Put(b []byte) {
	if cap(b) == copyBufferSize {
		p.pool.Put((*[copyBufferSize]byte)(b[:copyBufferSize]))
	}
}
