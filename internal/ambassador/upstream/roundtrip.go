package upstream

import (
	"context"
	"errors"
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
	loop
	t      *Transport
	req    *http.Request
	ctx    context.Context // the call's context, carrying c
	cancel context.CancelCauseFunc
	timer  *time.Timer // fires the call's timeout
	body   *reqBody
}

func (t *Transport) newRoundTrip(req *http.Request, target *Target) *roundTrip {
	rt := &roundTrip{loop: newLoop(&t.core, target, req.Method), t: t, req: req}
	ctx, cancel := context.WithCancelCause(req.Context())
	ctx = context.WithValue(ctx, callKey{}, rt.c)
	rt.ctx, rt.cancel = ctx, cancel
	timeout := rt.pol.Timeout
	rt.timer = time.AfterFunc(timeout, func() { cancel(&TimeoutError{Timeout: timeout}) })
	return rt
}

// end releases the call's timer and contexts; it may be called twice.
func (rt *roundTrip) end() {
	rt.timer.Stop()
	rt.cancel(errCallDone)
}

// run makes tries until one is final: not retriable, out of attempts or
// out of budget. A try whose dial failed falls back to an untried address
// within the same attempt (see loop.fallsBack).
func (rt *roundTrip) run() (*http.Response, error) {
	for n := 0; ; n++ {
		tr := rt.try(n)
		o := outcome{kind: tr.kind, err: tr.err}
		if tr.res != nil {
			o.status = tr.res.StatusCode
		}
		switch rt.next(rt.ctx, o, n, rt.body.replayable(), rt.ctx.Err() == nil) {
		case stepFallback:
			if tr.cancel != nil {
				tr.cancel(errCallDone)
			}
			continue
		case stepFinish:
			return rt.finish(tr)
		}
		if tr.res != nil {
			drain(tr.res, tr.cancel)
		}
		tr.cancel(errCallDone)
		if err := rt.wait(rt.attempt); err != nil {
			rt.end()
			return nil, err
		}
		rt.attempt++
	}
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

// finish returns tr to the caller and hands the end of the call to the
// response body, or ends the call on error.
func (rt *roundTrip) finish(tr tryResult) (*http.Response, error) {
	if tr.kind != kindResponse {
		rt.end()
		return nil, rt.failure(outcome{kind: tr.kind, err: tr.err}, rt.req.Context().Err())
	}
	res := tr.res
	if res.StatusCode == http.StatusSwitchingProtocols {
		rt.timer.Stop() // an upgraded connection outlives the call timeout
	}
	wrapBody(res, rt.ctx, rt.end)
	res.Request = rt.req
	return res, nil
}
