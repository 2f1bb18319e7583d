package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func newResolver(t *testing.T, opts Options) *Resolver {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSearchListAndNdots(t *testing.T) {
	tests := []struct {
		name    string
		conf    []string
		lookup  string
		zones   map[string]zone
		want    string
		asked   []string // A questions, in order
		notHost bool
	}{
		{
			name:   "short name tries the search domains first",
			conf:   []string{"search ns.svc.cluster.local svc.cluster.local cluster.local", "options ndots:5"},
			lookup: "api",
			zones:  map[string]zone{"api.svc.cluster.local": {a: []string{"10.0.0.7"}, ttl: 30}},
			want:   "10.0.0.7",
			asked:  []string{"api.ns.svc.cluster.local", "api.svc.cluster.local"},
		},
		{
			name:   "external name under ndots:5 walks the whole list before itself",
			conf:   []string{"search a.test b.test c.test", "options ndots:5"},
			lookup: "api.example.com",
			zones:  map[string]zone{"api.example.com": {a: []string{"192.0.2.1"}, ttl: 30}},
			want:   "192.0.2.1",
			asked:  []string{"api.example.com.a.test", "api.example.com.b.test", "api.example.com.c.test", "api.example.com"},
		},
		{
			name:   "a name with ndots dots is tried as given first",
			conf:   []string{"search a.test b.test", "options ndots:2"},
			lookup: "api.example.com",
			zones:  map[string]zone{"api.example.com": {a: []string{"192.0.2.2"}, ttl: 30}},
			want:   "192.0.2.2",
			asked:  []string{"api.example.com"},
		},
		{
			name:   "a trailing dot is removed like the policy does; the search list still applies",
			conf:   []string{"domain a.test"},
			lookup: "db.",
			zones:  map[string]zone{"db.a.test": {a: []string{"10.0.0.9"}, ttl: 30}},
			want:   "10.0.0.9",
			asked:  []string{"db.a.test"},
		},
		{
			name:    "no such name anywhere",
			conf:    []string{"search a.test b.test", "options ndots:1"},
			lookup:  "nothing.example",
			zones:   map[string]zone{},
			asked:   []string{"nothing.example", "nothing.example.a.test", "nothing.example.b.test"},
			notHost: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDNS(t, tc.zones)
			r := newResolver(t, srv.options(t, tc.conf...))
			got, err := r.LookupNetIP(context.Background(), "ip", tc.lookup)
			if tc.notHost {
				var de *net.DNSError
				if !errors.As(err, &de) || !de.IsNotFound || de.Name != tc.lookup {
					t.Fatalf("err = %v, want a not-found *net.DNSError for %q", err, tc.lookup)
				}
			} else if err != nil || !slices.Equal(got, addrs(tc.want)) {
				t.Fatalf("LookupNetIP = %v, %v; want [%s]", got, err, tc.want)
			}
			if asked, _ := srv.asked(dns.TypeA); !slices.Equal(asked, tc.asked) {
				t.Errorf("asked %q, want %q", asked, tc.asked)
			}
		})
	}
}

func TestBothFamiliesIPv4First(t *testing.T) {
	srv := startDNS(t, map[string]zone{"dual.test": {a: []string{"192.0.2.5"}, aaaa: []string{"2001:db8::5"}, ttl: 30}})
	r := newResolver(t, srv.options(t))
	for network, want := range map[string]string{"ip": "192.0.2.5 2001:db8::5", "ip4": "192.0.2.5", "ip6": "2001:db8::5"} {
		got, err := r.LookupNetIP(context.Background(), network, "dual.test")
		if err != nil || fmtAddrs(got) != want {
			t.Errorf("LookupNetIP(%s) = %v, %v; want %s", network, got, err, want)
		}
	}
	if n := srv.count("dual.test"); n != 1 {
		t.Errorf("A asked %d times for three lookups, want 1 (cached)", n)
	}
}

func fmtAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

