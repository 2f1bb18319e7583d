// Package xdsv1 holds the meshlite.xds.v1 protos: the few xDS discovery
// messages the ambassador exchanges with the control plane, with the field
// numbers and types of the protocol's own messages so that both are the
// same on the wire (see ads.proto). The Go code is generated from ads.proto
// by hack/proto/gen.sh (make proto).
package xdsv1

// ADSMethod is the full gRPC method name of the Aggregated Discovery
// Service's state-of-the-world stream (bidirectional: DiscoveryRequest up,
// DiscoveryResponse down). The name is fixed by the xDS protocol; a client
// opens the stream with it directly, without generated service stubs.
const ADSMethod = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"

// ResourceTypeURL is the type URL a server puts on a Resource wrapping a
// resource in DiscoveryResponse.resources. It names the protocol's message,
// not this package's Resource: decode such an Any with proto.Unmarshal of
// its value, since anypb's UnmarshalTo checks the name.
const ResourceTypeURL = "type.googleapis.com/envoy.service.discovery.v3.Resource"
