// Package audit writes the ambassador's canonical audit line: one JSON object
// per proxied request, on one line, with a fixed set of fields in a fixed order.
//
// The encoder is hand-written so that the proxy's hot path allocates nothing:
// AppendJSON appends to a caller-owned buffer, and Logger hands encoded lines
// to a single writer goroutine that batches them into few Write calls.
package audit

import "time"

// Field names of the audit line, in the order they are written. They are a
// contract: scripts and dashboards select on them.
const (
	FieldTime       = "ts"
	FieldID         = "id"
	FieldDoor       = "door"
	FieldClient     = "client"
	FieldMethod     = "method"
	FieldURL        = "url"
	FieldRoute      = "route"
	FieldTarget     = "target"
	FieldUpstream   = "upstream"
	FieldDecision   = "decision"
	FieldReason     = "reason"
	FieldRule       = "rule"
	FieldStatus     = "status"
	FieldAttempts   = "attempts"
	FieldDurationMS = "duration_ms"
	FieldBytesIn    = "bytes_in"
	FieldBytesOut   = "bytes_out"
	FieldTraceID    = "trace_id"
	// FieldOriginalDst and FieldSNI are filled by the transparent door only.
	FieldOriginalDst = "original_dst"
	FieldSNI         = "sni"
	// FieldWorkload and FieldNodeID say whose line it is, so that lines
	// from many pods can be merged.
	FieldWorkload = "workload"
	FieldNodeID   = "node_id"
)

// SchemaVersion is the version of the audit line's schema. Fields are only
// ever added, at the end; a change that removes, renames, reorders or
// retypes a field needs a new version.
const SchemaVersion = 1

// Fields lists every field name in the order AppendJSON writes them.
var Fields = [...]string{
	FieldTime, FieldID, FieldDoor, FieldClient, FieldMethod, FieldURL,
	FieldRoute, FieldTarget, FieldUpstream, FieldDecision, FieldReason,
	FieldRule, FieldStatus, FieldAttempts, FieldDurationMS, FieldBytesIn,
	FieldBytesOut, FieldTraceID, FieldOriginalDst, FieldSNI, FieldWorkload,
	FieldNodeID,
}

// Entry is one audit line. Every field is always written; an empty string is
// written as "" and a zero number as 0.
type Entry struct {
	// Time is when the request arrived; written as RFC 3339 with nanoseconds,
	// in UTC. Logger.Log fills in the current time when it is zero.
	Time time.Time
	// ID identifies the request (also sent upstream).
	ID string
	// Door is the listener that accepted the request: forward, local or
	// transparent.
	Door string
	// Client is the remote address of the app's connection.
	Client string
	// Method is the HTTP method, CONNECT for a tunnel, or TLS or TCP for a
	// connection the transparent door relays without reading HTTP.
	Method string
	// URL is the request URL as the app sent it.
	URL string
	// Route is the name of the matched route; empty when none matched.
	Route string
	// Target is the rewritten destination URL (or host:port for a tunnel).
	Target string
	// Upstream is the address that was dialled, ip:port.
	Upstream string
	// Decision is allow, deny or would_deny.
	Decision string
	// Reason says why the decision was taken.
	Reason string
	// Rule names the egress rule or route that decided; empty when none did.
	Rule string
	// Status is the HTTP status sent to the app (499 when it went away).
	Status int
	// Attempts is the number of upstream tries; 0 when none was made.
	Attempts int
	// Duration is the whole time spent on the request; written as
	// duration_ms, milliseconds with three decimals (microsecond resolution).
	Duration time.Duration
	// BytesIn is the number of body bytes received from the app.
	BytesIn int64
	// BytesOut is the number of body bytes sent back to the app.
	BytesOut int64
	// TraceID is the W3C trace id of the request's span; empty when tracing
	// is off.
	TraceID string
	// OriginalDst is the address the app connected to, ip:port, before the
	// capture redirected it to the transparent door; empty at other doors.
	OriginalDst string
	// SNI is the server name of a TLS ClientHello the transparent door read;
	// empty when there was none.
	SNI string
	// Workload is the workload the ambassador serves: its --workload, else
	// the active route table's metadata.name; empty when there is neither.
	Workload string
	// NodeID is the ambassador's xDS node id: --node-id, else $POD_NAME,
	// else the host name.
	NodeID string
}
