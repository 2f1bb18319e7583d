// Package soak holds the long-run test of the ambassador binary: steady
// load through the local, forward and CONNECT paths while the control plane
// swaps its route table every few seconds, with the ambassador's goroutines,
// live heap and resident memory sampled every 10 s and a least-squares
// slope fitted to each. `make soak` runs it for 10 minutes, `make test` for
// 60 seconds (SOAK_DURATION). The package has no code of its own.
package soak
