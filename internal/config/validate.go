package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/meshlite/meshlite/pkg/routes"
)

// Validate returns one error per problem, each naming the setting and the fix.
func (c *Ambassador) Validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{key}, args...)...))
	}
	for key, addr := range map[string]string{"listen": c.Listen, "admin": c.Admin} {
		if err := checkAddr(addr); err != nil {
			add(key, "%v (want HOST:PORT, for example 127.0.0.1:1080)", err)
		}
	}
	if c.XDS != "" {
		if err := checkAddr(c.XDS); err != nil {
			add("xds", "%v (want HOST:PORT of the control plane)", err)
		}
		if c.Workload == "" {
			add("workload", "required with --xds: the workload whose RouteTable to subscribe to")
		}
	}
	if c.Namespace != "" && !routes.IsDNSLabel(c.Namespace) {
		add("namespace", "%q is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)", c.Namespace)
	}
	if c.Transparent != "" {
		if err := checkAddr(c.Transparent); err != nil {
			add("transparent", "%v (want 127.0.0.1:PORT, the port ambassador init redirects to)", err)
		} else if host, _, _ := net.SplitHostPort(c.Transparent); !isIPv4Loopback(host) {
			add("transparent", "%q: the capture redirects to IPv4 loopback, so the door must listen on 127.0.0.1:PORT", c.Transparent)
		}
	}
	if c.DetectTimeout <= 0 || c.DetectTimeout > time.Minute {
		add("detect-timeout", "%s is out of range (use a duration from 1ms to 1m; default 1s)", c.DetectTimeout)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log-level", "%q is not a level (use debug, info, warn or error)", c.LogLevel)
	}
	switch c.AuditOverflow {
	case "block", "drop":
	default:
		add("audit-overflow", "%q is not supported (use block or drop)", c.AuditOverflow)
	}
	for key, d := range map[string]int64{
		"shutdown-grace": int64(c.ShutdownGrace), "read-header-timeout": int64(c.ReadHeaderTimeout),
		"idle-timeout": int64(c.IdleTimeout), "upstream-timeout": int64(c.UpstreamTimeout),
		"dial-timeout": int64(c.DialTimeout),
	} {
		if d < 0 {
			add(key, "must not be negative")
		}
	}
	if c.TunnelIdleTimeout <= 0 {
		add("tunnel-idle-timeout", "%s must be positive (for example 1h, the default)", c.TunnelIdleTimeout)
	}
	if c.MaxHeaderBytes < 1024 {
		add("max-header-bytes", "%d is too small (use at least 1024)", c.MaxHeaderBytes)
	}
	if c.MaxConnections < 0 || c.MaxIdleConnsPerHost < 0 {
		add("max-connections/max-idle-conns-per-host", "must not be negative")
	}
	_, denyErrs := c.denyList()
	for _, e := range denyErrs {
		errs = append(errs, fmt.Errorf("config: %w", e))
	}
	c.XDSClientIdentity.validate(c.XDS, add)
	errs = append(errs, c.Compat.validate(c.Routes)...)
	return errs
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %v", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

func isIPv4Loopback(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.Is4() && a.IsLoopback()
}
