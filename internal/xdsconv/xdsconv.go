// Package xdsconv converts route tables between the YAML model
// (routes.RouteTable) and the xDS resource (meshlitev1.RouteTable). It is the
// only package that knows both. It checks that values can be represented on
// the other side; it does not validate business rules (routes.Compile does).
package xdsconv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// ToProto converts a table to its xDS resource. A nil table gives nil.
//
// Every value of a validated table is representable. For an unvalidated one:
// empty slices become absent fields (FromProto returns nil slices), a zero
// duration becomes an unset field, negative durations are kept (FromProto
// rejects them), and attempts outside 0..MaxUint32 become MaxUint32, which
// validation rejects, so an invalid table never turns into a valid one.
func ToProto(rt *routes.RouteTable) *meshlitev1.RouteTable {
	if rt == nil {
		return nil
	}
	return &meshlitev1.RouteTable{
		Name:      rt.Metadata.Name,
		Mode:      string(rt.Spec.Mode),
		Routes:    routesToProto(rt.Spec.Routes),
		Egress:    rulesToProto(rt.Spec.Egress),
		DenyCidrs: cloneStrings(rt.Spec.DenyCIDRs),
	}
}

func routesToProto(in []routes.Route) []*meshlitev1.Route {
	if len(in) == 0 {
		return nil
	}
	out := make([]*meshlitev1.Route, len(in))
	for i, r := range in {
		out[i] = &meshlitev1.Route{
			Name:    r.Name,
			Source:  r.Source,
			Target:  r.Target,
			Timeout: durationToProto(r.Timeout),
			Retry:   retryToProto(r.Retry),
		}
	}
	return out
}

func retryToProto(in *routes.RetryPolicy) *meshlitev1.RetryPolicy {
	if in == nil {
		return nil
	}
	attempts := uint32(math.MaxUint32)
	if in.Attempts >= 0 && uint64(in.Attempts) <= math.MaxUint32 {
		attempts = uint32(in.Attempts)
	}
	return &meshlitev1.RetryPolicy{
		Attempts:      attempts,
		PerTryTimeout: durationToProto(in.PerTryTimeout),
		On:            cloneStrings(in.Conditions()),
		NonIdempotent: in.NonIdempotent,
	}
}

func rulesToProto(in []policy.Rule) []*meshlitev1.EgressRule {
	if len(in) == 0 {
		return nil
	}
	out := make([]*meshlitev1.EgressRule, len(in))
	for i, r := range in {
		out[i] = &meshlitev1.EgressRule{
			Name:         r.Name,
			Host:         r.Host,
			Ports:        portsToProto(r.Ports),
			Methods:      cloneStrings(r.Methods),
			Paths:        cloneStrings(r.Paths),
			Cidrs:        cloneStrings(r.CIDRs),
			AllowPrivate: r.AllowPrivate,
		}
	}
	return out
}

func portsToProto(in []policy.PortRange) []*meshlitev1.PortRange {
	if len(in) == 0 {
		return nil
	}
	out := make([]*meshlitev1.PortRange, len(in))
	for i, p := range in {
		out[i] = &meshlitev1.PortRange{From: uint32(p.From), To: uint32(p.To)}
	}
	return out
}

func durationToProto(d routes.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(time.Duration(d))
}

// cloneStrings copies s so the two representations never share memory; an
// empty slice becomes nil.
func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

// FromProto converts an xDS resource to a table with APIVersion, Kind and
// Metadata.Name set. The error joins every value that cannot be represented
// (a port above 65535, a negative or out-of-range duration), each naming its
// field as "xdsconv: routes[0].timeout: ...". Absent repeated fields become
// nil slices. The result is not validated: callers use routes.Compile.
func FromProto(m *meshlitev1.RouteTable) (*routes.RouteTable, error) {
	if m == nil {
		return nil, errors.New("xdsconv: nil RouteTable")
	}
	c := &converter{}
	rt := &routes.RouteTable{
		APIVersion: routes.APIVersion,
		Kind:       routes.Kind,
		Metadata:   routes.Metadata{Name: m.GetName()},
		Spec: routes.Spec{
			Mode:      policy.Mode(m.GetMode()),
			Routes:    c.routes(m.GetRoutes()),
			Egress:    c.rules(m.GetEgress()),
			DenyCIDRs: cloneStrings(m.GetDenyCidrs()),
		},
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, err
	}
	return rt, nil
}

