package policy

import (
	"context"
	"errors"
	"net/netip"
)

// staticResolver answers from a map: a real in-memory name table, so tests
// control exactly which addresses a name has. Unknown names fail as a
// resolver would.
type staticResolver map[string][]netip.Addr

var _ Resolver = staticResolver(nil)

var errNotFound = errors.New("no such host")

func (r staticResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	if network != "ip" {
		return nil, errors.New("unexpected network " + network)
	}
	addrs, ok := r[host]
	if !ok {
		return nil, errNotFound
	}
	return addrs, nil
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}
