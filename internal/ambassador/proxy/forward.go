package proxy

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/meshlite/meshlite/internal/ambassador/upstream"
	"github.com/meshlite/meshlite/pkg/routes"
)

// forward sends an allowed request upstream and sets its answer. It reports
// true when the answer's body streams: the exchange then finishes when the
// server has sent it (or failed to).
func (h *Handler) forward(x *exchange, p *plan) (streaming bool) {
	req := &x.ctx.Request
	t := &upstream.Target{
		Host:  p.decision.Host,
		Port:  p.port,
		Addrs: p.decision.Addrs,
		Route: routeName(p.route),
		Retry: h.retryFor(p.route),
	}
	h.outgoing(x, req, p)
	if x.in != nil {
		// A client that stalls mid-body must not hold the upstream
		// connection: its body is read within the call's timeout.
		x.ctx.SetReadDeadline(time.Now().Add(t.Retry.Timeout))
	}
	resp := fasthttp.AcquireResponse()
	done, err := h.transport.Do(x.traceCtx(), t, req, resp)
	x.e.Attempts, x.e.Upstream = t.Attempts, t.Upstream
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		x.fail(err)
		return false
	}
	x.status = resp.StatusCode()
	out := &x.ctx.Response
	copyAnswerHeader(&out.Header, &resp.Header)
	if bs := resp.BodyStream(); bs != nil && !x.ctx.IsHead() {
		out.SetBodyStream(&answerBody{r: bs, x: x, done: done, resp: resp}, resp.Header.ContentLength())
		return true
	}
	if x.ctx.IsHead() {
		out.SkipBody = true
	} else {
		out.SetBody(resp.Body())
		x.out = int64(len(resp.Body()))
	}
	done()
	fasthttp.ReleaseResponse(resp)
	return false
}

// outgoing turns the client's request into the upstream's, in place: the
// target URL, no hop-by-hop headers, the trace context, a body that counts
// what the client sent.
func (h *Handler) outgoing(x *exchange, req *fasthttp.Request, p *plan) {
	hdr := &req.Header
	length := hdr.ContentLength() // before Transfer-Encoding goes
	req.URI().DisablePathNormalizing = true
	req.SetRequestURI(p.upstream.String())
	trailers := bytes.Contains(bytes.ToLower(hdr.Peek("Te")), []byte("trailers"))
	dropRequestHeaders(hdr)
	hdr.SetHost(p.upstream.Host) // the target's host[:port], as the upstream URL has it
	if trailers {
		hdr.Set("Te", "trailers")
	}
	if x.span != nil && x.span.SpanContext().IsValid() {
		h.propagator.Inject(x.traceCtx(), requestCarrier{hdr})
	}
	if bs := x.ctx.RequestBodyStream(); bs != nil && length != 0 {
		x.in = &countingReader{r: bs}
		req.SetBodyStream(x.in, length)
	}
}

// hopByHop are the headers that describe one connection, never forwarded
// either way (RFC 9110 section 7.6.1, and the older Proxy-Connection).
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// forwarding are the headers in which a proxy says whom it forwards for:
// what a client sends in them is not passed on, and the ambassador adds
// none (the upstream sees the ambassador as its client).
var forwarding = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// dropRequestHeaders removes from a request, in one pass over its headers,
// the hop-by-hop ones (and those its Connection header names), the
// forwarding ones, Expect (the door answered 100 Continue itself) and Host
// (the upstream client sets the target's).
func dropRequestHeaders(hdr *fasthttp.RequestHeader) {
	hop := connectionTokens(hdr.Peek("Connection"))
	var drop [][]byte
	for k := range hdr.All() {
		if isHopByHop(k) || inFold(forwarding, k) || inFold(hop, k) || bytes.EqualFold(k, []byte("Expect")) {
			drop = append(drop, append([]byte(nil), k...))
		}
	}
	for _, k := range drop {
		hdr.DelBytes(k)
	}
	hdr.Del("Connection") // the specially kept ones, whether All listed them or not
	hdr.Del("Transfer-Encoding")
	hdr.Del("Host")
}

// connectionTokens lists the header names a Connection header names as
// hop-by-hop.
func connectionTokens(v []byte) []string {
	if len(v) == 0 {
		return nil
	}
	var out []string
	for tok := range bytes.SplitSeq(v, []byte(",")) {
		if tok = bytes.TrimSpace(tok); len(tok) > 0 {
			out = append(out, string(tok))
		}
	}
	return out
}

// copyAnswerHeader copies the upstream's answer header to the client's,
// without hop-by-hop headers (and those its Connection header names) and
// without X-Meshlite-*: only the ambassador speaks with that prefix, so an
// upstream 403 never looks like a policy denial.
func copyAnswerHeader(dst, src *fasthttp.ResponseHeader) {
	dst.SetStatusCode(src.StatusCode())
	hop := connectionTokens(src.Peek("Connection"))
	for k, v := range src.All() {
		if isHopByHop(k) || hasOwnPrefix(k) || inFold(hop, k) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
	dst.SetContentLength(src.ContentLength())
	dst.ResetConnectionClose()
}

func isHopByHop(k []byte) bool {
	for _, name := range hopByHop {
		if len(k) == len(name) && bytes.EqualFold(k, []byte(name)) {
			return true
		}
	}
	return false
}

func hasOwnPrefix(k []byte) bool {
	const prefix = "X-Meshlite-"
	return len(k) > len(prefix) && bytes.EqualFold(k[:len(prefix)], []byte(prefix))
}

func inFold(names []string, k []byte) bool {
	for _, n := range names {
		if bytes.EqualFold([]byte(n), k) {
			return true
		}
	}
	return false
}

// answerBody is a streamed answer's body as the server sends it: it
// counts the bytes, and when the server is done with it (sent, or failed),
// it ends the upstream call and finishes the exchange.
type answerBody struct {
	r    io.Reader
	x    *exchange
	done func()
	resp *fasthttp.Response
	once sync.Once
	err  error
}

func (b *answerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.x.out += int64(n)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// CloseWithError is called by the server once the body has been sent, or
// with the error that stopped it.
func (b *answerBody) CloseWithError(err error) error {
	b.once.Do(func() {
		if err == nil {
			err = b.err
		}
		b.resp.CloseBodyStream()
		b.done()
		fasthttp.ReleaseResponse(b.resp)
		if err != nil {
			b.x.reason = answerBrokeOff(err)
		}
		b.x.finish()
	})
	return nil
}

func (b *answerBody) Close() error { return b.CloseWithError(nil) }

// answerBrokeOff says why a streamed answer did not reach its end.
func answerBrokeOff(err error) string {
	var te *upstream.TimeoutError
	if errors.As(err, &te) {
		_, reason := statusOf(te)
		return reason + "; the answer broke off after the status was sent"
	}
	return "the upstream's answer broke off after the status was sent"
}

// countingReader counts the request body bytes read; a failure to read
// them is the client's.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		err = &clientBodyError{err: err}
	}
	return n, err
}

// clientBodyError is a failure to read the client's request body: a
// malformed chunked encoding, a short body, a vanished client.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading the request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

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

// requestCarrier lets the trace propagator read and write request headers.
type requestCarrier struct{ h *fasthttp.RequestHeader }

func (c requestCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c requestCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c requestCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}
