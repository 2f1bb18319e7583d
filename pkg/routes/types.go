// Package routes is the RouteTable model (DESIGN §5): parsing with unknown
// fields rejected, validation with field paths, and the compiled table that
// maps localhost URIs to real services.
package routes

import (
	"time"

	"github.com/meshlite/meshlite/pkg/policy"
)

const (
	APIVersion = "meshlite/v1"
	Kind       = "RouteTable"
)

// RouteTable is one workload's document. It is wire data: Compile validates it.
type RouteTable struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       Spec     `yaml:"spec" json:"spec"`
}

// Metadata names the workload (the app label) a table applies to.
type Metadata struct {
	Name string `yaml:"name" json:"name"`
}

// Spec holds the routes, the egress allowlist and the deny ranges.
type Spec struct {
	Mode   policy.Mode   `yaml:"mode,omitempty" json:"mode,omitempty"` // "" = enforce
	Routes []Route       `yaml:"routes,omitempty" json:"routes,omitempty"`
	Egress []policy.Rule `yaml:"egress,omitempty" json:"egress,omitempty"`
	// DenyCIDRs are ranges no rule, route or mode can allow: a destination
	// that resolves to an address inside one is denied, in both modes. They
	// add to the ambassador's --deny-cidrs. Written masked ("10.0.0.0/8",
	// "203.0.113.7/32"). Empty means none beyond the always-denied classes.
	DenyCIDRs []string `yaml:"denyCidrs,omitempty" json:"denyCidrs,omitempty"`
}

// Route maps a source URL prefix (http://localhost/api) to a target URL.
type Route struct {
	Name   string `yaml:"name" json:"name"`
	Source string `yaml:"source" json:"source"`
	Target string `yaml:"target" json:"target"`
	// Timeout bounds the whole call, retries included; 0 means the
	// ambassador's default upstream timeout.
	Timeout Duration     `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Retry   *RetryPolicy `yaml:"retry,omitempty" json:"retry,omitempty"`
}

// RetryPolicy says when and how often a call is tried again.
type RetryPolicy struct {
	// Attempts is the total number of tries; 0 and 1 mean no retry. Max 10.
	Attempts int `yaml:"attempts,omitempty" json:"attempts,omitempty"`
	// PerTryTimeout bounds one try; 0 means only the route timeout applies.
	PerTryTimeout Duration `yaml:"perTryTimeout,omitempty" json:"perTryTimeout,omitempty"`
	// RetryOn lists retry conditions: connect-failure, reset, 5xx,
	// gateway-error (502, 503, 504) or a status code ("503"). Empty means
	// [connect-failure, gateway-error]. Envoy's name for the same field.
	RetryOn []string `yaml:"retryOn,omitempty" json:"retryOn,omitempty"`
	// On is the deprecated name of RetryOn, read from files only: YAML 1.1
	// readers (kubectl among them) read an unquoted "on:" key as the
	// boolean true. Parse moves it into RetryOn and returns a warning;
	// giving both is an error.
	On []string `yaml:"on,omitempty" json:"-"`
	// NonIdempotent allows retrying POST, PATCH and other methods that are
	// not idempotent. Off by default.
	NonIdempotent bool `yaml:"nonIdempotent,omitempty" json:"nonIdempotent,omitempty"`
}

// Duration is a time.Duration written as "5s", "250ms" in YAML and JSON.
type Duration time.Duration
