package proxy

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/upstream"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// plan is what the pipeline decided for one request before sending it.
type plan struct {
	route    *routes.Compiled
	upstream *url.URL // where the request goes; nil when denied
	decision policy.Decision
	port     uint16
}

// serve runs one HTTP request through the pipeline. It reports false when
// the client went away before anything was sent.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, d *door) (answered bool) {
	start := time.Now()
	st := h.state.Load()
	e := h.entry(r, d, st, start)
	rec := &recorder{ResponseWriter: w, register: h.tunnels.add, idleTimeout: h.idleTimeout}
	body := &countingBody{ReadCloser: r.Body}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = body
	}

	ctx, span := h.startSpan(r)
	defer span.End()
	defer func() {
		if v := recover(); v != nil {
			// the reverse proxy aborts (http.ErrAbortHandler) when the
			// upstream's body breaks off after the status went out: the
			// request still leaves its line before the connection drops.
			rec.reason = "the upstream's answer broke off after the status was sent"
			h.finish(e, rec, body.n, start, span)
			panic(v)
		}
	}()

	dest, err := destinationOf(r, d)
	if err == nil {
		e.URL = dest.String()
	} else {
		e.URL = truncate(r.RequestURI)
	}
	var p plan
	if err == nil {
		p, err = h.plan(ctx, st, r.Method, dest)
	}
	h.fillDecision(e, &p)
	switch {
	case err != nil:
		h.fail(rec, err)
	case p.decision.Result == policy.Deny:
		writeError(rec, http.StatusForbidden, p.decision.Reason)
	default:
		h.forward(ctx, rec, r, e, &p)
	}
	h.finish(e, rec, body.n, start, span)
	return rec.wrote || rec.status != StatusClientClosed
}

// entry starts the audit line of a request; at the transparent door it
// carries where the app was connecting to.
func (h *Handler) entry(r *http.Request, d *door, st *State, start time.Time) *audit.Entry {
	e := &audit.Entry{
		Time: start, ID: h.ids.next(), Door: d.name, Client: r.RemoteAddr, Method: r.Method,
		Workload: st.workload(), NodeID: h.nodeID,
	}
	if d.name == DoorTransparent {
		if orig, ok := originalDst(r.Context()); ok {
			e.OriginalDst = orig.String()
		}
	}
	return e
}

// startSpan starts the request's span. Without a tracer provider and
// without an incoming trace context there is nothing to record or pass on:
// the span is then the context's no-op span, which costs nothing.
func (h *Handler) startSpan(r *http.Request) (context.Context, trace.Span) {
	ctx := r.Context()
	traced := r.Header.Get("Traceparent") != ""
	if !h.tracing && !traced {
		return ctx, trace.SpanFromContext(ctx)
	}
	if traced {
		ctx = h.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	return h.tracer.Start(ctx, "meshlite.proxy", trace.WithSpanKind(trace.SpanKindClient))
}

// forward sends an allowed request upstream.
func (h *Handler) forward(ctx context.Context, rec *recorder, r *http.Request, e *audit.Entry, p *plan) {
	t := &upstream.Target{
		Host:  p.decision.Host,
		Port:  p.port,
		Addrs: p.decision.Addrs,
		Route: routeName(p.route),
		Retry: h.retryFor(p.route),
	}
	out := r.WithContext(upstream.WithTarget(ctx, t))
	out.URL = p.upstream
	out.Host = ""
	out.RequestURI = ""
	defer func() { e.Attempts, e.Upstream = t.Attempts, t.Upstream }() // also when the reverse proxy aborts
	h.rp.ServeHTTP(rec, out)
}

func (h *Handler) retryFor(r *routes.Compiled) upstream.Retry {
	if r == nil {
		return upstream.Retry{Attempts: 1, Timeout: h.timeout}
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = h.timeout
	}
	return upstream.Retry{
		Attempts:      max(r.Attempts, 1),
		PerTryTimeout: r.PerTryTimeout,
		Timeout:       timeout,
		On:            r.On,
		NonIdempotent: r.NonIdempotent,
	}
}

// rewrite finishes the outgoing request: the URL was set by forward, so only
// the trace context is added. Hop-by-hop and X-Forwarded headers are already
// stripped by the reverse proxy.
func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.Host = ""
	if sc := trace.SpanContextFromContext(pr.Out.Context()); sc.IsValid() {
		h.propagator.Inject(pr.Out.Context(), propagation.HeaderCarrier(pr.Out.Header))
	}
}

