package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// errUpgrade rejects a request that asks for a protocol upgrade.
var errUpgrade = errors.New("upstream: a request carrying Upgrade cannot be sent with Do (dial with Client.Dial and relay it)")

// Do sends req to t, retrying as t.Retry allows, and fills t.Attempts and
// t.Upstream. The scheme ("http" or "https") is req.URI().Scheme(); the
// request-URI, method, headers and body are sent as they are, except that
// Do sets the Host header from t when req has none. Do picks each try's
// address from t.Addrs and dials only those, falling back at once to an
// untried address when a dial fails (see the package doc).
//
// On success resp holds the final response's status and headers, and its
// body either already in resp.Body() (when it arrived whole with the
// headers) or in resp.BodyStream(), read from the connection as the caller
// reads it. Reading the stream after the call's timeout fails with
// *TimeoutError. The caller must call done once it has finished with resp
// (and not while a Read of the stream is running): it releases the
// connection and the call's hold on ctx. Closing the stream (or resetting
// resp) releases the connection too; done is still needed.
//
// Errors are *DialError when no connection could be made, *TimeoutError
// when the call or its last try ran out of time, and ctx's error when ctx
// ended first; done is then a no-op, never nil. ctx ending aborts the try
// in flight and a body being read; ctx should be a standard context
// (context.Background and its descendants): any other Context
// implementation, a *fasthttp.RequestCtx among them, costs a goroutine per
// call to watch. A request carrying Upgrade is refused (errUpgrade).
//
// A streamed request body (req.BodyStream()) is sent once unless retries
// are possible and it is at most 64 KiB; it is then read into req's body
// first, so that tries can send it again.
func (cl *Client) Do(ctx context.Context, t *Target, req *fasthttp.Request, resp *fasthttp.Response) (done func(), err error) {
	k, err := cl.newCall(ctx, t, req, resp)
	if err != nil {
		return noop, err
	}
	return k.run()
}

func noop() {}

// newCall checks the request, prepares its body and starts the call.
func (cl *Client) newCall(ctx context.Context, t *Target, req *fasthttp.Request, resp *fasthttp.Response) (*clientCall, error) {
	if err := checkTarget(t); err != nil {
		return nil, err
	}
	var scheme string
	switch s := req.URI().Scheme(); string(s) {
	case "http":
		scheme = "http"
	case "https":
		scheme = "https"
	default:
		return nil, fmt.Errorf("upstream: request scheme %q not supported (use http or https)", s)
	}
	if len(req.Header.Peek("Upgrade")) > 0 {
		return nil, errUpgrade
	}
	if len(req.Header.Host()) == 0 {
		req.Header.SetHost(t.hostHeader(scheme))
	}
	req.UseHostHeader = true
	req.URI().DisablePathNormalizing = true
	k := &clientCall{
		loop: newLoop(&cl.core, t, string(req.Header.Method())),
		cl:   cl, ctx: ctx, req: req, resp: resp, tls: scheme == "https",
	}
	k.deadline = time.Now().Add(k.pol.Timeout)
	k.ctxDeadline, k.hasCtxDeadline = ctx.Deadline()
	if err := k.prepareBody(); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	if k.pol.Attempts > 1 {
		cl.budget.deposit(t.Route)
	}
	if ctx.Done() != nil {
		k.stopAbort = context.AfterFunc(ctx, k.abort)
	}
	return k, nil
}

// clientCall is one Do: the caller's request and response, the plan and
// the shared loop state, the deadlines, and the connection in use.
type clientCall struct {
	loop
	cl             *Client
	ctx            context.Context
	req            *fasthttp.Request
	resp           *fasthttp.Response
	tls            bool
	replayable     bool      // the body can be sent again
	deadline       time.Time // the call's timeout
	ctxDeadline    time.Time
	hasCtxDeadline bool
	stopAbort      func() bool // unregisters abort from ctx; nil when ctx never ends
	body           *respStream // the current try's streamed body, if any

	mu      sync.Mutex
	conn    net.Conn // the connection of the try or body in flight
	aborted bool     // ctx ended
}

