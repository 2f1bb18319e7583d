package xdstest

import (
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
)

// DialWith connects to addr with opts (transport credentials, a bearer
// token); the connection closes with the test.
func DialWith(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Err waits up to 10s for the stream to end and returns its error; it
// fails the test if a response arrives instead.
func (s *Stream) Err(t testing.TB) error {
	t.Helper()
	select {
	case r, ok := <-s.responses:
		if ok {
			t.Fatalf("xdstest: got a response carrying %d tables, want the stream to end", len(r.Tables))
		}
		return <-s.errs
	case <-time.After(10 * time.Second):
		t.Fatalf("xdstest: stream did not end within 10s")
	}
	return nil
}

// Resubscribe answers response nonce with the subscription changed to
// names (state-of-the-world: the full list; delta: names subscribed).
func (s *Stream) Resubscribe(t testing.TB, nonce string, names ...string) {
	t.Helper()
	s.names = names
	var err error
	if s.delta {
		err = s.deltaS.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: meshlitev1.TypeURL, ResponseNonce: nonce, ResourceNamesSubscribe: names})
	} else {
		err = s.sotw.Send(&discovery.DiscoveryRequest{TypeUrl: meshlitev1.TypeURL, ResourceNames: names, VersionInfo: s.acked, ResponseNonce: nonce})
	}
	if err != nil {
		t.Fatalf("xdstest: send: %v", err)
	}
}