// upstreamError is the reverse proxy's error handler.
func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	h.fail(w, err)
}

// fail answers err with the status and reason of statusOf.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	status, reason := statusOf(err)
	if rec, ok := w.(*recorder); ok {
		rec.reason = reason
		if status == StatusClientClosed {
			rec.status = status
			return
		}
	}
	writeError(w, status, reason)
}

// plan matches the route table and asks the policy about dest.
func (h *Handler) plan(ctx context.Context, st *State, method string, dest destination) (plan, error) {
	if st.Table == nil {
		return plan{decision: policy.Decision{Result: policy.Deny, Reason: st.Pending}}, nil
	}
	p := plan{port: dest.port}
	req := policy.Request{Host: dest.host, Port: dest.port, Method: method, Path: dest.path}
	if p.route = h.match(st.Table, dest); p.route != nil {
		p.upstream = p.route.Rewrite(dest.path, dest.rawQuery)
		p.port = p.route.TargetPort
		req = policy.Request{
			Host: p.route.Target.Hostname(), Port: p.port, Method: method,
			Path: p.upstream.Path, Route: p.route.Name,
		}
	}
	limit, what := h.lookupLimit(p.route)
	var err error
	p.decision, err = h.decide(ctx, st.Table.Policy, req, limit, what)
	if err != nil {
		return p, err
	}
	if p.route == nil && p.decision.Result != policy.Deny {
		p.upstream = dest.upstreamURL(p.decision.Host)
	}
	return p, nil
}

// match looks dest up; a local mapping door accepts any loopback spelling
// of its own host.
func (h *Handler) match(t *routes.Table, dest destination) *routes.Compiled {
	if r := t.Match(dest.scheme, dest.host, dest.port, dest.path); r != nil || !dest.local {
		return r
	}
	for _, alias := range routes.LoopbackHosts {
		if alias != dest.host {
			if r := t.Match(dest.scheme, alias, dest.port, dest.path); r != nil {
				return r
			}
		}
	}
	return nil
}

func (h *Handler) fillDecision(e *audit.Entry, p *plan) {
	e.Decision = p.decision.Result.String()
	e.Reason = p.decision.Reason
	e.Rule = p.decision.Rule
	e.Route = routeName(p.route)
	if p.upstream != nil {
		e.Target = truncate(p.upstream.String())
	}
}

// finish writes the audit line, metrics and span attributes.
func (h *Handler) finish(e *audit.Entry, rec *recorder, bytesIn int64, start time.Time, span trace.Span) {
	e.Status = rec.code()
	rec.endUpgrade()
	if rec.reason != "" && (e.Reason == "" || e.Decision != policy.Deny.String()) {
		e.Reason = rec.reason
	}
	e.Duration = time.Since(start)
	e.BytesIn = bytesIn
	e.BytesOut = rec.bytes
	if sc := span.SpanContext(); sc.HasTraceID() {
		e.TraceID = sc.TraceID().String()
	}
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("http.request.method", e.Method),
			attribute.Int("http.response.status_code", e.Status),
			attribute.String("meshlite.decision", e.Decision),
			attribute.String("meshlite.route", e.Route),
		)
	}
	h.metrics.observe(e)
	h.audit.Log(e)
}

func routeName(r *routes.Compiled) string {
	if r == nil {
		return ""
	}
	return r.Name
}

// addrStrings renders checked addresses for /explain.
func addrStrings(addrs []netip.Addr, port uint16) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = netip.AddrPortFrom(a, port).String()
	}
	return out
}

func truncate(s string) string {
	const limit = 2048
	if len(s) > limit {
		return s[:limit] + "…(truncated)"
	}
	return s
}
