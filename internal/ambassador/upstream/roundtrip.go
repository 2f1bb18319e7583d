package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// RoundTrip sends req to the Target in its context, retrying as the
// Target's Retry allows. It returns *DialError when no connection could be
// made, *TimeoutError when the call or its last try ran out of time, and
// the request context's error when the client went away. The response body
// must be closed: closing it ends the call.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	target := TargetFrom(req.Context())
	if err := checkRequest(req, target); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	rt := t.newRoundTrip(req, target)
	body, err := newReqBody(req, rt.pol.Attempts > 1)
	if err != nil {
		rt.end()
		if cerr := req.Context().Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	rt.body = body
	if rt.pol.Attempts > 1 {
		t.budget.deposit(target.Route)
	}
	return rt.run()
}

func checkRequest(req *http.Request, target *Target) error {
	if err := checkTarget(target); err != nil {
		return err
	}
	if req.URL == nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		return errors.New("upstream: request URL scheme must be http or https")
	}
	return nil
}

// roundTrip is one call: the caller's request, its plan and its context.
type roundTrip struct {
	t          *Transport
	req        *http.Request
	target     *Target
	pol        Retry
	idempotent bool
	c          *call
	ctx        context.Context // the call's context, carrying c
	cancel     context.CancelCauseFunc
	timer      *time.Timer // fires the call's timeout
	body       *reqBody
	attempt    int // the current attempt, from 0; fallbacks stay in it
}

func (t *Transport) newRoundTrip(req *http.Request, target *Target) *roundTrip {
	pol := target.Retry
	pol.Attempts = max(pol.Attempts, 1)
	if pol.Timeout <= 0 {
		pol.Timeout = t.opts.DefaultTimeout
	}
	target.Attempts, target.Upstream = 0, ""
	rt := &roundTrip{
		t: t, req: req, target: target, pol: pol,
		idempotent: pol.NonIdempotent || isIdempotent(req.Method),
		c:          newCall(target),
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	ctx = context.WithValue(ctx, callKey{}, rt.c)
	rt.ctx, rt.cancel = ctx, cancel
	rt.timer = time.AfterFunc(pol.Timeout, func() { cancel(&TimeoutError{Timeout: pol.Timeout}) })
	return rt
}

// end releases the call's timer and contexts; it may be called twice.
func (rt *roundTrip) end() {
	rt.timer.Stop()
	rt.cancel(errCallDone)
}

func isIdempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// run makes tries until one is final: not retriable, out of attempts or
// out of budget. A try whose dial failed falls back to an untried address
// within the same attempt (see fallsBack).
func (rt *roundTrip) run() (*http.Response, error) {
	route := rt.target.Route
	for n := 0; ; n++ {
		tr := rt.try(n)
		rt.t.metrics.tries.WithLabelValues(route, tr.kind.String()).Inc()
		if rt.fallsBack(tr) {
			if tr.cancel != nil {
				tr.cancel(errCallDone)
			}
			rt.t.log.LogAttrs(rt.ctx, slog.LevelDebug, "upstream: connect failed, trying the next address",
				slog.String("route", route), slog.String("upstream", rt.target.Upstream), slog.Any("error", tr.err))
			continue
		}
		if !rt.retriable(tr, rt.attempt) {
			return rt.finish(tr)
		}
		if !rt.t.budget.withdraw(route) {
			rt.t.metrics.exhausted.WithLabelValues(route).Inc()
			return rt.finish(tr)
		}
		reason := tr.kind.String()
		if tr.res != nil {
			reason = reasonStatus
			drain(tr.res, tr.cancel)
		}
		tr.cancel(errCallDone)
		rt.t.metrics.retries.WithLabelValues(route, reason).Inc()
		rt.t.log.LogAttrs(rt.ctx, slog.LevelDebug, "upstream: retrying",
			slog.String("route", route), slog.String("upstream", rt.target.Upstream),
			slog.Int("attempt", rt.attempt+1), slog.Int("try", n+1), slog.String("reason", reason), slog.Any("error", tr.err))
		if err := rt.wait(rt.attempt); err != nil {
			rt.end()
			return nil, err
		}
		rt.attempt++
	}
}

// fallsBack reports whether tr, a failed try, is followed at once by a dial
// to another of the target's addresses, as a dialer given several addresses
// does: the dial failed so nothing was sent, the body can be sent again, an
// address has not been tried in this call, and the call has time left. A
// fallback is no retry: it takes no budget token, has no backoff and stays
// in the same attempt.
func (rt *roundTrip) fallsBack(tr tryResult) bool {
	return tr.kind == kindConnectFailure && rt.body.replayable() && rt.c.untried() && rt.ctx.Err() == nil
}

// wait sleeps the backoff before retry n, or until the call ends.
func (rt *roundTrip) wait(n int) error {
	tm := time.NewTimer(rt.t.backoff(n))
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-rt.ctx.Done():
		if err := rt.req.Context().Err(); err != nil {
			return err
		}
		return &TimeoutError{Timeout: rt.pol.Timeout}
	}
}

// retriable reports whether tr, the result of try n, may be retried.
func (rt *roundTrip) retriable(tr tryResult, n int) bool {
	if n+1 >= rt.pol.Attempts || !rt.body.replayable() {
		return false
	}
	on := rt.pol.On
	switch tr.kind {
	case kindConnectFailure:
		return on.ConnectFailure || on.Status5xx || on.GatewayError
	case kindReset, kindPerTryTimeout:
		return rt.idempotent && (on.Reset || on.Status5xx || on.GatewayError)
	case kindResponse:
		return rt.idempotent && on.RetriesStatus(tr.res.StatusCode)
	}
	return false
}

// finish returns tr to the caller and hands the end of the call to the
// response body, or ends the call on error.
func (rt *roundTrip) finish(tr tryResult) (*http.Response, error) {
	if tr.kind != kindResponse {
		rt.end()
		return nil, rt.failure(tr)
	}
	res := tr.res
	if res.StatusCode == http.StatusSwitchingProtocols {
		rt.timer.Stop() // an upgraded connection outlives the call timeout
	}
	wrapBody(res, rt.ctx, rt.end)
	res.Request = rt.req
	return res, nil
}

// failure is the error the caller sees for a failed final try.
func (rt *roundTrip) failure(tr tryResult) error {
	switch tr.kind {
	case kindCanceled:
		return rt.req.Context().Err()
	case kindTimeout:
		return &TimeoutError{Timeout: rt.pol.Timeout}
	case kindPerTryTimeout:
		return &TimeoutError{Timeout: rt.pol.PerTryTimeout, PerTry: true}
	case kindConnectFailure:
		if de := dialError(tr.err); de != nil {
			return &DialError{Addr: de.Addr, Err: de.Err, Others: rt.c.failedOthers(de.Addr)}
		}
	}
	if rt.target.Upstream == "" {
		return fmt.Errorf("upstream: %s: %w", rt.target.Host, tr.err)
	}
	return fmt.Errorf("upstream: %s: %w", rt.target.Upstream, tr.err)
}
