// Package dashboardtest checks the Grafana dashboard in deploy/grafana
// against the binaries: every metric a panel or variable queries must be
// exported by a running ambassador or control plane. The test builds both,
// runs a control plane serving a table to an ambassador over xDS, drives an
// allowed request, a denied one and a retried call until the retry budget
// runs out, then scrapes both /metrics.
//
// Run with: go test ./internal/dashboardtest/
package dashboardtest
