package routes

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/meshlite/meshlite/pkg/policy"
)

// Limits on a route's retry policy.
const (
	MaxAttempts = 10 // retry.attempts, the first try included
	maxNameLen  = 63 // metadata.name and route names
)

// retryConditions are the named retry.retryOn values.
var retryConditions = []string{"connect-failure", "reset", "5xx", "gateway-error"}

// Validate returns every problem in rt (nil when none), joined with
// errors.Join: *FieldError values for the header, mode and routes in
// document order, then the egress rules' problems as reported by
// policy.ValidateRules, then spec.denyCidrs' as *FieldError values.
func (rt *RouteTable) Validate() error { return rt.validate().err() }

func (rt *RouteTable) validate() problems {
	if rt == nil {
		return problems{&FieldError{Msg: "no RouteTable (nil)"}}
	}
	var p problems
	p.header(rt)
	p.mode(rt.Spec.Mode)
	p.routes(rt.Spec.Routes)
	p = append(p, policy.ValidateRules("spec.egress", rt.Spec.Egress)...)
	p.denyCIDRs(rt.Spec.DenyCIDRs)
	return p
}

// denyCIDRs checks spec.denyCidrs; its problems become FieldErrors so that
// they carry a YAML line.
func (p *problems) denyCIDRs(cidrs []string) {
	_, errs := policy.ParseDenyCIDRs("spec.denyCidrs", cidrs)
	for _, err := range errs {
		var fe *policy.FieldError
		if errors.As(err, &fe) {
			p.add(fe.Path, "%s", fe.Msg)
		} else {
			*p = append(*p, err)
		}
	}
}

// header checks apiVersion, kind and metadata.
func (p *problems) header(rt *RouteTable) {
	p.typeMeta(rt.APIVersion, rt.Kind)
	name := rt.Metadata.Name
	switch {
	case name == "":
		p.add("metadata.name", "required (the workload's app label, for example numbers-web)")
	case !IsDNSLabel(name):
		p.add("metadata.name", "%q is not a DNS-1123 label (use lower-case letters, digits and '-', "+
			"starting and ending with a letter or digit, at most %d characters)", name, maxNameLen)
	}
}

// typeMeta checks the two fields that say what the document is.
func (p *problems) typeMeta(apiVersion, kind string) {
	switch apiVersion {
	case APIVersion:
	case "":
		p.add("apiVersion", "required (use %q)", APIVersion)
	default:
		p.add("apiVersion", "%q not supported (use %q)", apiVersion, APIVersion)
	}
	switch kind {
	case Kind:
	case "":
		p.add("kind", "required (use %q)", Kind)
	default:
		p.add("kind", "%q not supported (use %q)", kind, Kind)
	}
}

func (p *problems) mode(m policy.Mode) {
	switch m {
	case "", policy.Enforce, policy.Report:
	default:
		p.add("spec.mode", "%q not supported (use %s or %s)", m, policy.Enforce, policy.Report)
	}
}

// sourceKey identifies a source for the duplicate check.
type sourceKey struct {
	scheme, host, path string
	port               uint16
}

func (p *problems) routes(routes []Route) {
	names := make(map[string]int, len(routes))
	sources := make(map[sourceKey]int, len(routes))
	for i := range routes {
		r := &routes[i]
		at := "spec.routes[" + strconv.Itoa(i) + "]"
		p.routeName(at+".name", r.Name, names, i)
		if src, msg := parseEndpoint(r.Source, true); msg != "" {
			p.add(at+".source", "%s", msg)
		} else {
			key := sourceKey{src.scheme, src.host, prefixOf(src.path), src.port}
			if j, dup := sources[key]; dup {
				p.add(at+".source", "same source as route %q (spec.routes[%d]): %s (each source must be unique; "+
					"merge the routes or change one path)", routes[j].Name, j, src.url)
			} else {
				sources[key] = i
			}
		}
		if _, msg := parseEndpoint(r.Target, false); msg != "" {
			p.add(at+".target", "%s", msg)
		}
		p.timing(at, r)
	}
}

func (p *problems) routeName(at, name string, seen map[string]int, i int) {
	switch {
	case name == "":
		p.add(at, "required (a short name used in audit lines and metrics, for example rng)")
		return
	case !isRouteName(name):
		p.add(at, "%q not allowed (use lower-case letters, digits, '-', '_' and '.', at most %d characters)",
			name, maxNameLen)
	}
	if j, dup := seen[name]; dup {
		p.add(at, "%q is already the name of spec.routes[%d] (route names must be unique)", name, j)
		return
	}
	seen[name] = i
}

// timing checks the timeout and the retry policy.
func (p *problems) timing(at string, r *Route) {
	if r.Timeout < 0 {
		p.add(at+".timeout", "%s is negative (use a positive duration such as 5s, or 0 for the default)", r.Timeout)
	}
	rp := r.Retry
	if rp == nil {
		return
	}
	if rp.Attempts < 0 || rp.Attempts > MaxAttempts {
		p.add(at+".retry.attempts", "%d out of range (use 0..%d; it counts the first try, 1 means no retry)",
			rp.Attempts, MaxAttempts)
	}
	switch {
	case rp.PerTryTimeout < 0:
		p.add(at+".retry.perTryTimeout", "%s is negative (use a positive duration such as 1s, or 0 for none)",
			rp.PerTryTimeout)
	case rp.PerTryTimeout > 0 && r.Timeout > 0 && rp.PerTryTimeout > r.Timeout:
		p.add(at+".retry.perTryTimeout", "%s is longer than the route timeout %s (a try cannot outlast the "+
			"whole call; shorten it or raise timeout)", rp.PerTryTimeout, r.Timeout)
	}
	field := "retryOn"
	switch {
	case rp.On != nil && rp.RetryOn != nil:
		p.add(at+".retry.on", "given with retryOn (on is retryOn's deprecated name; keep retryOn only)")
		return
	case rp.On != nil:
		field = "on"
	}
	for i, on := range rp.Conditions() {
		if _, ok := parseCondition(on); !ok {
			p.add(fmt.Sprintf("%s.retry.%s[%d]", at, field, i), "%q not supported (use %s, or a status code 500..599)",
				on, strings.Join(retryConditions, ", "))
		}
	}
}

// IsDNSLabel reports whether s is a DNS-1123 label, as metadata.name and
// Kubernetes namespace names are: lower-case letters, digits and '-',
// starting and ending with a letter or digit, 1..63 long.
func IsDNSLabel(s string) bool {
	if s == "" || len(s) > maxNameLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// isRouteName allows lower-case letters, digits, '-', '_' and '.'.
func isRouteName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLowerAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}
