package xdsconv

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

func table(spec routes.Spec) *routes.RouteTable {
	return &routes.RouteTable{
		APIVersion: routes.APIVersion,
		Kind:       routes.Kind,
		Metadata:   routes.Metadata{Name: "numbers-web"},
		Spec:       spec,
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   *routes.RouteTable
	}{
		{"empty spec", table(routes.Spec{})},
		{"report mode only", table(routes.Spec{Mode: policy.Report})},
		{"deny ranges only", table(routes.Spec{DenyCIDRs: []string{"10.0.0.0/8", "fd00::/8"}})},
		{"route without timeout or retry", table(routes.Spec{Routes: []routes.Route{
			{Name: "rng", Source: "http://localhost/api", Target: "http://numbers-api/rng"},
		}})},
		{"route with every field", table(routes.Spec{Mode: policy.Enforce, Routes: []routes.Route{{
			Name: "rng", Source: "http://localhost/api", Target: "https://numbers-api:8443/rng",
			Timeout: routes.Duration(5 * time.Second),
			Retry: &routes.RetryPolicy{
				Attempts: 3, PerTryTimeout: routes.Duration(1500 * time.Millisecond),
				RetryOn: []string{"connect-failure", "503"}, NonIdempotent: true,
			},
		}}})},
		{"zero retry policy is kept", table(routes.Spec{Routes: []routes.Route{
			{Name: "r", Source: "http://localhost/a", Target: "http://b", Retry: &routes.RetryPolicy{}},
		}})},
		{"largest representable values", table(routes.Spec{Routes: []routes.Route{{
			Name: "r", Timeout: routes.Duration(math.MaxInt64),
			Retry: &routes.RetryPolicy{Attempts: math.MaxUint32, PerTryTimeout: 1},
		}}, Egress: []policy.Rule{{Name: "all", Ports: []policy.PortRange{{From: 0, To: math.MaxUint16}}}}})},
		{"egress with every field", table(routes.Spec{Egress: []policy.Rule{
			{Name: "google-apis", Host: "*.googleapis.com", Ports: []policy.PortRange{{From: 443, To: 443}}, AllowPrivate: true},
			{
				Name: "timecheck-health", Host: "timecheck",
				Ports:   []policy.PortRange{{From: 8080, To: 8080}, {From: 9000, To: 9100}},
				Methods: []string{"GET", "HEAD"}, Paths: []string{"/healthz"},
			},
			{Name: "cluster", Ports: []policy.PortRange{{From: 80, To: 80}}, CIDRs: []string{"10.0.0.0/8", "fd00::/8"}},
		}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertRoundTrip(t, tt.in)
		})
	}
}

// assertRoundTrip converts rt to a proto, through the wire format and back,
// and checks that the result equals rt with empty slices read as nil.
func assertRoundTrip(t *testing.T, rt *routes.RouteTable) {
	t.Helper()
	wire, err := proto.Marshal(ToProto(rt))
	if err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	var m meshlitev1.RouteTable
	if err := proto.Unmarshal(wire, &m); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
	got, err := FromProto(&m)
	if err != nil {
		t.Fatalf("FromProto: %v", err)
	}
	if want := normalize(rt); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the table\n got: %+v\nwant: %+v", got, want)
	}
}

// normalize returns a copy of rt with empty slices set to nil: the proto
// cannot tell an empty list from an absent one, and FromProto returns nil.
func normalize(rt *routes.RouteTable) *routes.RouteTable {
	out := *rt
	out.Spec.Routes = nilIfEmpty(rt.Spec.Routes)
	out.Spec.Egress = nilIfEmpty(rt.Spec.Egress)
	out.Spec.DenyCIDRs = nilIfEmpty(rt.Spec.DenyCIDRs)
	for i := range out.Spec.Routes {
		if r := out.Spec.Routes[i].Retry; r != nil {
			retry := *r
			retry.RetryOn = nilIfEmpty(retry.RetryOn)
			out.Spec.Routes[i].Retry = &retry
		}
	}
	for i := range out.Spec.Egress {
		r := &out.Spec.Egress[i]
		r.Ports, r.Methods = nilIfEmpty(r.Ports), nilIfEmpty(r.Methods)
		r.Paths, r.CIDRs = nilIfEmpty(r.Paths), nilIfEmpty(r.CIDRs)
	}
	return &out
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return append([]T(nil), s...)
}

func TestToProtoEmptySlicesAreAbsent(t *testing.T) {
	rt := table(routes.Spec{
		Routes:    []routes.Route{{Name: "r", Retry: &routes.RetryPolicy{RetryOn: []string{}}}},
		Egress:    []policy.Rule{{Name: "e", Ports: []policy.PortRange{}, Methods: []string{}}},
		DenyCIDRs: []string{},
	})
	m := ToProto(rt)
	if m.Routes[0].Retry.On != nil || m.Egress[0].Ports != nil || m.Egress[0].Methods != nil || m.DenyCidrs != nil {
		t.Errorf("empty slices should convert to absent fields: %v", m)
	}
	assertRoundTrip(t, rt)
}

func TestToProtoDoesNotShareMemory(t *testing.T) {
	rt := table(routes.Spec{Egress: []policy.Rule{{Name: "e", Methods: []string{"GET"}}}, DenyCIDRs: []string{"10.0.0.0/8"}})
	m := ToProto(rt)
	m.Egress[0].Methods[0] = "POST"
	m.DenyCidrs[0] = "0.0.0.0/0"
	if rt.Spec.Egress[0].Methods[0] != "GET" || rt.Spec.DenyCIDRs[0] != "10.0.0.0/8" {
		t.Error("changing the proto changed the table")
	}
}

func TestToProtoNil(t *testing.T) {
	if m := ToProto(nil); m != nil {
		t.Errorf("ToProto(nil) = %v, want nil", m)
	}
}

func TestToProtoOutOfRangeAttemptsStayInvalid(t *testing.T) {
	for _, attempts := range []int{-1, math.MaxUint32 + 1} {
		rt := table(routes.Spec{Routes: []routes.Route{{Name: "r", Retry: &routes.RetryPolicy{Attempts: attempts}}}})
		if got := ToProto(rt).Routes[0].Retry.Attempts; got != math.MaxUint32 {
			t.Errorf("attempts %d: proto attempts = %d, want %d", attempts, got, uint32(math.MaxUint32))
		}
	}
}

func TestToProtoNegativeDurationIsRejectedByFromProto(t *testing.T) {
	rt := table(routes.Spec{Routes: []routes.Route{{Name: "r", Timeout: routes.Duration(-time.Second)}}})
	_, err := FromProto(ToProto(rt))
	if err == nil || !strings.Contains(err.Error(), "routes[0].timeout: negative duration -1s") {
		t.Errorf("FromProto error = %v, want the negative timeout named", err)
	}
}