func TestTTLExpiry(t *testing.T) {
	srv := startDNS(t, map[string]zone{
		"short.test": {a: []string{"192.0.2.10"}, ttl: 30},
		"long.test":  {a: []string{"192.0.2.11"}, ttl: 86400},
		"zero.test":  {a: []string{"192.0.2.12"}, ttl: 0},
	})
	clk := newClock()
	opts := srv.options(t)
	opts.Now, opts.MaxTTL = clk.Now, time.Minute
	r := newResolver(t, opts)
	lookup := func(name string) {
		t.Helper()
		if _, err := r.LookupNetIP(context.Background(), "ip", name); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"short.test", "long.test", "zero.test"} {
		lookup(name)
		lookup(name)
	}
	if got := [3]int{srv.count("short.test"), srv.count("long.test"), srv.count("zero.test")}; got != [3]int{1, 1, 2} {
		t.Fatalf("queries (short, long, zero) = %v, want [1 1 2]: a TTL of 0 is not kept", got)
	}
	clk.advance(29 * time.Second)
	lookup("short.test")
	if n := srv.count("short.test"); n != 1 {
		t.Fatalf("short.test asked %d times within its TTL, want 1", n)
	}
	clk.advance(time.Second)
	lookup("short.test")
	if n := srv.count("short.test"); n != 2 {
		t.Fatalf("short.test asked %d times once its TTL ran out, want 2", n)
	}
	clk.advance(30 * time.Second) // one minute in: the cap on long.test's day
	lookup("long.test")
	if n := srv.count("long.test"); n != 2 {
		t.Fatalf("long.test asked %d times after MaxTTL, want 2", n)
	}
}

func TestNegativeCaching(t *testing.T) {
	srv := startDNS(t, map[string]zone{
		"gone.test":   {nxdomain: true, soaMin: 2},
		"nosoa.test":  {nxdomain: true},
		"noaddr.test": {soaMin: 60}, // NOERROR, no records: capped at NegativeTTL
	})
	clk := newClock()
	opts := srv.options(t)
	opts.Now = clk.Now
	r := newResolver(t, opts)
	lookup := func(name string) {
		t.Helper()
		_, err := r.LookupNetIP(context.Background(), "ip", name)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Fatalf("LookupNetIP(%s) err = %v, want not found", name, err)
		}
	}
	counts := func() [3]int {
		return [3]int{srv.count("gone.test"), srv.count("nosoa.test"), srv.count("noaddr.test")}
	}
	for _, n := range []string{"gone.test", "nosoa.test", "noaddr.test"} {
		lookup(n)
		lookup(n)
	}
	if got := counts(); got != [3]int{1, 1, 1} {
		t.Fatalf("queries = %v, want [1 1 1]: not-found answers are kept", got)
	}
	clk.advance(2 * time.Second) // the SOA minimum of gone.test
	for _, n := range []string{"gone.test", "nosoa.test", "noaddr.test"} {
		lookup(n)
	}
	if got := counts(); got != [3]int{2, 1, 1} {
		t.Fatalf("after 2s queries = %v, want [2 1 1]", got)
	}
	clk.advance(3 * time.Second) // NegativeTTL (5s) for the others
	lookup("nosoa.test")
	lookup("noaddr.test")
	if got := counts(); got != [3]int{2, 2, 2} {
		t.Fatalf("after 5s queries = %v, want [2 2 2]", got)
	}
}

func TestServerFailureIsNotCached(t *testing.T) {
	srv := startDNS(t, map[string]zone{"broken.test": {servfail: true}})
	opts := srv.options(t, "options attempts:1")
	r := newResolver(t, opts)
	for range 2 {
		_, err := r.LookupNetIP(context.Background(), "ip", "broken.test")
		var de *net.DNSError
		if !errors.As(err, &de) || de.IsNotFound || !de.IsTemporary {
			t.Fatalf("err = %#v, want a temporary *net.DNSError", err)
		}
	}
	if n := srv.count("broken.test"); n != 2 {
		t.Fatalf("broken.test asked %d times by two lookups, want 2", n)
	}
}

func TestSizeBoundEvictsLeastRecentlyUsed(t *testing.T) {
	zones := map[string]zone{}
	for _, n := range []string{"a.test", "b.test", "c.test"} {
		zones[n] = zone{a: []string{"192.0.2.20"}, ttl: 300}
	}
	srv := startDNS(t, zones)
	opts := srv.options(t)
	opts.CacheSize = 2
	r := newResolver(t, opts)
	for _, n := range []string{"a.test", "b.test", "a.test", "c.test", "a.test", "c.test", "b.test"} {
		if _, err := r.LookupNetIP(context.Background(), "ip", n); err != nil {
			t.Fatal(err)
		}
	}
	// b was least recently used when c came in, so b went; a and c stayed.
	if got := [3]int{srv.count("a.test"), srv.count("b.test"), srv.count("c.test")}; got != [3]int{1, 2, 1} {
		t.Fatalf("queries (a, b, c) = %v, want [1 2 1]", got)
	}
	if n := r.cache.len(); n != 2 {
		t.Fatalf("cache holds %d names, want 2", n)
	}
}

