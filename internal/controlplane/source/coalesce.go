package source

import (
	"context"
	"sync"
	"time"
)

// Coalescer decides when a source rebuilds and publishes its snapshot. An
// isolated change is published at once; a burst is coalesced:
//
//   - Changed signals a complete change (a ConfigMap's "..data" swap, an
//     informer event). When nothing was published during the last Window
//     and nothing is settling, flush runs at once (the leading edge).
//     Otherwise it runs when the Window after the last publication ends,
//     once for every change signalled meanwhile.
//   - Settling signals a change that may still be in progress (a file being
//     written in place). flush runs once no Settling signal came for Window,
//     and never sooner than a Changed signal would; while one is pending,
//     Changed signals wait for it too, so that a half-written file is not
//     read on the leading edge.
//   - Whatever keeps arriving, flush runs at most MaxWait after the first
//     signal it has not yet covered.
//
// flush reports whether it published anything. Only a publication opens a
// Window: a flush that found nothing new (the directory event of preparing
// a swap, an informer resync) leaves the next change free to go at once.
// Signals that arrive while flush runs are covered by the next flush, so a
// slow flush coalesces on its own.
type Coalescer struct {
	window, maxWait time.Duration
	flush           func() bool

	mu           sync.Mutex
	changed      bool      // a Changed signal not yet flushed
	settling     bool      // a Settling signal not yet flushed
	firstPending time.Time // the first signal not yet flushed
	lastSettling time.Time
	wake         chan struct{}
}

// NewCoalescer returns a Coalescer that calls flush from Run. window must
// be positive; a maxWait below window means window.
func NewCoalescer(window, maxWait time.Duration, flush func() bool) *Coalescer {
	return &Coalescer{window: window, maxWait: max(maxWait, window), flush: flush, wake: make(chan struct{}, 1)}
}

// Changed signals a complete change. It never blocks; any goroutine may
// call it.
func (c *Coalescer) Changed() { c.signal(false) }

// Settling signals a change that may still be in progress. It never
// blocks; any goroutine may call it.
func (c *Coalescer) Settling() { c.signal(true) }

func (c *Coalescer) signal(settling bool) {
	now := time.Now()
	c.mu.Lock()
	if !c.changed && !c.settling {
		c.firstPending = now
	}
	if settling {
		c.settling, c.lastSettling = true, now
	} else {
		c.changed = true
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run calls flush when the signals call for it, until ctx is done.
func (c *Coalescer) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var windowEnd time.Time // the end of the Window after the last publication
	for {
		due, pending := c.due(windowEnd)
		if pending {
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
			} else {
				c.take()
				if c.flush() {
					windowEnd = time.Now().Add(c.window)
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-timer.C:
		}
	}
}

// due returns when the pending signals are to be flushed; pending is false
// when there are none.
func (c *Coalescer) due(windowEnd time.Time) (due time.Time, pending bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.changed && !c.settling {
		return time.Time{}, false
	}
	due = windowEnd
	if c.settling {
		due = later(due, c.lastSettling.Add(c.window))
	}
	if limit := c.firstPending.Add(c.maxWait); due.After(limit) {
		due = limit
	}
	return due, true
}

// take marks every signal so far as covered by the flush about to run.
func (c *Coalescer) take() {
	c.mu.Lock()
	c.changed, c.settling = false, false
	c.mu.Unlock()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
