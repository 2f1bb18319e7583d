package upstream

import (
	"context"
	"fmt"
	"log/slog"
)

// loop is the engine-independent state of one call's retry loop: what
// follows a try (a fallback to another address, a retry or the end), the
// metrics and debug lines of each decision, and the error of a failed call.
// Transport and Client each drive it with their own tries.
type loop struct {
	co         *core
	target     *Target
	pol        Retry // with defaults applied (core.policy)
	idempotent bool  // the method may be retried after something was sent
	c          *call
	attempt    int // the current attempt, from 0; fallbacks stay in it
}

func newLoop(co *core, t *Target, method string) loop {
	pol := co.policy(t)
	t.Attempts, t.Upstream = 0, ""
	return loop{
		co: co, target: t, pol: pol,
		idempotent: pol.NonIdempotent || isIdempotent(method),
		c:          newCall(t),
	}
}

// outcome is what the loop needs to know of one try.
type outcome struct {
	kind   kind
	status int // the response status, when kind is kindResponse
	err    error
}

// step is what follows a try.
type step uint8

const (
	stepFinish   step = iota // the try is final: return it
	stepFallback             // try another address at once, in the same attempt
	stepRetry                // back off, then make the next attempt
)

// next counts try n and decides what follows it. replayable says whether
// the request body can be sent again; live whether the call has time left
// and its caller is still there.
func (l *loop) next(ctx context.Context, o outcome, n int, replayable, live bool) step {
	route := l.target.Route
	m := l.co.metrics
	m.tries.WithLabelValues(route, o.kind.String()).Inc()
	if l.fallsBack(o, replayable, live) {
		l.co.log.LogAttrs(ctx, slog.LevelDebug, "upstream: connect failed, trying the next address",
			slog.String("route", route), slog.String("upstream", l.target.Upstream), slog.Any("error", o.err))
		return stepFallback
	}
	if !l.retriable(o, replayable) {
		return stepFinish
	}
	if !l.co.budget.withdraw(route) {
		m.exhausted.WithLabelValues(route).Inc()
		return stepFinish
	}
	reason := o.kind.String()
	if o.kind == kindResponse {
		reason = reasonStatus
	}
	m.retries.WithLabelValues(route, reason).Inc()
	l.co.log.LogAttrs(ctx, slog.LevelDebug, "upstream: retrying",
		slog.String("route", route), slog.String("upstream", l.target.Upstream),
		slog.Int("attempt", l.attempt+1), slog.Int("try", n+1), slog.String("reason", reason), slog.Any("error", o.err))
	return stepRetry
}

// fallsBack reports whether o, a failed try, is followed at once by a dial
// to another of the target's addresses, as a dialer given several addresses
// does: the dial failed so nothing was sent, the body can be sent again, an
// address has not been tried in this call, and the call has time left. A
// fallback is no retry: it takes no budget token, has no backoff and stays
// in the same attempt.
func (l *loop) fallsBack(o outcome, replayable, live bool) bool {
	return o.kind == kindConnectFailure && replayable && l.c.untried() && live
}

// retriable reports whether o, the result of the current attempt, may be
// retried.
func (l *loop) retriable(o outcome, replayable bool) bool {
	if l.attempt+1 >= l.pol.Attempts || !replayable {
		return false
	}
	on := l.pol.On
	switch o.kind {
	case kindConnectFailure:
		return on.ConnectFailure || on.Status5xx || on.GatewayError
	case kindReset, kindPerTryTimeout:
		return l.idempotent && (on.Reset || on.Status5xx || on.GatewayError)
	case kindResponse:
		return l.idempotent && on.RetriesStatus(o.status)
	}
	return false
}

// failure is the error the caller sees for a failed final try; ctxErr is
// the caller's context error.
func (l *loop) failure(o outcome, ctxErr error) error {
	switch o.kind {
	case kindCanceled:
		return ctxErr
	case kindTimeout:
		return &TimeoutError{Timeout: l.pol.Timeout}
	case kindPerTryTimeout:
		return &TimeoutError{Timeout: l.pol.PerTryTimeout, PerTry: true}
	case kindConnectFailure:
		if de := dialError(o.err); de != nil {
			return &DialError{Addr: de.Addr, Err: de.Err, Others: l.c.failedOthers(de.Addr)}
		}
	}
	if l.target.Upstream == "" {
		return fmt.Errorf("upstream: %s: %w", l.target.Host, o.err)
	}
	return fmt.Errorf("upstream: %s: %w", l.target.Upstream, o.err)
}

// record fills Target.Attempts and Target.Upstream after try n, sent to ep.
func (l *loop) record(n int, ep string) {
	l.target.Attempts = n + 1
	if ep != "" {
		l.target.Upstream = ep
	}
}

func isIdempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}
