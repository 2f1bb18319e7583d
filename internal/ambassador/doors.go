package ambassador

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/meshlite/meshlite/internal/ambassador/loopback"
	"github.com/meshlite/meshlite/internal/ambassador/proxy"
	"github.com/meshlite/meshlite/internal/ambassador/transparent"
)

// limits are the client-side protections every door gets.
type limits struct {
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	maxHeaderBytes    int
	maxConnections    int
}

// door is one HTTP server: on one address, or for a local mapping door on
// 127.0.0.1 and [::1] at the same port.
type door struct {
	srv   *proxy.Door
	addrs []netip.AddrPort
}

// doors owns the forward door, the transparent door and the local mapping
// doors, which open and close as the route table changes.
type doors struct {
	h      *proxy.Handler
	limits limits
	log    *slog.Logger

	mu          sync.Mutex
	forward     *door
	local       map[uint16]*door
	transparent *transparent.Door
}

func newDoors(h *proxy.Handler, l limits, log *slog.Logger) *doors {
	return &doors{h: h, limits: l, log: log, local: make(map[uint16]*door)}
}

// serve serves srv on lns, which share the door's connection cap.
func (d *doors) serve(lns []net.Listener, srv *proxy.Door) *door {
	dr := &door{srv: srv}
	for _, ln := range loopback.Cap(lns, d.limits.maxConnections) {
		addr := addrPortOf(ln.Addr())
		dr.addrs = append(dr.addrs, addr)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
				d.log.Error("door stopped", "addr", addr.String(), "err", err)
			}
		}()
	}
	return dr
}

// openError names the address a door could not open on, and why.
func openError(err error) error {
	if le := (*loopback.Error)(nil); errors.As(err, &le) {
		return fmt.Errorf("ambassador: cannot open door on %s: %w", le.Addr, le.Err)
	}
	return fmt.Errorf("ambassador: cannot open door: %w", err)
}

// server is the HTTP server of one door, with the client-side limits.
func (d *doors) server(name string, port uint16) *proxy.Door {
	return d.h.NewDoor(name, port, proxy.Limits{
		ReadHeaderTimeout: d.limits.readHeaderTimeout,
		IdleTimeout:       d.limits.idleTimeout,
		MaxHeaderBytes:    d.limits.maxHeaderBytes,
	})
}

// openTransparent opens the transparent door; its addresses count as the
// ambassador's own from then on.
func (d *doors) openTransparent(addr string, detect time.Duration) (*transparent.Door, error) {
	td, err := transparent.Open(transparent.Options{
		Addr: addr, Handler: d.h, HTTP: d.server(proxy.DoorTransparent, 0), MaxHeaderBytes: d.limits.maxHeaderBytes,
		DetectTimeout: detect, MaxConnections: d.limits.maxConnections, Self: d.self, Logger: d.log,
	})
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.transparent = td
	d.mu.Unlock()
	for _, a := range td.Addrs() {
		d.log.Info("door open", "door", proxy.DoorTransparent, "addr", a.String())
	}
	return td, nil
}

// openForward opens the forward-proxy door, on addr only.
func (d *doors) openForward(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ambassador: cannot open door on %s: %w", addr, errors.Unwrap(err))
	}
	dr := d.serve([]net.Listener{ln}, d.server(proxy.DoorForward, 0))
	d.mu.Lock()
	d.forward = dr
	d.mu.Unlock()
	d.log.Info("door open", "door", proxy.DoorForward, "addr", dr.addrs[0].String())
	return nil
}

// open opens a local mapping door for every port in ports that has none,
// on 127.0.0.1 and [::1] (IPv4 only, with a warning, where the namespace
// has no IPv6). It opens all or nothing: on failure the doors it opened are
// closed again, and the error names the address that could not be opened.
func (d *doors) open(ports []uint16) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var opened []uint16
	for _, p := range ports {
		if d.local[p] != nil {
			continue
		}
		lns, err := loopback.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p))), d.log)
		if err != nil {
			for _, q := range opened {
				d.stop(q)
			}
			return openError(err)
		}
		dr := d.serve(lns, d.server(proxy.DoorLocal, p))
		d.local[p] = dr
		opened = append(opened, p)
		for _, a := range dr.addrs {
			d.log.Info("door open", "door", proxy.DoorLocal, "addr", a.String())
		}
	}
	return nil
}

// closeExcept gracefully closes the local doors whose port is not in keep.
func (d *doors) closeExcept(keep []uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for p := range d.local {
		if !slices.Contains(keep, p) {
			d.stop(p)
		}
	}
}

// stop closes one local door (all its listeners at once) and lets its
// requests finish in the background.
func (d *doors) stop(p uint16) {
	dr := d.local[p]
	delete(d.local, p)
	for _, a := range dr.addrs {
		d.log.Info("door closing", "door", proxy.DoorLocal, "addr", a.String())
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dr.srv.Shutdown(ctx)
	}()
}

// self lists the addresses of every open door.
func (d *doors) self() []netip.AddrPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []netip.AddrPort
	if d.forward != nil {
		out = append(out, d.forward.addrs...)
	}
	for _, dr := range d.local {
		out = append(out, dr.addrs...)
	}
	if d.transparent != nil {
		out = append(out, d.transparent.Addrs()...)
	}
	return out
}

// shutdown stops accepting on every door and waits for in-flight requests
// until ctx ends; then it closes what is left.
func (d *doors) shutdown(ctx context.Context) {
	d.mu.Lock()
	all := make([]*door, 0, len(d.local)+1)
	if d.forward != nil {
		all = append(all, d.forward)
	}
	for _, dr := range d.local {
		all = append(all, dr)
	}
	td := d.transparent
	d.mu.Unlock()
	var wg sync.WaitGroup
	if td != nil {
		wg.Go(func() { td.Shutdown(ctx) })
	}
	for _, dr := range all {
		wg.Go(func() {
			dr.srv.Shutdown(ctx)
		})
	}
	wg.Wait()
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.AddrPort()
	}
	return netip.AddrPort{}
}
