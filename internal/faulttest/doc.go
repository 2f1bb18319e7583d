// Package faulttest injects faults into the built ambassador and control
// plane binaries and checks what the client got and what the audit log
// says: upstream resets and silences, failing DNS, a 503 storm under the
// retry budget, the control plane killed or pushing a rejected table,
// SIGTERM under load and a stalled audit sink. Every test also proves the
// audit log's integrity: lines (plus meshlite_audit_dropped_total in drop
// mode) equal the requests the ambassador answered, counted by the client
// and by meshlite_requests_total.
//
// Run with: go test ./internal/faulttest/
package faulttest
