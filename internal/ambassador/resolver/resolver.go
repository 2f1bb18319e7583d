// Package resolver answers the ambassador's name lookups as a pod's resolver
// does: the hosts file first, then the name servers of resolv.conf with its
// search list and ndots, A and AAAA. Answers are kept for their TTL (capped),
// "no such host" for a short time, in a bounded cache; concurrent lookups of
// one name share one set of queries.
//
// The cache only saves queries: the policy still checks every address a
// lookup returns, and the upstream dials only checked addresses.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/meshlite/meshlite/pkg/policy"
)

// Defaults of Options.
const (
	DefaultResolvConf  = "/etc/resolv.conf"
	DefaultHosts       = "/etc/hosts"
	DefaultCacheSize   = 10000
	DefaultMaxTTL      = 5 * time.Minute
	DefaultNegativeTTL = 5 * time.Second
)

// Options configure a Resolver. The zero value reads /etc/resolv.conf and
// /etc/hosts and caches.
type Options struct {
	// ResolvConf is the resolver configuration ("nameserver", "search",
	// "domain", "options ndots:N timeout:N attempts:N"); "" means
	// /etc/resolv.conf. It is read once, by New.
	ResolvConf string
	// Hosts is the hosts file, consulted before DNS and re-read when it
	// changes (checked at most every 5s); "" means /etc/hosts.
	Hosts string
	// NoCache turns the cache off: every lookup asks the name servers.
	NoCache bool
	// CacheSize bounds the names kept (least recently used go first);
	// 0 means 10,000.
	CacheSize int
	// MaxTTL caps how long an answer is kept; 0 means 5 minutes.
	MaxTTL time.Duration
	// NegativeTTL caps how long "no such host" is kept (the zone's SOA
	// minimum when lower); 0 means 5 seconds.
	NegativeTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Resolver looks names up. It is safe for concurrent use.
type Resolver struct {
	names   nameList
	servers []string      // host:port
	timeout time.Duration // per query and server
	tries   int           // rounds over the servers
	udp     *dns.Client
	tcp     *dns.Client
	hosts   *hostsFile
	cache   *cache // nil when off
	maxTTL  time.Duration
	negTTL  time.Duration
	now     func() time.Time

	mu      sync.Mutex
	flights map[string]*flight
}

var _ policy.Resolver = (*Resolver)(nil)

// New reads the resolver configuration and returns a Resolver. A missing
// configuration file means what it means to the standard resolver: name
// servers on localhost, no search list.
func New(opts Options) (*Resolver, error) {
	if opts.ResolvConf == "" {
		opts.ResolvConf = DefaultResolvConf
	}
	if opts.Hosts == "" {
		opts.Hosts = DefaultHosts
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.MaxTTL <= 0 {
		opts.MaxTTL = DefaultMaxTTL
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = DefaultNegativeTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	conf, err := dns.ClientConfigFromFile(opts.ResolvConf)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		conf = &dns.ClientConfig{Port: "53", Ndots: 1, Timeout: 5, Attempts: 2}
	case err != nil:
		return nil, fmt.Errorf("resolver: read %s: %w", opts.ResolvConf, err)
	}
	timeout := time.Duration(conf.Timeout) * time.Second
	r := &Resolver{
		names:   nameList{search: conf.Search, ndots: conf.Ndots},
		servers: serverAddrs(conf),
		timeout: timeout,
		tries:   conf.Attempts,
		udp:     &dns.Client{Net: "udp", Timeout: timeout},
		tcp:     &dns.Client{Net: "tcp", Timeout: timeout},
		hosts:   &hostsFile{path: opts.Hosts, now: opts.Now},
		maxTTL:  opts.MaxTTL,
		negTTL:  opts.NegativeTTL,
		now:     opts.Now,
		flights: map[string]*flight{},
	}
	if !opts.NoCache {
		r.cache = newCache(opts.CacheSize)
	}
	return r, nil
}

// serverAddrs joins the configured name servers with port 53; none means
// localhost, as for the standard resolver. A server written with its port
// ("nameserver 127.0.0.1:5353", which glibc does not read) keeps it: tests
// and benchmarks run their server on a free port.
func serverAddrs(conf *dns.ClientConfig) []string {
	servers := conf.Servers
	if len(servers) == 0 {
		servers = []string{"127.0.0.1", "::1"}
	}
	out := make([]string, len(servers))
	for i, s := range servers {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			out[i] = ap.String()
			continue
		}
		out[i] = net.JoinHostPort(s, conf.Port)
	}
	return out
}

// LookupNetIP returns host's addresses, IPv4 first; network is "ip", "ip4"
// or "ip6". Errors are *net.DNSError; one caused by ctx unwraps to ctx's
// error.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	want, err := familyOf(network)
	if err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return pick([]netip.Addr{ip}, want, host)
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if addrs := r.hosts.lookup(name); len(addrs) > 0 {
		return pick(addrs, want, host)
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		// RFC 6761: loopback, never asked of DNS, hosts file or not.
		return pick(loopback, want, host)
	}
	addrs, err := r.answer(ctx, name)
	if err != nil {
		return nil, dnsError(host, err)
	}
	return pick(addrs, want, host)
}

