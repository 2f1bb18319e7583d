package transparent

import (
	"context"
	"net"
	"sync"
)

// slots caps the door's concurrent connections, as netutil.LimitListener
// does for the other doors; it is kept here because the door must read the
// original destination from the accepted *net.TCPConn before any wrapper
// hides it. A nil channel means no cap.
type slots chan struct{}

func newSlots(n int) slots {
	if n <= 0 {
		return nil
	}
	return make(slots, n)
}

// acquire takes a slot, waiting while all are taken; false once ctx ends.
func (s slots) acquire(ctx context.Context) bool {
	if s == nil {
		return ctx.Err() == nil
	}
	select {
	case s <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s slots) release() {
	if s != nil {
		<-s
	}
}

// track returns c wrapped so that closing it frees its slot once.
func (s slots) track(c *net.TCPConn) net.Conn {
	if s == nil {
		return c
	}
	return &slotConn{TCPConn: c, release: sync.OnceFunc(s.release)}
}

// slotConn frees its slot when closed. It embeds *net.TCPConn, so the
// relay can still half-close it (CloseWrite).
type slotConn struct {
	*net.TCPConn
	release func()
}

func (c *slotConn) Close() error {
	c.release()
	return c.TCPConn.Close()
}
