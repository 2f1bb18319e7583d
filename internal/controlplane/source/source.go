// Package source reads RouteTable documents from a directory (in Kubernetes a
// mounted ConfigMap), validates each one and publishes the set of tables the
// control plane serves. A file that becomes invalid does not take its table
// away: the last good version keeps being served and the error is reported.
//
// Every Source is built from the same two parts, so that sources agree on
// when an edit goes out:
//
//   - a Publisher, embedded, which gives the source Subscribe and Current:
//     Publish(snapshot) hands a snapshot that differs from the current one
//     to every subscriber, logs the tables loaded and removed, and reports
//     whether it published;
//   - a Coalescer, which decides when to rebuild and Publish. Call Changed
//     for a complete change (an informer's add, update or delete; a
//     ConfigMap's "..data" swap) and Settling for one that may still be in
//     progress (a file written in place); run Run on its own goroutine with
//     a flush function that rebuilds the snapshot and returns Publish's
//     answer. An isolated change is then published at once (no debounce on
//     a single edit), and a burst (kubectl apply -f of many tables, a resync)
//     at most once per window.
//
// A source that watches something other than files (such as Kubernetes
// RouteTable resources through an informer) calls Changed from its event
// handlers and builds the snapshot in flush from its own cache; a flush that
// finds nothing new (a resync's unchanged objects) must return false, so that
// the next real edit is not held back by a window.
package source

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"
)

// Source produces the tables to serve.
type Source interface {
	// Run scans the directory, then watches it until ctx is done. It returns
	// an error only when the directory cannot be watched at all.
	Run(ctx context.Context) error
	// Subscribe returns a channel that receives every new Snapshot. Only the
	// latest undelivered snapshot is kept: a slow reader skips intermediate
	// ones. Subscribe before Run.
	Subscribe() <-chan Snapshot
	// Current returns the latest snapshot and whether a first scan has
	// completed.
	Current() (Snapshot, bool)
}

// Table is one validated table, ready to serve. It is immutable.
type Table struct {
	// Name is metadata.name: the workload, and the xDS resource name.
	Name string
	// File is the path of the file it was loaded from.
	File string
	// Version is the content hash of the resource (see Version).
	Version string
	// Resource is the table as the xDS resource sent to ambassadors.
	Resource proto.Message
	// Loaded is when this version was first read.
	Loaded time.Time
}

// TableStatus reports one table, or one file that defines no servable table.
type TableStatus struct {
	// Name is the table name; "" when the file cannot be parsed far enough
	// to tell.
	Name string `json:"name"`
	// File is the file that defines (or last defined) the table.
	File string `json:"file"`
	// Version is the version being served; "" when nothing is served.
	Version string `json:"version,omitempty"`
	// LastError is the current problem, "" when the file is good. When it is
	// set and Version is not, nothing is served for this name.
	LastError string `json:"lastError,omitempty"`
	// Updated is when the served version was loaded (the last good time).
	Updated time.Time `json:"updated,omitzero"`
}

// Snapshot is the complete state of the directory at one moment. It is
// immutable: receivers must not modify it.
type Snapshot struct {
	// Tables are the tables to serve, by name.
	Tables map[string]*Table
	// Status has one entry per table name and one per file that defines
	// none, sorted by name then file.
	Status []TableStatus
}

// Errors counts the status entries that carry an error.
func (s Snapshot) Errors() int {
	n := 0
	for _, st := range s.Status {
		if st.LastError != "" {
			n++
		}
	}
	return n
}
