package routes

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/meshlite/meshlite/pkg/policy"
)

// Table is a compiled, immutable route table. Safe for concurrent use.
// Swap tables whole (behind an atomic.Pointer); never modify one.
type Table struct {
	Name   string         // metadata.name: the workload
	Mode   policy.Mode    // enforce or report; never ""
	Policy *policy.Policy // the compiled egress allowlist
	Source *RouteTable    // a private copy of the document it was compiled from

	routes     []*Compiled  // document order
	groups     []matchGroup // by source scheme, host and port
	localPorts []uint16     // ascending, distinct
}

// Compiled is one route ready to serve. Treat it as read-only.
type Compiled struct {
	Name string
	// Source is the normalised source URL: lower-case host, port only when
	// not the default, clean path ("/" when empty).
	Source *url.URL
	// Target is the normalised target URL, same form as Source.
	Target *url.URL
	// SourcePort and TargetPort are the ports with defaults made explicit.
	SourcePort uint16
	TargetPort uint16
	// Timeout bounds the whole call, retries included; 0 means the
	// ambassador's default.
	Timeout time.Duration
	// Attempts is the total number of tries, at least 1.
	Attempts int
	// PerTryTimeout bounds one try; 0 means only Timeout applies.
	PerTryTimeout time.Duration
	// On says which failures are retried.
	On RetryOn
	// NonIdempotent allows retrying methods that are not idempotent.
	NonIdempotent bool

	prefix string // source match prefix: clean, no trailing slash except "/"
}

// Compile validates rt and compiles its routes and egress policy. The
// policy denies opts.Deny (the ambassador's --deny-cidrs) and the table's
// spec.denyCidrs, merged. The error joins every problem, as Validate does. The table keeps a copy of
// rt, so later changes to rt do not affect it.
func Compile(rt *RouteTable, opts policy.Options) (*Table, error) {
	if err := rt.Validate(); err != nil {
		return nil, err
	}
	doc := rt.Clone()
	mode := doc.Spec.Mode
	if mode == "" {
		mode = policy.Enforce
	}
	deny, errs := policy.ParseDenyCIDRs("spec.denyCidrs", doc.Spec.DenyCIDRs)
	if len(errs) > 0 { // Validate passed, so this is a bug
		return nil, fmt.Errorf("routes: %w", errors.Join(errs...))
	}
	opts.Deny = append(slices.Clip(opts.Deny), deny...)
	pol, err := policy.Compile(mode, doc.Spec.Egress, opts)
	if err != nil {
		return nil, fmt.Errorf("routes: spec.egress: %w", err)
	}
	t := &Table{Name: doc.Metadata.Name, Mode: mode, Policy: pol, Source: doc}
	for i := range doc.Spec.Routes {
		c, err := compileRoute(&doc.Spec.Routes[i])
		if err != nil {
			return nil, fmt.Errorf("routes: spec.routes[%d]: %w", i, err)
		}
		t.add(c)
	}
	t.groups = groupRoutes(t.routes)
	slices.Sort(t.localPorts)
	return t, nil
}

// compileRoute builds a validated route's serving form.
func compileRoute(r *Route) (*Compiled, error) {
	src, msg1 := parseEndpoint(r.Source, true)
	dst, msg2 := parseEndpoint(r.Target, false)
	if msg1 != "" || msg2 != "" { // Validate passed, so this is a bug
		return nil, errors.New("route changed during compile")
	}
	c := &Compiled{
		Name:       r.Name,
		Source:     src.url,
		Target:     dst.url,
		SourcePort: src.port,
		TargetPort: dst.port,
		Timeout:    time.Duration(r.Timeout),
		Attempts:   1,
		On:         DefaultRetryOn(),
		prefix:     prefixOf(src.path),
	}
	if rp := r.Retry; rp != nil {
		c.Attempts = max(rp.Attempts, 1)
		c.PerTryTimeout = time.Duration(rp.PerTryTimeout)
		c.On = parseRetryOn(rp.Conditions())
		c.NonIdempotent = rp.NonIdempotent
	}
	return c, nil
}

// add appends a compiled route and records its local port.
func (t *Table) add(c *Compiled) {
	t.routes = append(t.routes, c)
	if _, ok := LoopbackHost(c.Source.Hostname()); ok && !slices.Contains(t.localPorts, c.SourcePort) {
		t.localPorts = append(t.localPorts, c.SourcePort)
	}
}

// LocalPorts lists the distinct ports of loopback sources (localhost,
// 127.0.0.1, ::1; see LoopbackHosts) in ascending order: the local mapping
// doors to open, each on 127.0.0.1 and [::1].
// The slice is the caller's.
func (t *Table) LocalPorts() []uint16 { return slices.Clone(t.localPorts) }

// Routes lists the compiled routes in document order. The slice is the
// caller's; the routes are shared and read-only.
func (t *Table) Routes() []*Compiled { return slices.Clone(t.routes) }

// Route returns the compiled route with this name, or nil.
func (t *Table) Route(name string) *Compiled {
	for _, c := range t.routes {
		if c.Name == name {
			return c
		}
	}
	return nil
}