func TestConcurrentLookupsShareOneQuery(t *testing.T) {
	hold := make(chan struct{})
	// TTL 0: nothing is cached, so one query for all means they shared it.
	srv := startDNS(t, map[string]zone{"busy.test": {a: []string{"192.0.2.30"}, ttl: 0, hold: hold}})
	r := newResolver(t, srv.options(t))
	const callers = 8
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			got, err := r.LookupNetIP(context.Background(), "ip", "busy.test")
			if err == nil && fmtAddrs(got) != "192.0.2.30" {
				err = errors.New("wrong answer " + fmtAddrs(got))
			}
			errs <- err
		})
	}
	waitFor(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		f := r.flights["busy.test"]
		return f != nil && f.waiters == callers
	})
	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.count("busy.test"); n != 1 {
		t.Fatalf("busy.test asked %d times by %d concurrent lookups, want 1", n, callers)
	}
}

func TestCallerDeadlineHonoured(t *testing.T) {
	hold := make(chan struct{})
	srv := startDNS(t, map[string]zone{"slow.test": {a: []string{"192.0.2.40"}, ttl: 30, hold: hold}})
	t.Cleanup(func() { close(hold) }) // before the server's cleanup, which waits for its handlers
	for _, cached := range []bool{true, false} {
		opts := srv.options(t)
		opts.NoCache = !cached
		r := newResolver(t, opts)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := r.LookupNetIP(ctx, "ip", "slow.test")
		cancel()
		var de *net.DNSError
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &de) || !de.IsTimeout {
			t.Fatalf("cache %v: err = %v, want a timeout *net.DNSError wrapping context.DeadlineExceeded", cached, err)
		}
	}
}

func TestResolvConfTimeoutAndAttempts(t *testing.T) {
	srv := startDNS(t, map[string]zone{"silent.test": {drop: true}})
	r := newResolver(t, srv.options(t, "options timeout:1 attempts:2"))
	_, err := r.LookupNetIP(context.Background(), "ip", "silent.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTimeout {
		t.Fatalf("err = %v, want a timeout *net.DNSError", err)
	}
	if n := srv.count("silent.test"); n != 2 {
		t.Fatalf("silent.test asked %d times with attempts:2, want 2", n)
	}
}

func TestTruncatedReplyRetriedOverTCP(t *testing.T) {
	srv := startDNS(t, map[string]zone{"big.test": {a: []string{"192.0.2.50", "192.0.2.51"}, ttl: 30, truncate: true}})
	r := newResolver(t, srv.options(t))
	got, err := r.LookupNetIP(context.Background(), "ip4", "big.test")
	if err != nil || fmtAddrs(got) != "192.0.2.50 192.0.2.51" {
		t.Fatalf("LookupNetIP = %v, %v", got, err)
	}
	if _, nets := srv.asked(dns.TypeA); !slices.Equal(nets, []string{"udp", "tcp"}) {
		t.Fatalf("A asked over %v, want [udp tcp]", nets)
	}
}

func TestHostsFileFirst(t *testing.T) {
	srv := startDNS(t, map[string]zone{
		"pinned.test": {a: []string{"192.0.2.60"}, ttl: 30},
		"marker.test": {a: []string{"192.0.2.61"}, ttl: 30},
	})
	opts := srv.options(t)
	hosts := "# comment\n10.9.8.7  Pinned.Test  alias.test # trailing\n::1 localhost\n127.0.0.1 localhost\n"
	if err := os.WriteFile(opts.Hosts, []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newResolver(t, opts)
	for name, want := range map[string]string{
		"pinned.test": "10.9.8.7", "ALIAS.test.": "10.9.8.7", "localhost": "::1 127.0.0.1",
		"app.localhost": "127.0.0.1 ::1", // RFC 6761, not in the file: never asked of DNS
	} {
		got, err := r.LookupNetIP(context.Background(), "ip", name)
		if err != nil || fmtAddrs(got) != want {
			t.Errorf("LookupNetIP(%s) = %v, %v; want %s", name, got, err, want)
		}
	}
	// marker: a DNS lookup after the hosts ones; every query so far is in the log.
	if _, err := r.LookupNetIP(context.Background(), "ip", "marker.test"); err != nil {
		t.Fatal(err)
	}
	if asked, _ := srv.asked(dns.TypeA); !slices.Equal(asked, []string{"marker.test"}) {
		t.Fatalf("DNS asked %q, want only the marker", asked)
	}
}

func TestMissingResolvConf(t *testing.T) {
	r := newResolver(t, Options{ResolvConf: filepath.Join(t.TempDir(), "none"), Hosts: filepath.Join(t.TempDir(), "none")})
	if !slices.Equal(r.servers, []string{"127.0.0.1:53", "[::1]:53"}) {
		t.Fatalf("servers = %v, want localhost", r.servers)
	}
	got, err := r.LookupNetIP(context.Background(), "ip", "192.0.2.70")
	if err != nil || fmtAddrs(got) != "192.0.2.70" {
		t.Fatalf("literal: %v, %v", got, err)
	}
}

// waitFor polls cond against a deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
