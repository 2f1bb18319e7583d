package suggest

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// maxBucketKeys bounds the distinct destinations kept per workload in the
// denied and will-stay-denied buckets (an app can make up names without
// end); past it they share one "(other destinations)" entry.
const maxBucketKeys = 10000

// audit is everything read: counts, and per workload what was seen.
type audit struct {
	opts      Options
	stats     stats
	workloads map[string]*workload
	// private are the hosts some line dialled at a private address, in any
	// workload: names resolve alike in every pod.
	private       map[string]bool
	progressShown bool
}

func newAudit(opts Options) *audit {
	return &audit{opts: opts, workloads: make(map[string]*workload), private: make(map[string]bool)}
}

// span counts lines and the time range they cover.
type span struct {
	count       int
	first, last time.Time
}

func (s *span) add(t time.Time) {
	if s.count == 0 || t.Before(s.first) {
		s.first = t
	}
	if s.count == 0 || t.After(s.last) {
		s.last = t
	}
	s.count++
}

func (s *span) merge(o span) {
	if o.count == 0 {
		return
	}
	if s.count == 0 || o.first.Before(s.first) {
		s.first = o.first
	}
	if s.count == 0 || o.last.After(s.last) {
		s.last = o.last
	}
	s.count += o.count
}

// requests reads "12 requests, 2026-11-25T10:00:00Z to 2026-11-26T09:00:00Z".
func (s span) requests() string {
	noun := "requests"
	if s.count == 1 {
		noun = "request"
	}
	if s.first.Equal(s.last) {
		return fmt.Sprintf("%d %s at %s", s.count, noun, stamp(s.first))
	}
	return fmt.Sprintf("%d %s, %s to %s", s.count, noun, stamp(s.first), stamp(s.last))
}

// workload is what one workload's lines say.
type workload struct {
	name   string
	lines  span // every line of the workload inside --since/--until
	routed int  // lines a route allowed (never suggested)
	// dests are the destinations of allow and would_deny lines: what a
	// suggested table must allow.
	dests map[destKey]*destStats
	// stay are destinations the address guard denies in every mode.
	stay map[string]*bucket
	// denied are deny lines for any other reason (the table in force
	// denied them, or the request was malformed): reported, never suggested.
	denied map[string]*bucket
}

type destKey struct {
	host string
	port uint16
}

// destStats is one host:port that a suggested table must allow.
type destStats struct {
	ip        netip.Addr
	seen      span // allow and would_deny lines
	wouldDeny span // would_deny lines: what enforce mode would deny
	tunnel    bool // seen as CONNECT, TLS or TCP
	private   bool // dialled at a private address (by any workload; see markPrivate)
	// uses are the HTTP methods and path prefixes (at --path-depth) seen;
	// nil once overflow is set.
	uses     map[httpUse]struct{}
	overflow bool // more than maxPathsPerDest distinct uses
}

type httpUse struct{ method, path string }

// bucket is a destination that is reported, not suggested.
type bucket struct {
	span
	why string
}

// add files one line under workload w; it returns why the line is
// malformed, or "".
func (a *audit) add(w string, l auditLine, ts time.Time) string {
	d, err := parseDestination(l.Method, l.URL)
	if err != nil && l.Decision != decisionDeny && l.Route == "" {
		return err.Error()
	}
	wl := a.workloads[w]
	if wl == nil {
		wl = &workload{name: w, dests: make(map[destKey]*destStats),
			stay: make(map[string]*bucket), denied: make(map[string]*bucket)}
		a.workloads[w] = wl
	}
	if l.Route != "" {
		wl.lines.add(ts)
		if l.Decision == decisionDeny { // the guard denied the route's target
			a.stats.used++
			addBucket(wl.denied, "route "+clip(l.Route), "", ts)
			return ""
		}
		wl.routed++
		a.stats.routed++
		return ""
	}
	wl.lines.add(ts)
	a.stats.used++
	switch {
	case err != nil: // a deny line for a malformed request
		addBucket(wl.denied, "(malformed requests)", "", ts)
	case l.Decision == decisionDeny:
		if why, ok := alwaysDenied(d, l.Decision, l.Reason); ok {
			addBucket(wl.stay, d.key(), why, ts)
		} else {
			addBucket(wl.denied, d.key(), "", ts)
		}
	default:
		if why, ok := alwaysDenied(d, l.Decision, l.Reason); ok {
			addBucket(wl.stay, d.key(), why, ts)
			return ""
		}
		wl.see(d, l, ts, a.opts.PathDepth)
		if privateUpstream(l.Upstream) {
			a.private[d.host] = true
		}
	}
	return ""
}

