package routes

// API stubs: the routes helper replaces this file with the real implementation
// (same signatures).

import (
	"net/url"
	"time"

	"github.com/meshlite/meshlite/pkg/policy"
)

// FieldError is one validation problem: where it is and how to fix it.
// Error() reads "spec.routes[2].target: scheme "ftp" not supported (use http or https)".
type FieldError struct {
	Path string // field path, "spec.routes[2].target"
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Parse decodes one RouteTable YAML document strictly (unknown fields and
// unknown apiVersion/kind rejected) and validates it. The returned error
// joins every problem (errors.Join of *FieldError), one per line.
func Parse(data []byte) (*RouteTable, error) { panic("TODO") }

// Load reads and parses a file; each error line is prefixed by the file name.
func Load(path string) (*RouteTable, error) { panic("TODO") }

// Validate returns every problem in rt (nil when none), joined.
func (rt *RouteTable) Validate() error { panic("TODO") }

// Table is a compiled, immutable route table. Safe for concurrent use.
type Table struct {
	Name   string
	Mode   policy.Mode
	Policy *policy.Policy
	Source *RouteTable // the document it was compiled from
}

// Compile validates rt and compiles its routes and egress policy.
func Compile(rt *RouteTable, opts policy.Options) (*Table, error) { panic("TODO") }

// Compiled is one route ready to serve.
type Compiled struct {
	Name          string
	Source        *url.URL
	Target        *url.URL
	TargetPort    uint16
	Timeout       time.Duration
	Attempts      int
	PerTryTimeout time.Duration
	On            RetryOn
	NonIdempotent bool
}

// RetryOn is the parsed retry condition set.
type RetryOn struct {
	ConnectFailure bool
	Reset          bool
	Status5xx      bool
	GatewayError   bool
	Codes          []int
}

// Match finds the route for a request: scheme, host and port exactly (host
// lower-cased), path by segment prefix after cleaning; the longest prefix
// wins. It does not allocate. nil when nothing matches.
func (t *Table) Match(scheme, host string, port uint16, path string) *Compiled { panic("TODO") }

// Rewrite returns the upstream URL for a request that matched r: target
// scheme, host and port; target path + the remainder after the source
// prefix (of the cleaned path); the query kept.
func (r *Compiled) Rewrite(path, rawQuery string) *url.URL { panic("TODO") }

// LocalPorts lists the distinct ports of loopback sources (localhost,
// 127.0.0.1, [::1]) in ascending order: the local mapping doors to open.
func (t *Table) LocalPorts() []uint16 { panic("TODO") }

// Routes lists the compiled routes in document order.
func (t *Table) Routes() []*Compiled { panic("TODO") }