// prepareBody makes a small streamed body replayable when the call may
// retry (see Do); a buffered body always is.
func (k *clientCall) prepareBody() error {
	k.replayable = true
	if !k.req.IsBodyStream() {
		return nil
	}
	if k.pol.Attempts <= 1 || k.req.Header.ContentLength() > maxReplayBody {
		k.replayable = false
		return nil
	}
	stream := k.req.BodyStream()
	buf, err := io.ReadAll(io.LimitReader(stream, maxReplayBody+1))
	if err != nil {
		k.req.CloseBodyStream()
		return fmt.Errorf("upstream: reading request body: %w", err)
	}
	if len(buf) > maxReplayBody { // of unknown length: send what was read, then the rest, once
		k.req.SetBodyStream(io.MultiReader(bytes.NewReader(buf), stream), -1)
		k.replayable = false
		return nil
	}
	k.req.SetBody(buf)
	return nil
}

// run makes tries until one is final (see loop.next).
func (k *clientCall) run() (func(), error) {
	for n := 0; ; n++ {
		o := k.try(n)
		switch k.next(k.ctx, o, n, k.replayable, k.live()) {
		case stepFallback:
			continue
		case stepFinish:
			return k.finish(o)
		}
		k.discard()
		if err := k.wait(k.attempt); err != nil {
			k.end()
			return noop, err
		}
		k.attempt++
	}
}

// finish returns the final try to the caller.
func (k *clientCall) finish(o outcome) (func(), error) {
	if o.kind != kindResponse {
		k.end()
		ctxErr := k.ctx.Err()
		if ctxErr == nil {
			ctxErr = context.DeadlineExceeded // ctx's deadline passed a moment before ctx saw it
		}
		return noop, k.failure(o, ctxErr)
	}
	return k.end, nil
}

// end finishes the call: it releases the body's connection and the hold on
// ctx. It may be called more than once.
func (k *clientCall) end() {
	if k.body != nil {
		k.body.Close()
	}
	if k.stopAbort != nil {
		k.stopAbort()
	}
}

// live reports whether the call has time left and its caller is there.
func (k *clientCall) live() bool {
	return k.ctx.Err() == nil && time.Now().Before(k.deadline)
}

// tryDeadline is the deadline of a try starting now: the call's, or the
// per-try timeout's when that is earlier, or ctx's when that is earlier.
func (k *clientCall) tryDeadline() time.Time {
	dl := k.deadline
	if d := k.pol.PerTryTimeout; d > 0 {
		if t := time.Now().Add(d); t.Before(dl) {
			dl = t
		}
	}
	if k.hasCtxDeadline && k.ctxDeadline.Before(dl) {
		dl = k.ctxDeadline
	}
	return dl
}

// classify names the outcome of a try that failed with err.
func (k *clientCall) classify(err error) outcome {
	now := time.Now()
	o := outcome{kind: kindReset, err: err}
	switch {
	case k.ctx.Err() != nil || k.isAborted() || (k.hasCtxDeadline && !now.Before(k.ctxDeadline)):
		o.kind = kindCanceled
	case !now.Before(k.deadline):
		o.kind = kindTimeout
	case k.pol.PerTryTimeout > 0 && isTimeout(err):
		o.kind = kindPerTryTimeout
	case dialError(err) != nil:
		o.kind = kindConnectFailure
	}
	return o
}

// isTimeout reports whether err is a deadline running out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrTLSHandshakeTimeout) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// wait sleeps the backoff before retry n, or until the call ends.
func (k *clientCall) wait(n int) error {
	d := k.co.backoff(n)
	left := time.Until(k.deadline)
	timeout := d >= left
	if timeout {
		d = max(left, 0)
	}
	if d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-k.ctx.Done():
		}
	}
	if err := k.ctx.Err(); err != nil {
		return err
	}
	if timeout {
		return &TimeoutError{Timeout: k.pol.Timeout}
	}
	return nil
}

// abort runs when ctx ends: it cuts the connection in flight short.
func (k *clientCall) abort() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.aborted = true
	if k.conn != nil {
		k.conn.SetDeadline(aLongTimeAgo)
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// use makes conn the connection abort cuts short (nil for none); it
// reports false when ctx has already ended.
func (k *clientCall) use(conn net.Conn) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.conn = conn
	return !k.aborted
}

func (k *clientCall) isAborted() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.aborted
}
