package xdsconv

import (
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// FuzzRoundTrip builds a table from the fuzz input and checks that
// table → proto → wire → proto → table is the identity.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x02\x01rng\x00http://localhost/api\x00http://numbers-api/rng\x00\x05\x00\x00\x00\x00\x00\x00\x00\x01\x03"))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		assertRoundTrip(t, fuzzTable(&fuzzReader{b: data}))
	})
}

// FuzzFromProto feeds arbitrary wire bytes to FromProto: it must not panic,
// and a table it accepts must survive a second round trip unchanged.
func FuzzFromProto(f *testing.F) {
	seed, _ := proto.Marshal(ToProto(fuzzTable(&fuzzReader{b: []byte("\x03\x03a\x00b\x00c\x00\x01\x02")})))
	f.Add(seed)
	f.Add([]byte{0x1a, 0x04, 0x22, 0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m meshlitev1.RouteTable
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		rt, err := FromProto(&m)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "xdsconv: ") {
				t.Errorf("error without component prefix: %v", err)
			}
			return
		}
		again, err := FromProto(ToProto(rt))
		if err != nil {
			t.Fatalf("FromProto rejected ToProto of its own output: %v", err)
		}
		if !reflect.DeepEqual(again, rt) {
			t.Errorf("second round trip changed the table\n got: %+v\nwant: %+v", again, rt)
		}
	})
}

// fuzzReader turns fuzz bytes into values; when the bytes run out it
// returns zeros, so every input builds a table.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) uint64() uint64 {
	var buf [8]byte
	n := copy(buf[:], r.b)
	r.b = r.b[n:]
	return binary.BigEndian.Uint64(buf[:])
}

// str reads up to a NUL byte; invalid UTF-8 is replaced, as the proto wire
// format carries only UTF-8 strings (YAML input is UTF-8 too).
func (r *fuzzReader) str() string {
	s, rest, _ := strings.Cut(string(r.b), "\x00")
	r.b = []byte(rest)
	return strings.ToValidUTF8(s, "\uFFFD")
}

func (r *fuzzReader) strs() []string {
	n := int(r.byte() % 4)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}

// duration reads a representable duration: zero or positive.
func (r *fuzzReader) duration() routes.Duration {
	return routes.Duration(r.uint64() & math.MaxInt64)
}

func fuzzTable(r *fuzzReader) *routes.RouteTable {
	nRoutes, nRules := int(r.byte()%5), int(r.byte()%5)
	rt := table(routes.Spec{Mode: policy.Mode(r.str())})
	rt.Metadata.Name = r.str()
	for range nRoutes {
		route := routes.Route{Name: r.str(), Source: r.str(), Target: r.str(), Timeout: r.duration()}
		if r.byte()%2 == 1 {
			route.Retry = &routes.RetryPolicy{
				Attempts:      int(uint32(r.uint64())),
				PerTryTimeout: r.duration(),
				RetryOn:       r.strs(),
				NonIdempotent: r.byte()%2 == 1,
			}
		}
		rt.Spec.Routes = append(rt.Spec.Routes, route)
	}
	for range nRules {
		rule := policy.Rule{Name: r.str(), Host: r.str(), Methods: r.strs(), Paths: r.strs(), CIDRs: r.strs(), AllowPrivate: r.byte()%2 == 1}
		for range int(r.byte() % 4) {
			v := r.uint64()
			rule.Ports = append(rule.Ports, policy.PortRange{From: uint16(v), To: uint16(v >> 16)})
		}
		rt.Spec.Egress = append(rt.Spec.Egress, rule)
	}
	rt.Spec.DenyCIDRs = r.strs()
	return rt
}
