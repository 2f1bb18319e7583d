package proxy

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// lookupTimeoutError is a decision whose name lookup did not finish within
// the time the request allows it (maps to 504).
type lookupTimeoutError struct {
	host  string
	limit time.Duration
	what  string // which limit: "the dial timeout", "the route timeout"
	err   error
}

func (e *lookupTimeoutError) Error() string { return "proxy: " + e.reason() }
func (e *lookupTimeoutError) Unwrap() error { return e.err }

func (e *lookupTimeoutError) reason() string {
	return fmt.Sprintf("DNS lookup of %s timed out after %s (%s)", strconv.Quote(e.host), e.limit, e.what)
}

// decide asks pol about req with the name lookup bounded by limit: the
// route timeout has not started yet, so nothing else would bound it.
func (h *Handler) decide(ctx context.Context, pol *policy.Policy, req policy.Request, limit time.Duration, what string) (policy.Decision, error) {
	lctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	d, err := pol.Decide(lctx, req)
	// The lookup's socket deadline can fire before lctx's timer: look at
	// the clock too.
	if err != nil && ctx.Err() == nil && (lctx.Err() != nil || time.Until(deadline(lctx)) <= 0) {
		te := &lookupTimeoutError{host: d.Host, limit: limit, what: what, err: err}
		if te.host == "" {
			te.host = req.Host
		}
		d.Reason = te.reason()
		err = te
	}
	return d, err
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// lookupLimit bounds the name lookup of a request on route r (nil: none):
// the dial timeout, or the route's timeout (else the default) when shorter.
func (h *Handler) lookupLimit(r *routes.Compiled) (time.Duration, string) {
	timeout := h.timeout
	if r != nil && r.Timeout > 0 {
		timeout = r.Timeout
	}
	if timeout < h.dialTimeout {
		return timeout, "the route timeout"
	}
	return h.dialTimeout, "the dial timeout"
}
