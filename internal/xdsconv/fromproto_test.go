package xdsconv

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/pkg/routes"
)

func TestFromProtoSetsTypeAndName(t *testing.T) {
	rt, err := FromProto(&meshlitev1.RouteTable{Name: "numbers-web", Mode: "report"})
	if err != nil {
		t.Fatal(err)
	}
	if rt.APIVersion != routes.APIVersion || rt.Kind != routes.Kind || rt.Metadata.Name != "numbers-web" || rt.Spec.Mode != "report" {
		t.Errorf("FromProto = %+v", rt)
	}
}

func TestFromProtoErrors(t *testing.T) {
	tests := []struct {
		name string
		in   *meshlitev1.RouteTable
		want []string // substrings, one per expected problem
	}{
		{"nil table", nil, []string{"xdsconv: nil RouteTable"}},
		{
			"port above 65535",
			&meshlitev1.RouteTable{Egress: []*meshlitev1.EgressRule{
				{Name: "ok", Ports: []*meshlitev1.PortRange{{From: 80, To: 80}}},
				{Name: "bad", Ports: []*meshlitev1.PortRange{{From: 443, To: 443}, {From: 8000, To: 70000}}},
			}},
			[]string{"xdsconv: egress[1].ports[1].to: port 70000 out of range (max 65535)"},
		},
		{
			"negative route timeout",
			&meshlitev1.RouteTable{Routes: []*meshlitev1.Route{{Name: "r", Timeout: &durationpb.Duration{Seconds: -5}}}},
			[]string{"xdsconv: routes[0].timeout: negative duration -5s"},
		},
		{
			"negative per-try timeout in nanos only",
			&meshlitev1.RouteTable{Routes: []*meshlitev1.Route{{Name: "r", Retry: &meshlitev1.RetryPolicy{
				PerTryTimeout: &durationpb.Duration{Nanos: -1000},
			}}}},
			[]string{"xdsconv: routes[0].retry.per_try_timeout: negative duration -1µs"},
		},
		{
			"duration with mismatched signs",
			&meshlitev1.RouteTable{Routes: []*meshlitev1.Route{{Name: "r", Timeout: &durationpb.Duration{Seconds: 1, Nanos: -1}}}},
			[]string{"xdsconv: routes[0].timeout: invalid duration (seconds 1, nanos -1)"},
		},
		{
			"duration longer than time.Duration holds",
			&meshlitev1.RouteTable{Routes: []*meshlitev1.Route{{Name: "r", Timeout: &durationpb.Duration{Seconds: math.MaxInt64 / int64(time.Second), Nanos: 999999999}}}},
			[]string{"xdsconv: routes[0].timeout: duration of 9223372036 seconds out of range"},
		},
		{
			"every problem is reported",
			&meshlitev1.RouteTable{
				Routes: []*meshlitev1.Route{{Name: "r", Timeout: &durationpb.Duration{Seconds: -1}}},
				Egress: []*meshlitev1.EgressRule{{Name: "e", Ports: []*meshlitev1.PortRange{{From: 65536, To: 65536}}}},
			},
			[]string{"routes[0].timeout", "egress[0].ports[0].from", "egress[0].ports[0].to"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := FromProto(tt.in)
			if err == nil {
				t.Fatalf("FromProto = %+v, want an error", rt)
			}
			if rt != nil {
				t.Errorf("FromProto returned a table with an error: %+v", rt)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