// converter collects every problem found by FromProto.
type converter struct {
	errs []error
}

func (c *converter) fail(path, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("xdsconv: %s: "+format, append([]any{path}, args...)...))
}

func (c *converter) routes(in []*meshlitev1.Route) []routes.Route {
	if len(in) == 0 {
		return nil
	}
	out := make([]routes.Route, len(in))
	for i, r := range in {
		path := fmt.Sprintf("routes[%d]", i)
		out[i] = routes.Route{
			Name:    r.GetName(),
			Source:  r.GetSource(),
			Target:  r.GetTarget(),
			Timeout: c.duration(path+".timeout", r.GetTimeout()),
			Retry:   c.retry(path+".retry", r.GetRetry()),
		}
	}
	return out
}

func (c *converter) retry(path string, in *meshlitev1.RetryPolicy) *routes.RetryPolicy {
	if in == nil {
		return nil
	}
	attempts := in.GetAttempts()
	if uint64(attempts) > math.MaxInt {
		c.fail(path+".attempts", "%d out of range (max %d)", attempts, math.MaxInt)
		attempts = 0
	}
	return &routes.RetryPolicy{
		Attempts:      int(attempts),
		PerTryTimeout: c.duration(path+".per_try_timeout", in.GetPerTryTimeout()),
		RetryOn:       cloneStrings(in.GetOn()),
		NonIdempotent: in.GetNonIdempotent(),
	}
}

func (c *converter) rules(in []*meshlitev1.EgressRule) []policy.Rule {
	if len(in) == 0 {
		return nil
	}
	out := make([]policy.Rule, len(in))
	for i, r := range in {
		path := fmt.Sprintf("egress[%d]", i)
		out[i] = policy.Rule{
			Name:         r.GetName(),
			Host:         r.GetHost(),
			Ports:        c.ports(path+".ports", r.GetPorts()),
			Methods:      cloneStrings(r.GetMethods()),
			Paths:        cloneStrings(r.GetPaths()),
			CIDRs:        cloneStrings(r.GetCidrs()),
			AllowPrivate: r.GetAllowPrivate(),
		}
	}
	return out
}

func (c *converter) ports(path string, in []*meshlitev1.PortRange) []policy.PortRange {
	if len(in) == 0 {
		return nil
	}
	out := make([]policy.PortRange, len(in))
	for i, p := range in {
		at := fmt.Sprintf("%s[%d]", path, i)
		out[i] = policy.PortRange{
			From: c.port(at+".from", p.GetFrom()),
			To:   c.port(at+".to", p.GetTo()),
		}
	}
	return out
}

func (c *converter) port(path string, p uint32) uint16 {
	if p > math.MaxUint16 {
		c.fail(path, "port %d out of range (max 65535)", p)
		return 0
	}
	return uint16(p)
}

// duration converts an optional duration; unset means zero.
func (c *converter) duration(path string, d *durationpb.Duration) routes.Duration {
	if d == nil {
		return 0
	}
	if err := d.CheckValid(); err != nil {
		c.fail(path, "invalid duration (seconds %d, nanos %d)", d.GetSeconds(), d.GetNanos())
		return 0
	}
	const maxSeconds = math.MaxInt64 / int64(time.Second)
	const maxNanos = math.MaxInt64 % int64(time.Second)
	switch secs, nanos := d.GetSeconds(), int64(d.GetNanos()); {
	case secs < 0 || nanos < 0:
		c.fail(path, "negative duration %s", d.AsDuration())
		return 0
	case secs > maxSeconds || secs == maxSeconds && nanos > maxNanos:
		c.fail(path, "duration of %d seconds out of range (max %s)", secs, time.Duration(math.MaxInt64))
		return 0
	}
	return routes.Duration(d.AsDuration())
}

// Version is the content hash of a table: the first 16 hex characters of
// the SHA-256 of its deterministic protobuf encoding. The same table gives
// the same version whether it is read from a file or served over xDS, on
// every replica and after every restart.
func Version(rt *routes.RouteTable) string {
	v, _ := VersionOf(ToProto(rt)) // a RouteTable always encodes
	return v
}

// VersionOf is Version for any resource message.
func VersionOf(m proto.Message) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("xdsconv: encode resource: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}
