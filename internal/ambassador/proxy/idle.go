package proxy

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// defaultTunnelIdleTimeout is Options.TunnelIdleTimeout's zero value.
const defaultTunnelIdleTimeout = time.Hour

// idleClock closes a relayed connection (a CONNECT tunnel, a protocol
// upgrade, a transparent stream) once no byte has moved either way for its
// timeout. Both directions mark it as bytes pass; one timer, re-armed for
// the time left, checks it, so marking costs a clock read and no timer
// work.
type idleClock struct {
	timeout time.Duration
	start   time.Time
	last    atomic.Int64 // when a byte last moved, as time since start
	close   func()

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	fired   bool
}

// newIdleClock starts a clock that calls close when the connection has
// been idle for timeout.
func newIdleClock(timeout time.Duration, close func()) *idleClock {
	c := &idleClock{timeout: timeout, start: time.Now(), close: close}
	c.mu.Lock()
	c.timer = time.AfterFunc(timeout, c.check)
	c.mu.Unlock()
	return c
}

// mark records that bytes moved now.
func (c *idleClock) mark() { c.last.Store(int64(time.Since(c.start))) }

func (c *idleClock) check() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	if idle := time.Since(c.start) - time.Duration(c.last.Load()); idle < c.timeout {
		c.timer.Reset(c.timeout - idle)
		c.mu.Unlock()
		return
	}
	c.fired = true
	c.mu.Unlock()
	c.close()
}

// stop stops the clock and reports whether it closed the connection.
func (c *idleClock) stop() (fired bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	c.timer.Stop()
	return c.fired
}

// reason is the audit line's reason for a connection the clock closed.
func (c *idleClock) reason() string { return "idle for " + c.timeout.String() }

// copy copies src to dst with a pooled buffer, marking the clock as bytes
// arrive and leave. It returns nil when src ended with EOF.
func (c *idleClock) copy(dst io.Writer, src io.Reader) (int64, error) {
	b := copyBuffers.Get()
	defer copyBuffers.Put(b)
	var n int64
	for {
		nr, rerr := src.Read(b)
		if nr > 0 {
			c.mark()
			nw, werr := dst.Write(b[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
			c.mark()
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
