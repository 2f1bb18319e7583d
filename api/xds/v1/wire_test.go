package xdsv1

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The tests in this file hold the meshlite.xds.v1 messages against the full
// xDS messages they stand in for: same field numbers and types (checked on
// the descriptors), and the same bytes in both directions (checked by
// marshalling one and unmarshalling the other).

// TestFieldsMatchTheProtocol checks every field of our messages against the
// field of the same number in the protocol's message: same name, kind,
// cardinality and message type (compared by full name, with our package
// standing for the protocol's).
func TestFieldsMatchTheProtocol(t *testing.T) {
	tests := []struct {
		name   string
		ours   proto.Message
		theirs proto.Message
	}{
		{"DiscoveryRequest", &DiscoveryRequest{}, &discoveryv3.DiscoveryRequest{}},
		{"DiscoveryResponse", &DiscoveryResponse{}, &discoveryv3.DiscoveryResponse{}},
		{"Resource", &Resource{}, &discoveryv3.Resource{}},
		{"Node", &Node{}, &corev3.Node{}},
		{"Status", &Status{}, &statuspb.Status{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours := tt.ours.ProtoReflect().Descriptor()
			theirs := tt.theirs.ProtoReflect().Descriptor()
			if ours.Fields().Len() == 0 {
				t.Fatal("no fields")
			}
			for i := range ours.Fields().Len() {
				checkField(t, ours.Fields().Get(i), theirs)
			}
		})
	}
}

func checkField(t *testing.T, f protoreflect.FieldDescriptor, theirs protoreflect.MessageDescriptor) {
	t.Helper()
	g := theirs.Fields().ByNumber(f.Number())
	if g == nil {
		t.Errorf("%s = %d: %s has no field %d", f.Name(), f.Number(), theirs.FullName(), f.Number())
		return
	}
	if f.Name() != g.Name() || f.Kind() != g.Kind() || f.Cardinality() != g.Cardinality() {
		t.Errorf("field %d: ours %s %s %s, theirs %s %s %s", f.Number(),
			f.Cardinality(), f.Kind(), f.Name(), g.Cardinality(), g.Kind(), g.Name())
	}
	if f.Message() == nil || g.Message() == nil {
		return
	}
	// A message of ours stands for the protocol's message of the same short
	// name (and is checked on its own above); any other must be the same.
	ours, want := f.Message().FullName(), g.Message().FullName()
	if f.Message().ParentFile().Package() == "meshlite.xds.v1" {
		ours, want = protoreflect.FullName(f.Message().Name()), protoreflect.FullName(g.Message().Name())
	}
	if ours != want {
		t.Errorf("field %d %s: ours of type %s, theirs %s", f.Number(), f.Name(), f.Message().FullName(), g.Message().FullName())
	}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func workloadMeta() *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{"workload": structpb.NewStringValue("numbers-web")}}
}

// convert marshals from and unmarshals the bytes into to.
func convert(t *testing.T, from, to proto.Message) {
	t.Helper()
	b, err := proto.Marshal(from)
	if err != nil {
		t.Fatalf("marshal %T: %v", from, err)
	}
	if err := proto.Unmarshal(b, to); err != nil {
		t.Fatalf("unmarshal %T: %v", to, err)
	}
}

func TestRequestOnTheWire(t *testing.T) {
	ours := &DiscoveryRequest{
		VersionInfo: "v1", ResponseNonce: "n2",
		TypeUrl:       "type.googleapis.com/meshlite.v1.RouteTable",
		ResourceNames: []string{"numbers-web", "other"},
		Node: &Node{
			Id: "numbers-web-7d9f-abcde", Cluster: "c", Metadata: workloadMeta(),
			UserAgentName: "meshlite-ambassador", UserAgentVersion: "1.2.3",
		},
		ErrorDetail: &Status{Code: 3, Message: "bad table", Details: []*anypb.Any{mustAny(t, wrapperspb.String("detail"))}},
	}
	theirs := &discoveryv3.DiscoveryRequest{
		VersionInfo: "v1", ResponseNonce: "n2",
		TypeUrl:       "type.googleapis.com/meshlite.v1.RouteTable",
		ResourceNames: []string{"numbers-web", "other"},
		Node: &corev3.Node{
			Id: "numbers-web-7d9f-abcde", Cluster: "c", Metadata: workloadMeta(),
			UserAgentName:        "meshlite-ambassador",
			UserAgentVersionType: &corev3.Node_UserAgentVersion{UserAgentVersion: "1.2.3"},
		},
		ErrorDetail: &statuspb.Status{Code: 3, Message: "bad table", Details: []*anypb.Any{mustAny(t, wrapperspb.String("detail"))}},
	}
	t.Run("ours read as theirs", func(t *testing.T) {
		got := &discoveryv3.DiscoveryRequest{}
		convert(t, ours, got)
		if !proto.Equal(got, theirs) {
			t.Errorf("got  %v\nwant %v", got, theirs)
		}
		checkNoUnknown(t, got)
	})
	t.Run("theirs read as ours", func(t *testing.T) {
		got := &DiscoveryRequest{}
		convert(t, theirs, got)
		if !proto.Equal(got, ours) {
			t.Errorf("got  %v\nwant %v", got, ours)
		}
		checkNoUnknown(t, got)
	})
}

