package xdsclient

import (
	"net"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 20 * time.Second

// adsServer is a minimal ADS server: every request any stream receives
// goes to reqs, and whatever the test puts on resps is sent on the open
// stream.
type adsServer struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	addr  string
	grpc  *grpc.Server
	reqs  chan *discoveryv3.DiscoveryRequest
	resps chan *discoveryv3.DiscoveryResponse
}

// startADS serves on addr ("127.0.0.1:0" for a fresh port) until the test
// ends or stop is called.
func startADS(t *testing.T, addr string) *adsServer {
	t.Helper()
	lis := listen(t, addr)
	s := &adsServer{
		addr:  lis.Addr().String(),
		grpc:  grpc.NewServer(),
		reqs:  make(chan *discoveryv3.DiscoveryRequest, 16),
		resps: make(chan *discoveryv3.DiscoveryResponse),
	}
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(s.grpc, s)
	go s.grpc.Serve(lis)
	t.Cleanup(s.stop)
	return s
}

// listen binds addr, retrying briefly: a port just released by a stopped
// server can take a moment to be free again.
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var err error
	for range 50 {
		var lis net.Listener
		if lis, err = net.Listen("tcp", addr); err == nil {
			return lis
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("listen %s: %v", addr, err)
	return nil
}

// stop closes the listener and every stream at once.
func (s *adsServer) stop() { s.grpc.Stop() }

func (s *adsServer) StreamAggregatedResources(stream grpc.BidiStreamingServer[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]) error {
	ctx := stream.Context()
	errc := make(chan error, 1)
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case s.reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case resp := <-s.resps:
			if err := stream.Send(resp); err != nil {
				return err
			}
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// next returns the next request the server received.
func (s *adsServer) next(t *testing.T) *discoveryv3.DiscoveryRequest {
	t.Helper()
	select {
	case req := <-s.reqs:
		return req
	case <-time.After(testTimeout):
		t.Fatal("no request from the client")
		return nil
	}
}

// send sends resp on the open stream.
func (s *adsServer) send(t *testing.T, resp *discoveryv3.DiscoveryResponse) {
	t.Helper()
	select {
	case s.resps <- resp:
	case <-time.After(testTimeout):
		t.Fatal("no stream open to send on")
	}
}

// response builds a response carrying the given resources.
func response(version, nonce string, resources ...proto.Message) *discoveryv3.DiscoveryResponse {
	resp := &discoveryv3.DiscoveryResponse{VersionInfo: version, Nonce: nonce, TypeUrl: meshlitev1.TypeURL}
	for _, m := range resources {
		a, err := anypb.New(m)
		if err != nil {
			panic(err)
		}
		resp.Resources = append(resp.Resources, a)
	}
	return resp
}
