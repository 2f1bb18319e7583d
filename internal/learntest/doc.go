// Package learntest holds the round trip of learning an allowlist, run
// against the real binaries: an ambassador in report mode writes audit
// lines for traffic to test hosts in a network namespace, `controlplane
// suggest` turns them into a RouteTable, and a second ambassador enforcing
// that table allows exactly what was seen. It has tests only.
package learntest
