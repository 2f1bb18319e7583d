package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/gate"
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

// exchange is one request on its way through the pipeline: what the audit
// line, the metrics and the span will say once it ends.
type exchange struct {
	h       *Handler
	st      *State // the table the request is decided on, from start to end
	ctx     *fasthttp.RequestCtx
	e       *audit.Entry
	start   time.Time
	span    trace.Span
	status  int             // sent to the client; 0 until an answer is set
	reason  string          // why the answer is what it is, when not the decision's
	in      *countingReader // the request body, when it has one
	bytesIn int64           // bytes relayed from the client, for tunnels and upgrades
	out     int64           // body bytes sent to the client
	// upgradeHead is the upstream's 101 answer to a protocol switch.
	upgradeHead *fasthttp.ResponseHeader
}

// serve is the door's request handler: the gate's checked head, then the
// pipeline. A request whose answer streams ends when its body has been
// sent, after serve returns.
func (d *door) serve(ctx *fasthttp.RequestCtx) {
	h := d.h
	h.inflight.Add(1)
	// The head has been read: a body is bounded by the upstream's pace and
	// the route timeout, not by the head's read timeout.
	if ctx.Request.Header.ContentLength() != 0 {
		ctx.SetReadDeadline(time.Time{})
	}
	c, _ := ctx.Conn().(*doorConn)
	if c == nil {
		h.inflight.Done()
		ctx.SetConnectionClose()
		ctx.Error("proxy: connection without the gate", fasthttp.StatusInternalServerError)
		return
	}
	gh, ok := c.Next()
	if !ok {
		h.inflight.Done()
		ctx.SetConnectionClose()
		ctx.Error("proxy: request without a checked head", fasthttp.StatusInternalServerError)
		return
	}
	if gh.Method == http.MethodConnect {
		d.tunnel(ctx, c, gh)
		return
	}
	if gh.Upgrade {
		// the gate checks no byte after a head that asks for a protocol
		// switch: the connection ends with this request unless it switches.
		ctx.SetConnectionClose()
	}
	x := h.newExchange(ctx, d, c.orig)
	r, err := headOf(gh.Method, gh.Target, gh.Host)
	var dest destination
	if err == nil {
		dest, err = destinationOf(r, d, c.orig)
	}
	if err == nil {
		x.e.URL = dest.String()
	} else {
		x.e.URL = truncate(gh.Target)
	}
	var p plan
	if err == nil {
		p, err = h.plan(x.traceCtx(), x.st, gh.Method, dest)
	}
	h.fillDecision(x.e, &p)
	switch {
	case err != nil:
		x.fail(err)
	case p.decision.Result == policy.Deny:
		x.writeError(http.StatusForbidden, p.decision.Reason)
	case gh.Upgrade:
		h.upgrade(x, c, &p)
		return
	default:
		if h.forward(x, &p) {
			return // the answer streams; it finishes when sent
		}
	}
	x.finish()
}

// newExchange starts the audit line and span of a request.
func (h *Handler) newExchange(ctx *fasthttp.RequestCtx, d *door, orig netip.AddrPort) *exchange {
	start := time.Now()
	st := h.state.Load()
	x := &exchange{h: h, st: st, ctx: ctx, start: start}
	x.e = &audit.Entry{
		Time: start, ID: h.ids.next(), Door: d.name, Client: remoteOf(ctx),
		Method: string(ctx.Method()), Workload: st.workload(), NodeID: h.nodeID,
	}
	if d.name == DoorTransparent && orig.IsValid() {
		x.e.OriginalDst = orig.String()
	}
	x.span = h.startSpan(ctx, &ctx.Request.Header)
	return x
}

// remoteOf is the client's address as the audit line writes it, made once
// per connection.
func remoteOf(ctx *fasthttp.RequestCtx) string {
	if c, ok := ctx.Conn().(*doorConn); ok {
		if c.remote == "" {
			c.remote = c.RemoteAddr().String()
		}
		return c.remote
	}
	return ctx.RemoteAddr().String()
}

// traceCtx is the context of the request's lookups and upstream call: it
// carries the span, if any, and ends when the shutdown grace is over. It
// is not the server's request context, which ends as soon as the door
// begins to shut down (in-flight requests are let finish) and which the
// upstream client would need a goroutine to watch.
func (x *exchange) traceCtx() context.Context {
	if x.span == nil {
		return x.h.calls
	}
	return trace.ContextWithSpan(x.h.calls, x.span)
}

// fail answers err with the status and reason of statusOf.
func (x *exchange) fail(err error) {
	if errors.Is(err, context.Canceled) && context.Cause(x.h.calls) != nil {
		err = context.Cause(x.h.calls)
	}
	status, reason := statusOf(err)
	x.reason = reason
	if status == StatusClientClosed {
		x.status = status
		x.ctx.SetConnectionClose()
		return
	}
	x.writeError(status, reason)
}

// writeError answers with status and the reason.
func (x *exchange) writeError(status int, reason string) {
	x.reason = reason
	x.status = status
	writeReason(&x.ctx.Response, status, reason)
	x.out = int64(len(x.ctx.Response.Body()))
}

// finish writes the audit line, metrics and span attributes, and ends the
// request's in-flight count.
func (x *exchange) finish() {
	h, e := x.h, x.e
	defer h.inflight.Done()
	e.Status = x.status
	if e.Status == 0 {
		e.Status = http.StatusOK
	}
	if x.reason != "" && (e.Reason == "" || e.Decision != policy.Deny.String()) {
		e.Reason = x.reason
	}
	e.Duration = time.Since(x.start)
	e.BytesIn = x.bytesIn
	if x.in != nil {
		e.BytesIn += x.in.n
	}
	e.BytesOut = x.out
	if x.span != nil {
		if sc := x.span.SpanContext(); sc.HasTraceID() {
			e.TraceID = sc.TraceID().String()
		}
		if x.span.IsRecording() {
			x.span.SetAttributes(
				attribute.String("http.request.method", e.Method),
				attribute.Int("http.response.status_code", e.Status),
				attribute.String("meshlite.decision", e.Decision),
				attribute.String("meshlite.route", e.Route),
			)
		}
		x.span.End()
	}
	h.metrics.observe(e)
	h.audit.Log(e)
}

// rejected writes the audit line of a request the gate refused before it
// reached the pipeline.
func (d *door) rejected(c *gate.Conn, r *gate.Error) {
	h := d.h
	now := time.Now()
	st := h.state.Load()
	e := &audit.Entry{
		Time: now, ID: h.ids.next(), Door: d.name, Client: c.RemoteAddr().String(),
		Decision: policy.Deny.String(), Status: r.Status, Reason: r.Reason,
		Workload: st.workload(), NodeID: h.nodeID,
	}
	h.metrics.observe(e)
	h.audit.Log(e)
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
