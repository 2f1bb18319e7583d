package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
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
// addresses of an upstream.Target only.
type Upstream interface {
	// Do sends req to t, retrying as t allows, and fills resp; done ends
	// the call once resp's body has been read.
	Do(ctx context.Context, t *upstream.Target, req *fasthttp.Request, resp *fasthttp.Response) (done func(), err error)
	DialTunnel(ctx context.Context, t *upstream.Target) (net.Conn, error)
	// Dial dials t for a protocol switch, over TLS when isTLS is set.
	Dial(ctx context.Context, t *upstream.Target, isTLS bool) (net.Conn, error)
	// CloseIdleConnections closes pooled connections, so the next requests
	// dial the addresses the current table checks.
	CloseIdleConnections()
}

var _ Upstream = (*upstream.Client)(nil)

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
	ids         idSource
	// calls is the context of every lookup and upstream call; Wait ends it
	// when the grace is over, so that calls still waiting give up and
	// leave their audit lines.
	calls    context.Context
	endCalls context.CancelCauseFunc
	tunnels  tunnels
	inflight sync.WaitGroup
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
	h.calls, h.endCalls = context.WithCancelCause(context.Background())
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
	if h.transport != nil {
		h.transport.CloseIdleConnections()
	}
}

// State returns the current state.
func (h *Handler) State() *State { return h.state.Load() }

// Ready reports whether the ambassador has a table to serve, and if not, why.
func (h *Handler) Ready() (bool, string) { return h.state.Load().ready() }

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
	h.endCalls(errShutDown)
	h.closeTunnels()
	select { // closed tunnels and ended calls write their audit lines at once
	case <-idle:
	case <-time.After(time.Second):
	}
}

// errShutDown ends the calls still in flight when the shutdown grace is
// over.
var errShutDown = errors.New("proxy: the ambassador shut down before the upstream answered")

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

// startSpan starts the request's span. Without a tracer provider and
// without an incoming trace context there is nothing to record or pass on:
// the span is then nil, which costs nothing.
func (h *Handler) startSpan(ctx context.Context, hdr *fasthttp.RequestHeader) trace.Span {
	traced := len(hdr.Peek("Traceparent")) > 0
	if !h.tracing && !traced {
		return nil
	}
	if traced {
		ctx = h.propagator.Extract(ctx, requestCarrier{hdr})
	}
	_, span := h.tracer.Start(ctx, "meshlite.proxy", trace.WithSpanKind(trace.SpanKindClient))
	return span
}
