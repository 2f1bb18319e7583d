// Package api holds meshlite's protos and their generated Go code:
// meshlite/v1 (the RouteTable resource) and xds/v1 (the minimal ADS messages
// the ambassador speaks). Regenerate with `make proto`.
package api
