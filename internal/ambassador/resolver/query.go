package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// nameList expands a name with the search list as glibc and the Go resolver
// do: a name with at least ndots dots is tried as given first, then with
// each search domain; a shorter one with the search domains first.
type nameList struct {
	search []string
	ndots  int
}

func (n nameList) of(name string) []string {
	abs := dns.Fqdn(name)
	out := make([]string, 0, len(n.search)+1)
	first := strings.Count(name, ".") >= n.ndots
	if first {
		out = append(out, abs)
	}
	for _, s := range n.search {
		out = append(out, dns.Fqdn(abs+strings.TrimSuffix(s, ".")))
	}
	if !first {
		out = append(out, abs)
	}
	return out
}

// result is one name's answer: its addresses (none: no such host) and how
// long it may be kept.
type result struct {
	addrs []netip.Addr
	ttl   time.Duration
}

// resolve tries name with each search domain until one has addresses. It
// fails when none has and a server could not answer for one of them (such a
// failure is not cached); when every name is answered "no such host" or has
// no address, the answer is empty and kept for the shortest negative TTL.
func (r *Resolver) resolve(ctx context.Context, name string) (result, error) {
	neg := result{ttl: r.negTTL}
	var failed error
	for _, fqdn := range r.names.of(name) {
		res, err := r.tryName(ctx, fqdn)
		switch {
		case err != nil && ended(ctx) != nil:
			return result{}, ended(ctx)
		case err != nil:
			failed = err
		case len(res.addrs) > 0:
			return res, nil
		default:
			neg.ttl = min(neg.ttl, res.ttl)
		}
	}
	if failed != nil {
		return result{}, failed
	}
	return neg, nil
}

// tryName asks for the A and AAAA records of fqdn at once. An answer with
// addresses of one family is good even if the other query failed (it is
// then kept no longer than a negative answer, so the failure is retried
// soon).
func (r *Resolver) tryName(ctx context.Context, fqdn string) (result, error) {
	types := [2]uint16{dns.TypeA, dns.TypeAAAA}
	var got [2]result
	var errs [2]error
	done := make(chan int, len(types))
	for i, t := range types {
		go func() {
			var m *dns.Msg
			if m, errs[i] = r.exchange(ctx, fqdn, t); errs[i] == nil {
				got[i] = r.read(m)
			}
			done <- i
		}()
	}
	for range types {
		<-done
	}
	out := result{ttl: r.maxTTL}
	for i := range types {
		if errs[i] != nil {
			out.ttl = min(out.ttl, r.negTTL)
			continue
		}
		if len(got[i].addrs) > 0 {
			out.addrs = append(out.addrs, got[i].addrs...)
			out.ttl = min(out.ttl, got[i].ttl)
		}
	}
	if len(out.addrs) == 0 {
		if err := firstErr(errs[:]); err != nil {
			return result{}, err
		}
		out.ttl = min(got[0].ttl, got[1].ttl)
	}
	return out, nil
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// read takes the addresses of a reply and how long they may be kept: the
// lowest TTL of the answer section (capped), or for an empty answer the
// SOA's negative TTL (capped by the negative TTL).
func (r *Resolver) read(m *dns.Msg) result {
	res := result{ttl: r.maxTTL}
	for _, rr := range m.Answer {
		var a netip.Addr
		switch rr := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(rr.AAAA.To16())
		}
		if a.IsValid() {
			res.addrs = append(res.addrs, a)
		}
		res.ttl = min(res.ttl, time.Duration(rr.Header().Ttl)*time.Second)
	}
	if len(res.addrs) > 0 {
		return res
	}
	res.ttl = r.negTTL
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			res.ttl = min(res.ttl, time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second)
		}
	}
	return result{ttl: res.ttl}
}

// exchange asks the name servers in turn, attempts times round, for one
// record type of fqdn, over UDP and again over TCP when the reply is
// truncated. A reply is final when it is NOERROR or NXDOMAIN.
func (r *Resolver) exchange(ctx context.Context, fqdn string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.SetEdns0(1232, false)
	var last error
	for range r.tries {
		for _, srv := range r.servers {
			m, err := r.exchangeOne(ctx, q, srv)
			switch {
			case err != nil && ended(ctx) != nil:
				return nil, ended(ctx)
			case err != nil:
				last = fmt.Errorf("server %s: %w", srv, err)
			case m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError:
				return m, nil
			default:
				last = fmt.Errorf("server %s answered %s", srv, dns.RcodeToString[m.Rcode])
			}
		}
	}
	return nil, &net.DNSError{Err: last.Error(), Name: fqdn, IsTemporary: true, IsTimeout: isTimeout(last), UnwrapErr: last}
}

func (r *Resolver) exchangeOne(ctx context.Context, q *dns.Msg, srv string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	m, _, err := r.udp.ExchangeContext(ctx, q, srv)
	if err == nil && m.Truncated {
		m, _, err = r.tcp.ExchangeContext(ctx, q, srv)
	}
	if err == nil && (len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, q.Question[0].Name)) {
		return nil, errors.New("reply is for another question")
	}
	return m, err
}

// ended is ctx's error, or context.DeadlineExceeded once its deadline has
// passed (a socket deadline set from it can fire before ctx's own timer).
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