// answer returns name's addresses from the cache, from a lookup of the same
// name already under way, or from a new lookup. An empty answer with a nil
// error is "no such host".
func (r *Resolver) answer(ctx context.Context, name string) ([]netip.Addr, error) {
	if r.cache == nil {
		a, err := r.resolve(ctx, name)
		return a.addrs, err
	}
	if addrs, ok := r.cache.get(name, r.now()); ok {
		return addrs, nil
	}
	r.mu.Lock()
	f, ok := r.flights[name]
	if !ok {
		f = &flight{done: make(chan struct{})}
		r.flights[name] = f
		go r.fly(name, f)
	}
	f.waiters++
	r.mu.Unlock()
	select {
	case <-f.done:
		return f.addrs, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// flight is one lookup that every concurrent caller for its name waits on.
type flight struct {
	done    chan struct{}
	waiters int // callers joined, under Resolver.mu (read by tests)
	addrs   []netip.Addr
	err     error
}

// fly runs the shared lookup of name. It is not bound to any caller's
// context, so a caller that gives up early does not fail the others; the
// resolver's own timeouts and attempts bound it, and its answer is cached
// for the next caller.
func (r *Resolver) fly(name string, f *flight) {
	a, err := r.resolve(context.Background(), name)
	if err == nil && a.ttl > 0 { // a TTL of 0 means: do not keep
		r.cache.put(name, a.addrs, r.now().Add(a.ttl))
	}
	f.addrs, f.err = a.addrs, err
	r.mu.Lock()
	delete(r.flights, name)
	r.mu.Unlock()
	close(f.done)
}

var loopback = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}

// familyOf reads LookupNetIP's network argument.
func familyOf(network string) (byte, error) {
	switch network {
	case "ip":
		return 0, nil
	case "ip4":
		return 4, nil
	case "ip6":
		return 6, nil
	}
	return 0, &net.AddrError{Err: "unknown network", Addr: network}
}

// pick returns a copy of the addresses of the wanted family (0: both), or
// "no such host" when there are none.
func pick(addrs []netip.Addr, want byte, host string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if want == 0 || (want == 4) == a.Unmap().Is4() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return slices.Clip(out), nil
}

// dnsError wraps err as the standard resolver would report it.
func dnsError(host string, err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		c := *de // shared by the callers of one flight
		c.Name = host
		return &c
	}
	timeout := errors.Is(err, context.DeadlineExceeded)
	return &net.DNSError{Err: err.Error(), Name: host, IsTimeout: timeout, IsTemporary: timeout, UnwrapErr: err}
}
