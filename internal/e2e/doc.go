// Package e2e holds end-to-end tests of the control plane and the
// ambassador together: a real control plane serving a temporary route
// directory over gRPC on loopback, real ambassadors subscribed to it, and
// real upstream HTTP servers behind them. The package has no code of its
// own; everything lives in its tests.
package e2e
