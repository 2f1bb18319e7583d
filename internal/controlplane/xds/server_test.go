package xds

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/internal/controlplane/source"
	"github.com/meshlite/meshlite/internal/controlplane/xdstest"
	"github.com/meshlite/meshlite/internal/testnet"
)

// table is a published RouteTable named name routing /api to target.
func table(t *testing.T, name, target string) Published {
	t.Helper()
	msg := &meshlitev1.RouteTable{Name: name, Routes: []*meshlitev1.Route{{Name: "api", Source: "http://localhost/api", Target: target}}}
	v, err := source.Version(msg)
	if err != nil {
		t.Fatal(err)
	}
	return Published{Resource: Resource{Name: name, Version: v, Message: msg}}
}

// startServer serves on 127.0.0.1:0 until the test ends.
func startServer(t *testing.T, resources ...Published) (*Server, string) {
	t.Helper()
	s, err := New(Options{TypeURL: meshlitev1.TypeURL, StopTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if resources != nil {
		if err := s.SetResources(resources); err != nil {
			t.Fatal(err)
		}
	}
	lis := testnet.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, lis.Addr().String()
}

var streamKinds = []struct {
	name  string
	delta bool
}{{"sotw", false}, {"delta", true}}

func mustSet(t *testing.T, s *Server, resources ...Published) {
	t.Helper()
	if err := s.SetResources(resources); err != nil {
		t.Fatal(err)
	}
}

func onlyTable(t *testing.T, r *xdstest.Response, name string) xdstest.Table {
	t.Helper()
	tb, ok := r.Tables[name]
	if !ok || len(r.Tables) != 1 {
		t.Fatalf("response carries %v, want only %s", r.Tables, name)
	}
	return tb
}

func ambassador(t *testing.T, s *Server, node string) Ambassador {
	t.Helper()
	// The server records a reply when it reads it; wait for it to do so.
	for range 200 {
		for _, a := range s.Ambassadors() {
			if a.NodeID == node {
				return a
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("ambassador %s not connected: %+v", node, s.Ambassadors())
	return Ambassador{}
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestSubscribedTableIsPushedOnChange(t *testing.T) {
	for _, kind := range streamKinds {
		t.Run(kind.name, func(t *testing.T) {
			web1, shop := table(t, "web", "http://a/"), table(t, "shop", "http://s/")
			s, addr := startServer(t, web1, shop)
			st := xdstest.Open(t, xdstest.Dial(t, addr), kind.delta, xdstest.Node("web-7f9c", "web"), "web")

			r := st.Next(t)
			if got := onlyTable(t, r, "web"); got.Version != web1.Version || got.Table.GetRoutes()[0].GetTarget() != "http://a/" {
				t.Fatalf("first push = %+v, want version %s", got, web1.Version)
			}
			st.ACK(t, r)
			eventually(t, "the ACK", func() bool { return ambassador(t, s, "web-7f9c").InSync })

			web2 := table(t, "web", "http://b/")
			mustSet(t, s, web2, shop)
			r = st.Next(t)
			if got := onlyTable(t, r, "web"); got.Version != web2.Version || got.Table.GetRoutes()[0].GetTarget() != "http://b/" {
				t.Fatalf("update = %+v, want version %s", got, web2.Version)
			}
			if ambassador(t, s, "web-7f9c").InSync {
				t.Errorf("in sync before the ACK of the new version")
			}
			st.ACK(t, r)
			eventually(t, "the second ACK", func() bool {
				a := ambassador(t, s, "web-7f9c")
				return a.InSync && a.LastACKedVersion == web2.Version
			})
			a := ambassador(t, s, "web-7f9c")
			if a.Workload != "web" || a.Stream != kind.name || a.NACKs != 0 {
				t.Errorf("ambassador = %+v", a)
			}

			// A change to another workload's table is not pushed to this one.
			mustSet(t, s, web2, table(t, "shop", "http://s2/"))
			if n := st.CountWithin(300 * time.Millisecond); n != 0 {
				t.Errorf("%d responses for another workload's change", n)
			}
		})
	}
}

func TestNACKIsRecordedAndNotResent(t *testing.T) {
	for _, kind := range streamKinds {
		t.Run(kind.name, func(t *testing.T) {
			v1 := table(t, "web", "http://a/")
			s, addr := startServer(t, v1)
			st := xdstest.Open(t, xdstest.Dial(t, addr), kind.delta, xdstest.Node("web-1", ""), "web")
			st.ACK(t, st.Next(t))

			v2 := table(t, "web", "http://b/")
			mustSet(t, s, v2)
			r := st.Next(t)
			st.NACK(t, r, "spec.routes[0].target: unsupported")
			eventually(t, "the NACK", func() bool { return ambassador(t, s, "web-1").NACKs == 1 })

			if n := st.CountWithin(time.Second); n != 0 {
				t.Fatalf("%d responses after the NACK, want none (the NACKed version must not be resent)", n)
			}
			a := ambassador(t, s, "web-1")
			if a.LastNACK != "spec.routes[0].target: unsupported" || a.LastNACKVersion != v2.Version ||
				a.LastACKedVersion != v1.Version || a.InSync || a.Workload != "web" {
				t.Errorf("after NACK: %+v", a)
			}

			// New content is pushed again.
			v3 := table(t, "web", "http://c/")
			mustSet(t, s, v3)
			if got := onlyTable(t, st.Next(t), "web"); got.Version != v3.Version {
				t.Errorf("after a fix: version %s, want %s", got.Version, v3.Version)
			}
		})
	}
}

func TestVersionsAgreeAcrossServers(t *testing.T) {
	for _, kind := range streamKinds {
		t.Run(kind.name, func(t *testing.T) {
			var versions []string
			for range 2 {
				_, addr := startServer(t, table(t, "web", "http://a/"), table(t, "shop", "http://s/"))
				st := xdstest.Open(t, xdstest.Dial(t, addr), kind.delta, xdstest.Node("n", "web"), "web", "shop")
				r := st.Next(t)
				if len(r.Tables) != 2 {
					t.Fatalf("got %d tables, want 2", len(r.Tables))
				}
				versions = append(versions, r.Version+"/"+r.Tables["web"].Version+"/"+r.Tables["shop"].Version)
			}
			if versions[0] != versions[1] {
				t.Fatalf("versions differ between servers: %v", versions)
			}
		})
	}
}

func TestRemovedTable(t *testing.T) {
	for _, kind := range streamKinds {
		t.Run(kind.name, func(t *testing.T) {
			s, addr := startServer(t, table(t, "web", "http://a/"), table(t, "shop", "http://s/"))
			st := xdstest.Open(t, xdstest.Dial(t, addr), kind.delta, xdstest.Node("n", "web"), "web")
			st.ACK(t, st.Next(t))
			mustSet(t, s, table(t, "shop", "http://s/"))
			r := st.Next(t)
			if len(r.Tables) != 0 {
				t.Fatalf("removal carried tables %v", r.Tables)
			}
			if kind.delta && (len(r.Removed) != 1 || r.Removed[0] != "web") {
				t.Errorf("removed = %v, want [web]", r.Removed)
			}
		})
	}
}

func TestMissingTableIsSentWhenItAppears(t *testing.T) {
	for _, kind := range streamKinds {
		t.Run(kind.name, func(t *testing.T) {
			s, addr := startServer(t, table(t, "shop", "http://s/"))
			st := xdstest.Open(t, xdstest.Dial(t, addr), kind.delta, xdstest.Node("n", "web"), "web")
			if n := st.CountWithin(300 * time.Millisecond); n != 0 {
				t.Fatalf("%d responses for a table that does not exist", n)
			}
			web := table(t, "web", "http://a/")
			mustSet(t, s, web, table(t, "shop", "http://s/"))
			if got := onlyTable(t, st.Next(t), "web"); got.Version != web.Version {
				t.Errorf("version %s, want %s", got.Version, web.Version)
			}
		})
	}
}

func TestUnknownTypeURLIsRefused(t *testing.T) {
	_, addr := startServer(t, table(t, "web", "http://a/"))
	client := discovery.NewAggregatedDiscoveryServiceClient(xdstest.Dial(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := client.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discovery.DiscoveryRequest{TypeUrl: "type.googleapis.com/other.Thing", ResourceNames: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if err == nil || !strings.Contains(err.Error(), "not served") {
		t.Fatalf("Recv = %v, want the stream refused", err)
	}
}

func TestHealthAndGracefulStop(t *testing.T) {
	s, err := New(Options{TypeURL: meshlitev1.TypeURL, StopTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	lis := testnet.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	conn := xdstest.Dial(t, lis.Addr().String())
	health := healthpb.NewHealthClient(conn)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("health check: %v", err)
		}
		return resp.GetStatus()
	}
	if got := check(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("before the first table: %v, want NOT_SERVING", got)
	}
	mustSet(t, s, table(t, "web", "http://a/"))
	if got := check(); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("after the first table: %v, want SERVING", got)
	}

	st := xdstest.Open(t, conn, false, xdstest.Node("n", "web"), "web")
	st.ACK(t, st.Next(t))
	cancel()
	if err := st.Ended(t); err != io.EOF && status.Code(err) != codes.Unavailable {
		t.Errorf("stream ended with %v, want a clean end (EOF) or Unavailable", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the context ended")
	}
}

func TestConnectionCap(t *testing.T) {
	s, err := New(Options{TypeURL: meshlitev1.TypeURL, MaxConnections: 1, StopTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, table(t, "web", "http://a/"))
	lis := &orderListener{Listener: testnet.Listen(t)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	defer func() { cancel(); <-done }()

	first := xdstest.Dial(t, lis.Addr().String())
	xdstest.Open(t, first, false, xdstest.Node("a", "web"), "web").Next(t)

	// The second connection waits in the accept queue: its stream cannot
	// start until the first connection closes. The listener records the
	// order of accepts and closes, so ordering, not a wait, shows it: over
	// the cap, the server would accept the second connection as soon as its
	// TCP handshake is done, which is before the first is closed.
	dialed := make(chan struct{})
	second, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err == nil {
				close(dialed)
			}
			return c, err
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	client := discovery.NewAggregatedDiscoveryServiceClient(second)
	served := make(chan error, 1)
	go func() {
		sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer scancel()
		stream, err := client.StreamAggregatedResources(sctx)
		if err == nil {
			err = stream.Send(&discovery.DiscoveryRequest{TypeUrl: meshlitev1.TypeURL, ResourceNames: []string{"web"}})
		}
		if err == nil {
			_, err = stream.Recv()
		}
		served <- err
	}()
	select {
	case <-dialed:
	case err := <-served:
		t.Fatalf("the second connection ended before its TCP handshake: %v", err)
	}
	first.Close()
	if err := <-served; err != nil {
		t.Fatalf("the second connection was not served after the first closed: %v", err)
	}
	if got, want := lis.order(), "accept 1, close 1, accept 2"; !strings.HasPrefix(got, want) {
		t.Errorf("server side: %s; want %s (a second connection was served beyond the cap of 1)", got, want)
	}
}

// orderListener records, in order, each connection it accepts and the
// first close of each.
type orderListener struct {
	net.Listener
	mu     sync.Mutex
	n      int
	events []string
}

func (l *orderListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	l.events = append(l.events, fmt.Sprintf("accept %d", l.n))
	return &orderConn{Conn: c, l: l, n: l.n}, nil
}

func (l *orderListener) order() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, ", ")
}

type orderConn struct {
	net.Conn
	l    *orderListener
	n    int
	once sync.Once
}

func (c *orderConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.events = append(c.l.events, fmt.Sprintf("close %d", c.n))
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
