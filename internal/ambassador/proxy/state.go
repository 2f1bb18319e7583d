// Package proxy is the ambassador's request pipeline: every door (forward
// proxy, local mapping listeners) turns a request into a destination, matches
// the route table, asks the egress policy, and either answers with a reasoned
// error or sends the request upstream through the retrying transport. Each
// request leaves exactly one audit line.
package proxy

import (
	"time"

	"github.com/meshlite/meshlite/pkg/routes"
)

// State is one immutable, compiled configuration. The handler holds the
// current State behind an atomic pointer; a request keeps the State it
// started with until it ends.
type State struct {
	// Table is the compiled route table; nil denies everything with Pending
	// as the reason.
	Table *routes.Table
	// Version identifies the table: a content hash, or the xDS version.
	Version string
	// Origin says where the table came from: "file:PATH", "environment",
	// "xds", or "none".
	Origin string
	// Loaded is when the table was swapped in.
	Loaded time.Time
	// Pending explains why there is no table yet (for denials and /readyz).
	Pending string
	// Workload is written in every audit line: the ambassador's
	// --workload, else the table's metadata.name; empty when neither.
	Workload string
}

// workload is the audit lines' workload; a nil State has none.
func (s *State) workload() string {
	if s == nil {
		return ""
	}
	return s.Workload
}

// ready reports whether the state can serve traffic as configured.
func (s *State) ready() (bool, string) {
	if s == nil {
		return false, "no configuration loaded yet"
	}
	if s.Table == nil && s.Pending != "" {
		return false, s.Pending
	}
	return true, ""
}