// markPrivate flags, in every workload, the hosts any line dialled at a
// private address.
func (a *audit) markPrivate() {
	for _, wl := range a.workloads {
		for k, ds := range wl.dests {
			ds.private = a.private[k.host]
		}
	}
}

// see records an allow or would_deny line.
func (wl *workload) see(d destination, l auditLine, ts time.Time, depth int) {
	k := destKey{d.host, d.port}
	ds := wl.dests[k]
	if ds == nil {
		ds = &destStats{ip: d.ip}
		wl.dests[k] = ds
	}
	ds.seen.add(ts)
	if l.Decision == decisionWouldDeny {
		ds.wouldDeny.add(ts)
	}
	if d.tunnel {
		ds.tunnel = true
		return
	}
	ds.use(httpUse{d.method, pathPrefix(d.path, depth)})
}

func (ds *destStats) use(u httpUse) {
	if ds.overflow {
		return
	}
	if ds.uses == nil {
		ds.uses = make(map[httpUse]struct{})
	}
	ds.uses[u] = struct{}{}
	if len(ds.uses) > maxPathsPerDest {
		ds.uses, ds.overflow = nil, true
	}
}

func addBucket(m map[string]*bucket, key, why string, ts time.Time) {
	b := m[key]
	if b == nil {
		if len(m) >= maxBucketKeys {
			key, why = "(other destinations)", "more than 10000 destinations"
			b = m[key]
		}
		if b == nil {
			b = &bucket{why: why}
			m[key] = b
		}
	}
	b.add(ts)
}

// stats counts what happened to the lines read.
type stats struct {
	sources   int
	lines     int // non-blank lines read
	used      int // lines filed under a workload (not counting routed)
	routed    int // lines a route allowed
	outside   int // lines outside --since/--until
	malformed skipped
	oversized skipped
}

// skipped counts skipped lines and keeps the first few places.
type skipped struct {
	count int
	first []string
}

func (s *skipped) add(label string, n int, msg string) {
	s.count++
	if len(s.first) < 5 {
		s.first = append(s.first, fmt.Sprintf("%s:%d: %s", label, n, msg))
	}
}

// write prints the counts, and where the first skipped lines are.
func (s *stats) write(w io.Writer) {
	fmt.Fprintf(w, "suggest: %d lines read: %d used, %d allowed by routes (not suggested)", s.lines, s.used, s.routed)
	if s.outside > 0 {
		fmt.Fprintf(w, ", %d outside --since/--until", s.outside)
	}
	fmt.Fprintf(w, ", %d malformed (skipped), %d over the line limit (skipped)\n", s.malformed.count, s.oversized.count)
	for _, f := range s.malformed.first {
		fmt.Fprintf(w, "suggest: skipped %s\n", f)
	}
	for _, f := range s.oversized.first {
		fmt.Fprintf(w, "suggest: skipped %s\n", f)
	}
	if n := s.malformed.count + s.oversized.count - len(s.malformed.first) - len(s.oversized.first); n > 0 {
		fmt.Fprintf(w, "suggest: skipped %d more lines\n", n)
	}
}

// why explains an empty result.
func (s *stats) why() string {
	var parts []string
	switch {
	case s.lines == 0:
		parts = append(parts, "the input has no lines")
	case s.outside == s.lines:
		parts = append(parts, "every line is outside --since/--until")
	case s.malformed.count+s.oversized.count == s.lines:
		parts = append(parts, "every line was skipped")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}
