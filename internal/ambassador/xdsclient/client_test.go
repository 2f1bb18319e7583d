package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

const workload = "numbers-web"

// applied is one call of the test Applier.
type applied struct {
	version string
	table   *routes.RouteTable
}

// harness runs a Client against a test server.
type harness struct {
	client  *Client
	reg     *prometheus.Registry
	applied chan applied
	done    chan error
}

// startClient runs a client for addr until the test ends. Its Applier does
// what the ambassador does: compile the table, reject it if invalid.
// configure, if any, adjusts the client before it runs.
func startClient(t *testing.T, addr string, configure ...func(*Client)) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), applied: make(chan applied, 16), done: make(chan error, 1)}
	c, err := New(Options{
		Addr: addr, NodeID: "numbers-web-7d9f-abcde", Workload: workload,
		Apply:       h.apply,
		Registerer:  h.reg,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range configure {
		f(c)
	}
	h.client = c
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	go func() { h.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run returned %v, want nil after cancel", err)
			}
		case <-time.After(testTimeout):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

func (h *harness) apply(version string, rt *routes.RouteTable) error {
	if len(rt.Spec.Routes) > 0 && rt.Spec.Routes[0].Name == "panic" {
		panic("boom")
	}
	if _, err := routes.Compile(rt, policy.Options{}); err != nil {
		return err
	}
	h.applied <- applied{version, rt}
	return nil
}

func (h *harness) nextApplied(t *testing.T) applied {
	t.Helper()
	select {
	case a := <-h.applied:
		return a
	case <-time.After(testTimeout):
		t.Fatal("no table applied")
		return applied{}
	}
}

// metric returns the value of a gauge or counter in the harness registry.
func (h *harness) metric(t *testing.T, name string) float64 {
	t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// waitFor polls cond until it holds or the test timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func goodTable(target string) *meshlitev1.RouteTable {
	return &meshlitev1.RouteTable{
		Name: workload,
		Routes: []*meshlitev1.Route{{
			Name: "rng", Source: "http://localhost/api", Target: target,
			Timeout: durationpb.New(5 * time.Second),
		}},
		Egress: []*meshlitev1.EgressRule{{Name: "apis", Host: "*.googleapis.com", Ports: []*meshlitev1.PortRange{{From: 443, To: 443}}}},
	}
}

// checkSubscribe checks the first request of a stream.
func checkSubscribe(t *testing.T, req *discoveryv3.DiscoveryRequest, version string) {
	t.Helper()
	if got := req.GetNode().GetId(); got != "numbers-web-7d9f-abcde" {
		t.Errorf("node id = %q", got)
	}
	if got := req.GetNode().GetMetadata().GetFields()["workload"].GetStringValue(); got != workload {
		t.Errorf("node metadata workload = %q, want %q", got, workload)
	}
	if got := req.GetNode().GetUserAgentName(); got != "meshlite-ambassador" {
		t.Errorf("node user_agent_name = %q, want meshlite-ambassador", got)
	}
	checkRequest(t, req, version, "")
}

// checkRequest checks a request's subscription, version and nonce.
func checkRequest(t *testing.T, req *discoveryv3.DiscoveryRequest, version, nonce string) {
	t.Helper()
	if req.GetTypeUrl() != meshlitev1.TypeURL {
		t.Errorf("type_url = %q, want %q", req.GetTypeUrl(), meshlitev1.TypeURL)
	}
	if names := req.GetResourceNames(); len(names) != 1 || names[0] != workload {
		t.Errorf("resource_names = %q, want [%q]", names, workload)
	}
	if req.GetVersionInfo() != version || req.GetResponseNonce() != nonce {
		t.Errorf("version_info, response_nonce = %q, %q; want %q, %q", req.GetVersionInfo(), req.GetResponseNonce(), version, nonce)
	}
}

// checkACK checks that req accepts version with nonce.
func checkACK(t *testing.T, req *discoveryv3.DiscoveryRequest, version, nonce string) {
	t.Helper()
	checkRequest(t, req, version, nonce)
	if req.GetErrorDetail() != nil {
		t.Errorf("ACK carries error_detail %v", req.GetErrorDetail())
	}
}

// ackFirst serves the first table and checks the ACK.
func ackFirst(t *testing.T, srv *adsServer, h *harness) {
	t.Helper()
	checkSubscribe(t, srv.next(t), "")
	srv.send(t, response("v1", "n1", goodTable("http://numbers-api/rng")))
	checkACK(t, srv.next(t), "v1", "n1")
	if a := h.nextApplied(t); a.version != "v1" || a.table.Spec.Routes[0].Target != "http://numbers-api/rng" {
		t.Errorf("applied %q %+v", a.version, a.table)
	}
}

func TestACKAppliesTable(t *testing.T) {
	srv := startADS(t, "127.0.0.1:0")
	h := startClient(t, srv.addr)
	ackFirst(t, srv, h)

	st := h.client.State()
	if !st.Connected || st.Version != "v1" || st.LastNACK != "" {
		t.Errorf("State = %+v, want connected at v1 without NACK", st)
	}
	if got := h.metric(t, "meshlite_xds_acks_total"); got != 1 {
		t.Errorf("acks = %v, want 1", got)
	}
	if got := h.metric(t, "meshlite_xds_connected"); got != 1 {
		t.Errorf("connected = %v, want 1", got)
	}
}

func TestApplierReceivesConvertedTable(t *testing.T) {
	srv := startADS(t, "127.0.0.1:0")
	h := startClient(t, srv.addr)
	srv.next(t)
	srv.send(t, response("v1", "n1", goodTable("https://numbers-api:8443/rng")))
	checkACK(t, srv.next(t), "v1", "n1")
	rt := h.nextApplied(t).table
	if rt.APIVersion != routes.APIVersion || rt.Kind != routes.Kind || rt.Metadata.Name != workload {
		t.Errorf("table header = %q %q %q", rt.APIVersion, rt.Kind, rt.Metadata.Name)
	}
	if r := rt.Spec.Routes[0]; r.Timeout != routes.Duration(5*time.Second) || r.Target != "https://numbers-api:8443/rng" {
		t.Errorf("route = %+v", r)
	}
	if e := rt.Spec.Egress[0]; e.Host != "*.googleapis.com" || e.Ports[0] != (policy.PortRange{From: 443, To: 443}) {
		t.Errorf("egress = %+v", e)
	}
}

func TestNACKKeepsPreviousVersion(t *testing.T) {
	wrongType, _ := anypb.New(wrapperspb.String("not a table"))
	tests := []struct {
		name    string
		resp    *discoveryv3.DiscoveryResponse
		wantErr string
	}{
		{
			name:    "applier rejects an invalid target scheme",
			resp:    response("v2", "n2", goodTable("ftp://numbers-api/rng")),
			wantErr: `spec.routes[0].target`,
		},
		{
			name: "port cannot be represented",
			resp: response("v2", "n2", &meshlitev1.RouteTable{Name: workload, Egress: []*meshlitev1.EgressRule{
				{Name: "big", Host: "a.example", Ports: []*meshlitev1.PortRange{{From: 80, To: 70000}}},
			}}),
			wantErr: "xdsconv: egress[0].ports[0].to: port 70000 out of range (max 65535)",
		},
		{
			name:    "negative timeout cannot be represented",
			resp:    response("v2", "n2", &meshlitev1.RouteTable{Name: workload, Routes: []*meshlitev1.Route{{Name: "r", Timeout: &durationpb.Duration{Seconds: -1}}}}),
			wantErr: "xdsconv: routes[0].timeout: negative duration -1s",
		},
		{
			name:    "resource of another type",
			resp:    &discoveryv3.DiscoveryResponse{VersionInfo: "v2", Nonce: "n2", TypeUrl: meshlitev1.TypeURL, Resources: []*anypb.Any{wrongType}},
			wantErr: `xdsclient: resources[0]: type "type.googleapis.com/google.protobuf.StringValue"`,
		},
		{
			name:    "no table named after the workload",
			resp:    response("v2", "n2", &meshlitev1.RouteTable{Name: "other-app"}),
			wantErr: `xdsclient: response has 1 tables but none named "numbers-web"`,
		},
		{
			name:    "two tables named after the workload",
			resp:    response("v2", "n2", goodTable("http://a"), goodTable("http://b")),
			wantErr: `xdsclient: resources[1]: second table named "numbers-web"`,
		},
		{
			name:    "applier panics",
			resp:    response("v2", "n2", &meshlitev1.RouteTable{Name: workload, Routes: []*meshlitev1.Route{{Name: "panic"}}}),
			wantErr: `xdsclient: applying version "v2" panicked: boom`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startADS(t, "127.0.0.1:0")
			h := startClient(t, srv.addr)
			ackFirst(t, srv, h)

			srv.send(t, tt.resp)
			nack := srv.next(t)
			checkRequest(t, nack, "v1", "n2")
			if got := codes.Code(nack.GetErrorDetail().GetCode()); got != codes.InvalidArgument {
				t.Errorf("error_detail.code = %v, want InvalidArgument", got)
			}
			if got := nack.GetErrorDetail().GetMessage(); !strings.Contains(got, tt.wantErr) {
				t.Errorf("error_detail = %q, want it to contain %q", got, tt.wantErr)
			}
			st := h.client.State()
			if st.Version != "v1" || !strings.Contains(st.LastNACK, tt.wantErr) {
				t.Errorf("State = %+v, want version v1 and the NACK reason", st)
			}
			if got := h.metric(t, "meshlite_xds_nacks_total"); got != 1 {
				t.Errorf("nacks = %v, want 1", got)
			}

			// A good table after the rejected one is applied as usual.
			srv.send(t, response("v3", "n3", goodTable("http://numbers-api/v3")))
			checkACK(t, srv.next(t), "v3", "n3")
			if a := h.nextApplied(t); a.version != "v3" {
				t.Errorf("applied version %q after the NACK, want v3", a.version)
			}
		})
	}
}

func TestRepeatedNACKOfTheSameVersionIsStillAnswered(t *testing.T) {
	srv := startADS(t, "127.0.0.1:0")
	h := startClient(t, srv.addr)
	ackFirst(t, srv, h)
	for i := range 3 {
		nonce := fmt.Sprintf("bad-%d", i)
		srv.send(t, response("v2", nonce, goodTable("ftp://x")))
		checkRequest(t, srv.next(t), "v1", nonce)
	}
	if got := h.metric(t, "meshlite_xds_nacks_total"); got != 3 {
		t.Errorf("nacks = %v, want 3", got)
	}
}

func TestCorrectedTableIsAppliedWhileANACKWaits(t *testing.T) {
	const backoff, prompt = 30 * time.Second, 5 * time.Second
	srv := startADS(t, "127.0.0.1:0")
	h := startClient(t, srv.addr, func(c *Client) {
		c.opts.BackoffBase, c.opts.BackoffMax = backoff, backoff
		c.jitter = func(ceiling time.Duration) time.Duration { return ceiling } // always the full wait
	})
	ackFirst(t, srv, h)
	srv.send(t, response("v2", "bad-1", goodTable("ftp://x")))
	checkRequest(t, srv.next(t), "v1", "bad-1") // a first NACK is not held

	// The same bad version again: its NACK is held for the backoff. The
	// corrected table pushed right after must not wait for it.
	start := time.Now()
	srv.send(t, response("v2", "bad-2", goodTable("ftp://x")))
	srv.send(t, response("v3", "good", goodTable("http://numbers-api/v3")))
	select {
	case a := <-h.applied:
		if a.version != "v3" {
			t.Fatalf("applied version %q, want v3", a.version)
		}
	case <-time.After(prompt):
		t.Fatalf("the corrected table was not applied within %s of a NACK held for %s", prompt, backoff)
	}
	select {
	case req := <-srv.reqs:
		// the held NACK answers a superseded response: it is dropped, and
		// the first request after bad-1's NACK is the ACK of the new table.
		checkACK(t, req, "v3", "good")
	case <-time.After(prompt):
		t.Fatalf("the corrected table was not ACKed within %s", prompt)
	}
	if d := time.Since(start); d >= backoff {
		t.Errorf("took %s, the length of the backoff", d)
	}
	if got := h.metric(t, "meshlite_xds_nacks_total"); got != 2 {
		t.Errorf("nacks = %v, want 2", got)
	}
	if st := h.client.State(); st.Version != "v3" {
		t.Errorf("State.Version = %q, want v3", st.Version)
	}
}

func TestResponseWithoutTablesIsACKedAndChangesNothing(t *testing.T) {
	srv := startADS(t, "127.0.0.1:0")
	h := startClient(t, srv.addr)
	ackFirst(t, srv, h)
	srv.send(t, response("v2", "n2"))
	checkACK(t, srv.next(t), "v2", "n2")
	srv.send(t, response("v3", "n3", goodTable("http://numbers-api/v3")))
	checkACK(t, srv.next(t), "v3", "n3")
	if a := h.nextApplied(t); a.version != "v3" {
		t.Errorf("applied version %q, want v3 (the empty response must not be applied)", a.version)
	}
}

func TestWrappedResourceIsUnwrapped(t *testing.T) {
	srv := startADS(t, "127.0.0.1:0")
	h := startClient(t, srv.addr)
	srv.next(t)
	inner, _ := anypb.New(goodTable("http://wrapped/"))
	wrapped, _ := anypb.New(&discoveryv3.Resource{Name: workload, Version: "v1", Resource: inner})
	srv.send(t, &discoveryv3.DiscoveryResponse{VersionInfo: "v1", Nonce: "n1", TypeUrl: meshlitev1.TypeURL, Resources: []*anypb.Any{wrapped}})
	checkACK(t, srv.next(t), "v1", "n1")
	if a := h.nextApplied(t); a.table.Spec.Routes[0].Target != "http://wrapped/" {
		t.Errorf("applied %+v", a.table)
	}
}

func TestResponseOfAnotherTypeIsNotAnswered(t *testing.T) {
	srv := startADS(t, "127.0.0.1:0")
	h := startClient(t, srv.addr)
	srv.next(t)
	other := response("x1", "other", goodTable("http://a"))
	other.TypeUrl = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	srv.send(t, other)
	srv.send(t, response("v1", "n1", goodTable("http://numbers-api/rng")))
	checkACK(t, srv.next(t), "v1", "n1") // the next request answers n1, not "other"
	h.nextApplied(t)
}

func TestReconnectsAndResubscribesAfterServerRestart(t *testing.T) {
	srv := startADS(t, "127.0.0.1:0")
	h := startClient(t, srv.addr)
	ackFirst(t, srv, h)

	srv.stop()
	waitFor(t, "the client to notice the lost stream", func() bool { return !h.client.State().Connected })
	if got := h.metric(t, "meshlite_xds_connected"); got != 0 {
		t.Errorf("connected = %v after the server stopped, want 0", got)
	}

	srv = startADS(t, srv.addr)
	checkSubscribe(t, srv.next(t), "v1") // the last good version
	srv.send(t, response("v2", "n1", goodTable("http://numbers-api/v2")))
	checkACK(t, srv.next(t), "v2", "n1")
	if a := h.nextApplied(t); a.version != "v2" {
		t.Errorf("applied version %q after reconnect, want v2", a.version)
	}
	st := h.client.State()
	if !st.Connected || st.Version != "v2" || st.LastError == "" {
		t.Errorf("State = %+v, want connected at v2 with the stream error kept", st)
	}
	if got := h.metric(t, "meshlite_xds_reconnects_total"); got < 1 {
		t.Errorf("reconnects = %v, want at least 1", got)
	}
}

func TestConnectsWhenControlPlaneStartsLater(t *testing.T) {
	addr := testnet.DeadAddr(t)
	h := startClient(t, addr)
	waitFor(t, "two failed attempts", func() bool { return h.metric(t, "meshlite_xds_reconnects_total") >= 2 })
	if st := h.client.State(); st.Connected || st.LastError == "" {
		t.Errorf("State = %+v, want disconnected with an error", st)
	}
	srv := startADS(t, addr)
	checkSubscribe(t, srv.next(t), "")
	srv.send(t, response("v1", "n1", goodTable("http://numbers-api/rng")))
	checkACK(t, srv.next(t), "v1", "n1")
}

func TestRunReturnsWhenContextEnds(t *testing.T) {
	srv := startADS(t, "127.0.0.1:0")
	c, err := New(Options{Addr: srv.addr, Workload: workload, Apply: func(string, *routes.RouteTable) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	srv.next(t)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Run did not return")
	}
	if c.State().Connected {
		t.Error("still connected after Run returned")
	}
}

func TestNewChecksOptions(t *testing.T) {
	apply := func(string, *routes.RouteTable) error { return nil }
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"address missing", Options{Workload: workload, Apply: apply}, "xdsclient: control plane address is required"},
		{"workload missing", Options{Addr: "cp:18000", Apply: apply}, "xdsclient: workload is required"},
		{"applier missing", Options{Addr: "cp:18000", Workload: workload}, "xdsclient: Apply is required"},
		{"negative backoff", Options{Addr: "cp:18000", Workload: workload, Apply: apply, BackoffBase: -1}, "xdsclient: negative backoff"},
		{"everything missing", Options{}, "address is required\nxdsclient: workload is required\nxdsclient: Apply is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Options{Addr: "cp:18000", Workload: workload, Apply: func(string, *routes.RouteTable) error { return errors.New("x") }})
	if err != nil {
		t.Fatal(err)
	}
	if c.opts.NodeID == "" || c.opts.BackoffBase != 250*time.Millisecond || c.opts.BackoffMax != 30*time.Second {
		t.Errorf("defaults: node %q, backoff %s..%s", c.opts.NodeID, c.opts.BackoffBase, c.opts.BackoffMax)
	}
}
