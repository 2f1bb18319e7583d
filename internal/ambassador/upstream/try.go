package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"time"
)

// kind classifies the outcome of one try.
type kind uint8

const (
	kindResponse       kind = iota // response headers arrived
	kindConnectFailure             // no connection: nothing was sent
	kindReset                      // the upstream failed before response headers
	kindPerTryTimeout              // the try ran out of time
	kindTimeout                    // the call ran out of time
	kindCanceled                   // the client went away
	kindError                      // the try could not be made (body replay failed)
)

// String is the metric label value of the outcome.
func (k kind) String() string {
	switch k {
	case kindConnectFailure:
		return resultConnectFailure
	case kindReset:
		return resultReset
	case kindPerTryTimeout:
		return resultPerTryTimeout
	case kindTimeout:
		return resultTimeout
	case kindCanceled:
		return resultCanceled
	case kindError:
		return resultError
	}
	return resultResponse
}

type tryResult struct {
	res    *http.Response
	err    error
	kind   kind
	cancel context.CancelCauseFunc // ends the try's own context; nil when it ran in the call's
}

// try makes try number n and records it in the Target.
func (rt *roundTrip) try(n int) tryResult {
	rt.c.begin(n)
	ctx, cancel := rt.ctx, context.CancelCauseFunc(nil)
	var perTry *time.Timer
	if rt.pol.Attempts > 1 || rt.pol.PerTryTimeout > 0 {
		ctx, cancel = context.WithCancelCause(rt.ctx)
	}
	if d := rt.pol.PerTryTimeout; d > 0 {
		perTry = time.AfterFunc(d, func() { cancel(&TimeoutError{Timeout: d, PerTry: true}) })
	}
	out, ep, err := rt.request(ctx)
	if err != nil {
		return tryResult{err: err, kind: kindError, cancel: cancel}
	}
	res, err := rt.t.pool.RoundTrip(out)
	if perTry != nil && !perTry.Stop() && err == nil {
		res.Body.Close() // the try timed out as its headers arrived
		res, err = nil, context.Cause(ctx)
	}
	rt.record(n, epString(ep))
	return tryResult{res: res, err: err, kind: rt.classify(ctx, err), cancel: cancel}
}

// request builds the outgoing request of one try, addressed to an endpoint
// picked from the checked addresses. The URL host is the pool key: the
// endpoint for http, the target name and the endpoint for https (see
// tlsPoolHost), so a pooled connection is only ever reused for an address
// the current call checked.
func (rt *roundTrip) request(ctx context.Context) (*http.Request, netip.AddrPort, error) {
	body, getBody, err := rt.body.next()
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	out := rt.req.WithContext(ctx)
	u := *rt.req.URL
	ep := rt.c.pick()
	if u.Scheme == "http" {
		u.Host = ep.String()
	} else {
		u.Host = tlsPoolHost(rt.target.Host, ep)
	}
	out.URL = &u
	if out.Host == "" {
		out.Host = rt.target.hostHeader(u.Scheme)
	}
	out.Body, out.GetBody = body, getBody
	return out, ep, nil
}

// epString is ep as "ip:port", or "" when ep is not valid.
func epString(ep netip.AddrPort) string {
	if !ep.IsValid() {
		return ""
	}
	return ep.String()
}

// classify names the outcome of a try whose context is ctx.
func (rt *roundTrip) classify(ctx context.Context, err error) kind {
	switch {
	case err == nil:
		return kindResponse
	case rt.req.Context().Err() != nil:
		return kindCanceled
	case rt.ctx.Err() != nil:
		return kindTimeout
	case ctx.Err() != nil:
		return kindPerTryTimeout
	case dialError(err) != nil:
		return kindConnectFailure
	}
	return kindReset
}

// dialError is the *DialError in err's chain, or nil. It is a function so
// that the target of errors.As escapes only on the error path.
func dialError(err error) *DialError {
	var de *DialError
	if errors.As(err, &de) {
		return de
	}
	return nil
}