func TestResponseOnTheWire(t *testing.T) {
	table := mustAny(t, wrapperspb.String("a table"))
	wrappedOurs := mustAny(t, &Resource{Name: "numbers-web", Version: "r1", Resource: table})
	wrappedOurs.TypeUrl = ResourceTypeURL
	wrappedTheirs := mustAny(t, &discoveryv3.Resource{Name: "numbers-web", Version: "r1", Resource: table})
	if wrappedTheirs.GetTypeUrl() != ResourceTypeURL {
		t.Fatalf("ResourceTypeURL = %q, the protocol's Resource is %q", ResourceTypeURL, wrappedTheirs.GetTypeUrl())
	}
	ours := &DiscoveryResponse{
		VersionInfo: "v7", Nonce: "n7", Canary: true,
		TypeUrl:   "type.googleapis.com/meshlite.v1.RouteTable",
		Resources: []*anypb.Any{table, wrappedOurs},
	}
	theirs := &discoveryv3.DiscoveryResponse{
		VersionInfo: "v7", Nonce: "n7", Canary: true,
		TypeUrl:   "type.googleapis.com/meshlite.v1.RouteTable",
		Resources: []*anypb.Any{table, wrappedTheirs},
	}
	t.Run("ours read as theirs", func(t *testing.T) {
		got := &discoveryv3.DiscoveryResponse{}
		convert(t, ours, got)
		if !proto.Equal(got, theirs) {
			t.Errorf("got  %v\nwant %v", got, theirs)
		}
		checkNoUnknown(t, got)
	})
	t.Run("theirs read as ours", func(t *testing.T) {
		got := &DiscoveryResponse{}
		convert(t, theirs, got)
		if !proto.Equal(got, ours) {
			t.Errorf("got  %v\nwant %v", got, ours)
		}
		checkNoUnknown(t, got)
		var r Resource
		if err := proto.Unmarshal(got.GetResources()[1].GetValue(), &r); err != nil {
			t.Fatal(err)
		}
		if r.GetName() != "numbers-web" || r.GetVersion() != "r1" || !proto.Equal(r.GetResource(), table) {
			t.Errorf("wrapped resource read as %v", &r)
		}
	})
}

// TestFieldsWeLeaveOutSurviveAsUnknown sends the protocol's messages with
// fields ours do not declare: ours must still read the fields they know,
// and keep the rest as unknown fields rather than fail.
func TestFieldsWeLeaveOutSurviveAsUnknown(t *testing.T) {
	theirs := &discoveryv3.DiscoveryResponse{
		VersionInfo: "v1", Nonce: "n1", TypeUrl: "t",
		ControlPlane: &corev3.ControlPlane{Identifier: "cp-0"},
	}
	got := &DiscoveryResponse{}
	convert(t, theirs, got)
	if got.GetVersionInfo() != "v1" || got.GetNonce() != "n1" || got.GetTypeUrl() != "t" {
		t.Errorf("read %v", got)
	}
	if len(got.ProtoReflect().GetUnknown()) == 0 {
		t.Error("control_plane was dropped, want it kept as an unknown field")
	}
	back := &discoveryv3.DiscoveryResponse{}
	convert(t, got, back)
	if !proto.Equal(back, theirs) {
		t.Errorf("round trip: got %v, want %v", back, theirs)
	}

	resource := &discoveryv3.Resource{Name: "w", Aliases: []string{"a"}, Ttl: durationpb.New(1)}
	var r Resource
	convert(t, resource, &r)
	if r.GetName() != "w" || len(r.ProtoReflect().GetUnknown()) == 0 {
		t.Errorf("Resource read as %v, unknown %d bytes", &r, len(r.ProtoReflect().GetUnknown()))
	}
}

// checkNoUnknown fails if m, or a message directly inside it, holds fields
// its type does not declare: every field sent must have been understood.
func checkNoUnknown(t *testing.T, m proto.Message) {
	t.Helper()
	var walk func(protoreflect.Message)
	walk = func(m protoreflect.Message) {
		if u := m.GetUnknown(); len(u) > 0 {
			t.Errorf("%s has %d bytes of unknown fields", m.Descriptor().FullName(), len(u))
		}
		m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case f.IsList() && f.Message() != nil:
				for i := range v.List().Len() {
					walk(v.List().Get(i).Message())
				}
			case f.Message() != nil && !f.IsMap():
				walk(v.Message())
			}
			return true
		})
	}
	walk(m.ProtoReflect())
}

// TestADSMethod checks the method name against the protocol's service.
func TestADSMethod(t *testing.T) {
	want := discoveryv3.AggregatedDiscoveryService_StreamAggregatedResources_FullMethodName
	if ADSMethod != want {
		t.Errorf("ADSMethod = %q, want %q", ADSMethod, want)
	}
}
