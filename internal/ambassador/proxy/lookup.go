package proxy

import (
	"context"
	"fmt"
	"strconv"
	"sync"
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
//
// Most decisions look nothing up (a literal address, a cached answer): the
// deadline's timer is armed only when something waits on it.
func (h *Handler) decide(ctx context.Context, pol *policy.Policy, req policy.Request, limit time.Duration, what string) (policy.Decision, error) {
	lctx := &lazyDeadline{Context: ctx, at: time.Now().Add(limit)}
	defer lctx.stop()
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

// lazyDeadline is ctx with a deadline whose timer starts only when Done or
// Err is first asked for.
type lazyDeadline struct {
	context.Context
	at time.Time

	once   sync.Once
	armed  context.Context
	cancel context.CancelFunc
}

func (c *lazyDeadline) arm() context.Context {
	c.once.Do(func() { c.armed, c.cancel = context.WithDeadline(c.Context, c.at) })
	return c.armed
}

func (c *lazyDeadline) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.at) {
		return d, true
	}
	return c.at, true
}

func (c *lazyDeadline) Done() <-chan struct{} { return c.arm().Done() }
func (c *lazyDeadline) Err() error            { return c.arm().Err() }

// stop releases the timer, if it was started.
func (c *lazyDeadline) stop() {
	c.once.Do(func() {}) // no arming after this
	if c.cancel != nil {
		c.cancel()
	}
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
