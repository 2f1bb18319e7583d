// Package xdstest is a small ADS client for tests of the control plane: a
// real gRPC stream, state-of-the-world or delta, that subscribes to route
// tables by name and ACKs or NACKs what it receives.
package xdstest

import (
	"context"
	"io"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
)

// Table is one received resource.
type Table struct {
	Version string
	Table   *meshlitev1.RouteTable
}

// Response is one received response, decoded.
type Response struct {
	Nonce   string
	Version string // version_info (sotw) or system_version_info (delta)
	Tables  map[string]Table
	Removed []string
}

// Stream is one ADS stream subscribed to route tables.
type Stream struct {
	delta     bool
	names     []string
	sotw      discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	deltaS    discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	responses chan *Response
	errs      chan error
	acked     string
}

// Dial connects to addr without TLS; the connection closes with the test.
func Dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Node is the node an ambassador of workload sends.
func Node(id, workload string) *core.Node {
	n := &core.Node{Id: id}
	if workload != "" {
		n.Metadata = &structpb.Struct{Fields: map[string]*structpb.Value{"workload": structpb.NewStringValue(workload)}}
	}
	return n
}

// Open starts a stream (delta or state-of-the-world) and subscribes to
// names. The stream ends with the test.
func Open(t testing.TB, conn *grpc.ClientConn, delta bool, node *core.Node, names ...string) *Stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &Stream{delta: delta, names: names, responses: make(chan *Response, 64), errs: make(chan error, 1)}
	client := discovery.NewAggregatedDiscoveryServiceClient(conn)
	var err error
	if delta {
		s.deltaS, err = client.DeltaAggregatedResources(ctx)
		if err == nil {
			err = s.deltaS.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: meshlitev1.TypeURL, ResourceNamesSubscribe: names})
		}
	} else {
		s.sotw, err = client.StreamAggregatedResources(ctx)
		if err == nil {
			err = s.sotw.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: meshlitev1.TypeURL, ResourceNames: names})
		}
	}
	// io.EOF: the server ended the stream at once (a refused client);
	// receive reports its status.
	if err != nil && err != io.EOF {
		t.Fatalf("xdstest: open stream: %v", err)
	}
	go s.receive()
	return s
}

func (s *Stream) receive() {
	for {
		r, err := s.recv()
		if err != nil {
			s.errs <- err
			close(s.responses)
			return
		}
		s.responses <- r
	}
}

func (s *Stream) recv() (*Response, error) {
	if s.delta {
		m, err := s.deltaS.Recv()
		if err != nil {
			return nil, err
		}
		r := &Response{Nonce: m.GetNonce(), Version: m.GetSystemVersionInfo(), Tables: map[string]Table{}, Removed: m.GetRemovedResources()}
		for _, res := range m.GetResources() {
			tb := &meshlitev1.RouteTable{}
			if err := res.GetResource().UnmarshalTo(tb); err != nil {
				return nil, err
			}
			r.Tables[res.GetName()] = Table{Version: res.GetVersion(), Table: tb}
		}
		return r, nil
	}
	m, err := s.sotw.Recv()
	if err != nil {
		return nil, err
	}
	r := &Response{Nonce: m.GetNonce(), Version: m.GetVersionInfo(), Tables: map[string]Table{}}
	for _, a := range m.GetResources() {
		tb := &meshlitev1.RouteTable{}
		if err := a.UnmarshalTo(tb); err != nil {
			return nil, err
		}
		r.Tables[tb.GetName()] = Table{Version: m.GetVersionInfo(), Table: tb}
	}
	return r, nil
}

// Next waits up to 10s for the next response.
func (s *Stream) Next(t testing.TB) *Response {
	t.Helper()
	select {
	case r, ok := <-s.responses:
		if !ok {
			t.Fatalf("xdstest: stream ended: %v", <-s.errs)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("xdstest: no response within 10s")
	}
	return nil
}

// CountWithin counts the responses that arrive within d.
func (s *Stream) CountWithin(d time.Duration) int {
	n := 0
	timeout := time.After(d)
	for {
		select {
		case _, ok := <-s.responses:
			if !ok {
				return n
			}
			n++
		case <-timeout:
			return n
		}
	}
}

// Ended waits up to 10s for the stream to end and returns its error.
func (s *Stream) Ended(t testing.TB) error {
	t.Helper()
	for {
		select {
		case _, ok := <-s.responses:
			if !ok {
				return <-s.errs
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("xdstest: stream still open after 10s")
		}
	}
}

// ACK accepts r.
func (s *Stream) ACK(t testing.TB, r *Response) {
	t.Helper()
	s.acked = r.Version
	s.reply(t, r, nil)
}

// NACK rejects r with msg; the stream keeps its last accepted version.
func (s *Stream) NACK(t testing.TB, r *Response, msg string) {
	t.Helper()
	s.reply(t, r, &statuspb.Status{Code: 3, Message: msg})
}

func (s *Stream) reply(t testing.TB, r *Response, detail *statuspb.Status) {
	t.Helper()
	var err error
	if s.delta {
		err = s.deltaS.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: meshlitev1.TypeURL, ResponseNonce: r.Nonce, ErrorDetail: detail})
	} else {
		err = s.sotw.Send(&discovery.DiscoveryRequest{TypeUrl: meshlitev1.TypeURL, ResourceNames: s.names,
			VersionInfo: s.acked, ResponseNonce: r.Nonce, ErrorDetail: detail})
	}
	if err != nil {
		t.Fatalf("xdstest: send: %v", err)
	}
}
