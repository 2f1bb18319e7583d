package ambassador

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/meshlite/meshlite/internal/ambassador/proxy"
	"github.com/meshlite/meshlite/internal/xdsconv"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// loader validates, compiles and swaps in route tables, opening the local
// mapping doors a new table needs before it serves and closing the ones it
// no longer names after.
type loader struct {
	h        *proxy.Handler
	doors    *doors
	resolver policy.Resolver
	fixed    []netip.AddrPort  // admin and other listeners outside doors
	deny     []policy.DenyCIDR // --deny-cidrs, merged with each table's spec.denyCidrs
	log      *slog.Logger
	// workload is --workload: the audit lines' workload, whatever the
	// table's name; empty means the table's metadata.name.
	workload string

	mu sync.Mutex
}

// apply makes rt the active table. An error leaves the last good table
// serving, untouched.
func (l *loader) apply(rt *routes.RouteTable, version, origin string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if version == "" {
		version = xdsconv.Version(rt)
	}
	if cur := l.h.State(); cur.Table != nil && cur.Version == version && cur.Origin == origin {
		return nil // the same table again (a reconnect): nothing to swap
	}
	table, err := l.compile(rt)
	if err != nil {
		return err
	}
	ports := table.LocalPorts()
	covered := l.selfCovers(ports)
	if err := l.doors.open(ports); err != nil {
		return err
	}
	if !covered {
		// the table names doors that were not open at compile time:
		// compile again so the policy knows them as the ambassador's own.
		if table, err = l.compile(rt); err != nil {
			return err
		}
	}
	l.h.Swap(&proxy.State{Table: table, Version: version, Origin: origin, Loaded: time.Now(), Workload: l.workloadOf(rt, origin)})
	l.doors.closeExcept(ports)
	l.log.Info("route table active", "table", rt.Metadata.Name, "version", version, "origin", origin,
		"routes", len(rt.Spec.Routes), "egress_rules", len(rt.Spec.Egress), "mode", table.Mode)
	return nil
}

// workloadOf is whose audit lines rt's requests leave: --workload, else the
// table's name; the deny-all table served when none is configured names no
// workload.
func (l *loader) workloadOf(rt *routes.RouteTable, origin string) string {
	if l.workload != "" || origin == "none" {
		return l.workload
	}
	return rt.Metadata.Name
}

func (l *loader) compile(rt *routes.RouteTable) (*routes.Table, error) {
	self := append(slices.Clone(l.fixed), l.doors.self()...)
	t, err := routes.Compile(rt, policy.Options{Resolver: l.resolver, Self: self, Deny: l.deny})
	if err != nil {
		return nil, fmt.Errorf("route table %q rejected:\n%w", rt.Metadata.Name, err)
	}
	return t, nil
}

func (l *loader) selfCovers(ports []uint16) bool {
	self := l.doors.self()
	for _, p := range ports {
		if !slices.ContainsFunc(self, func(a netip.AddrPort) bool { return a.Port() == p }) {
			return false
		}
	}
	return true
}

// denyAll is the table served when none is configured: no routes, no
// egress rules, every request denied with a reason that says so.
func denyAll() *routes.RouteTable {
	return &routes.RouteTable{
		APIVersion: routes.APIVersion,
		Kind:       routes.Kind,
		Metadata:   routes.Metadata{Name: "deny-all"},
	}
}
