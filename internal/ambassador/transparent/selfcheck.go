package transparent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// probeIP is where the self-check's probe connection is aimed: TEST-NET-1
// (RFC 5737), which no real service uses. The probe is sent with a TTL of
// 1, so when it is not captured it goes no further than the first hop.
var probeIP = netip.AddrFrom4([4]byte{192, 0, 2, 1})

// probeTimeout bounds the probe's connect: a captured probe connects at
// once, to the door itself.
const probeTimeout = time.Second

type checkResult struct {
	ok     bool
	reason string
}

// probeHit reports whether dst is the running self-check's probe, which
// the door closes without an audit line.
func (d *Door) probeHit(dst netip.AddrPort) bool {
	p := d.probe.Load()
	return p != nil && *p == dst
}

// Ready reports whether the self-check passed; until it has, and when it
// failed, the door refuses every connection with the reason.
func (d *Door) Ready() (bool, string) {
	r := d.check.Load()
	return r.ok, r.reason
}

// SelfCheck verifies that the ambassador's own outbound connections are not
// captured. When they are (the ambassador runs as a user or group that the
// capture does not exempt), every upstream connection would come back to
// this door: the check fails closed, with a reason that names the flags to
// fix. It runs once, at start.
func (d *Door) SelfCheck(ctx context.Context) {
	p := netip.AddrPortFrom(probeIP, uint16(20000+rand.IntN(40000)))
	d.probe.Store(&p)
	defer d.probe.Store(nil)
	dialer := net.Dialer{Timeout: probeTimeout, Control: setTTL1}
	conn, err := dialer.DialContext(ctx, "tcp4", p.String())
	// With a TTL of 1 nothing beyond the first hop can answer: a probe that
	// connects was intercepted, whether or not it reached this door.
	captured := err == nil
	if captured {
		conn.Close()
	}
	uid, gid := os.Getuid(), os.Getgid()
	switch {
	case captured:
		r := &checkResult{reason: fmt.Sprintf("transparent door: self-check failed: the ambassador's own connections "+
			"are captured and would loop back to it; it runs as uid %d gid %d, which the capture does not exempt: "+
			"run ambassador init with --proxy-uid %d --proxy-gid %d, or run the ambassador as the --proxy-uid and "+
			"--proxy-gid given to init", uid, gid, uid, gid)}
		d.check.Store(r)
		d.log.Error(r.reason)
	case errors.Is(err, syscall.ENETUNREACH):
		d.check.Store(&checkResult{ok: true})
		d.log.Warn("transparent door: self-check inconclusive: no route to the probe address; "+
			"outbound connections cannot be captured without a route either", "probe", p.String())
	default:
		d.check.Store(&checkResult{ok: true})
		d.log.Info("transparent door: self-check passed: the ambassador's own connections are not captured",
			"uid", uid, "gid", gid)
	}
}
