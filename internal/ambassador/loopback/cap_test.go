package loopback

import (
	"net"
	"testing"
	"time"
)

func TestCapListenersShareOneCap(t *testing.T) {
	raw := []net.Listener{listenLoopback(t), listenLoopback(t)}
	lns := Cap(raw, 1)
	defer lns[0].Close()
	defer lns[1].Close()
	for _, ln := range lns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, err := lns[0].Accept()
	if err != nil {
		t.Fatal(err)
	}
	// the one slot is taken: the second listener's Accept waits for it
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := lns[1].Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	if l := lns[1].(*cappedListener); len(l.slots) != 1 || cap(l.slots) != 1 || l.slots != lns[0].(*cappedListener).slots {
		t.Fatalf("the listeners do not share one slot (len %d, cap %d)", len(l.slots), cap(l.slots))
	}
	first.Close()
	first.Close() // a second Close frees nothing more
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("closing the first connection did not let the second listener accept")
	}
	if l := lns[0].(*cappedListener); len(l.slots) != 0 {
		t.Errorf("slots taken after both connections closed: %d", len(l.slots))
	}
}

func TestCapListenersCloseEndsAWaitingAccept(t *testing.T) {
	lns := Cap([]net.Listener{listenLoopback(t)}, 1)
	lns[0].(*cappedListener).slots <- struct{}{} // every slot taken
	errc := make(chan error, 1)
	go func() {
		_, err := lns[0].Accept()
		errc <- err
	}()
	lns[0].Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("Accept succeeded on a closed listener")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still waits after Close")
	}
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestCapIdleListenerHoldsNoSlot: a listener waiting in Accept with no
// client must not hold one of the shared slots, or the door's other
// listener serves one connection fewer than the cap (and none at a cap of
// 1). Both listeners are served as a door serves them, each by its own
// accept loop.
func TestCapIdleListenerHoldsNoSlot(t *testing.T) {
	raw := []net.Listener{listenLoopback(t), listenLoopback(t)}
	lns := Cap(raw, 2)
	accepted := make(chan net.Conn, 4)
	for _, ln := range lns {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
	}
	defer lns[0].Close()
	defer lns[1].Close()
	for range 2 {
		c, err := net.Dial("tcp", lns[0].Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	for i := range 2 {
		select {
		case c := <-accepted:
			defer c.Close()
		case <-time.After(10 * time.Second):
			t.Fatalf("accepted %d of 2 connections to one listener with a cap of 2: the idle listener holds a slot", i)
		}
	}
}
