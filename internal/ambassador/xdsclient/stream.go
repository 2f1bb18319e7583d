package xdsclient

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	xdsv1 "github.com/meshlite/meshlite/api/xds/v1"
)

// WorkloadMetadataKey is the node metadata field that names the workload.
const WorkloadMetadataKey = "workload"

// userAgentName is sent as the node's user_agent_name.
const userAgentName = "meshlite-ambassador"

// adsStream is one ADS stream: requests up, responses down.
type adsStream = grpc.BidiStreamingClient[xdsv1.DiscoveryRequest, xdsv1.DiscoveryResponse]

// adsStreamDesc describes the ADS method: one bidirectional stream.
var adsStreamDesc = grpc.StreamDesc{
	StreamName:    "StreamAggregatedResources",
	ServerStreams: true,
	ClientStreams: true,
}

// openADS opens the ADS stream on conn by the method's full name, with the
// minimal messages of api/xds/v1 (the same bytes as the protocol's own).
func openADS(ctx context.Context, conn *grpc.ClientConn) (adsStream, error) {
	s, err := conn.NewStream(ctx, &adsStreamDesc, xdsv1.ADSMethod)
	if err != nil {
		return nil, err
	}
	return &grpc.GenericClientStream[xdsv1.DiscoveryRequest, xdsv1.DiscoveryResponse]{ClientStream: s}, nil
}

// stream opens one connection and ADS stream, subscribes and handles
// responses until the stream fails or ctx is done. delivered reports
// whether at least one response arrived (the backoff restarts then).
func (c *Client) stream(ctx context.Context) (delivered bool, err error) {
	conn, err := grpc.NewClient(c.opts.Addr, c.dialOpts...)
	if err != nil {
		return false, fmt.Errorf("xdsclient: dial %s: %w", c.opts.Addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	s, err := openADS(ctx, conn)
	if err != nil {
		return false, fmt.Errorf("xdsclient: open stream: %w", err)
	}
	if err := s.Send(c.subscribe()); err != nil {
		return false, fmt.Errorf("xdsclient: subscribe: %w", recvError(s, err))
	}
	c.setConnected(true)
	defer c.setConnected(false)
	c.log.Info("xds: stream open", "node", c.opts.NodeID, "version", c.version())

	h := &handler{c: c}
	for {
		resp, err := s.Recv()
		if err != nil {
			return delivered, fmt.Errorf("xdsclient: stream closed: %w", err)
		}
		delivered = true
		req := h.handle(ctx, resp)
		if req == nil {
			continue
		}
		if err := s.Send(req); err != nil {
			return delivered, fmt.Errorf("xdsclient: send: %w", recvError(s, err))
		}
	}
}

// recvError returns the stream's status when Send failed with io.EOF (the
// stream ended and the reason is only known to Recv).
func recvError(s adsStream, err error) error {
	if err != io.EOF {
		return err
	}
	if _, rerr := s.Recv(); rerr != nil {
		return rerr
	}
	return err
}

// subscribe is the first request of a stream: who we are and the one
// resource we want. Version is the last good one, so an unchanged table
// need not be sent again.
func (c *Client) subscribe() *xdsv1.DiscoveryRequest {
	req := c.request(c.version(), "")
	req.Node = &xdsv1.Node{
		Id:            c.opts.NodeID,
		UserAgentName: userAgentName,
		Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{
			WorkloadMetadataKey: structpb.NewStringValue(c.opts.Workload),
		}},
	}
	return req
}

// request names the subscription in full, as every state-of-the-world
// request must: no resource names would mean "all tables".
func (c *Client) request(version, nonce string) *xdsv1.DiscoveryRequest {
	return &xdsv1.DiscoveryRequest{
		VersionInfo:   version,
		ResponseNonce: nonce,
		TypeUrl:       meshlitev1.TypeURL,
		ResourceNames: []string{c.opts.Workload},
	}
}

// handler handles the responses of one stream.
type handler struct {
	c *Client
	// nackVersion and nackRepeats count NACKs of the same version in a row,
	// to slow down a control plane that keeps resending a rejected table.
	nackVersion string
	nackRepeats int
}

// handle applies one response and returns the ACK or NACK to send, or nil
// for a response of another type (not ours to answer).
func (h *handler) handle(ctx context.Context, resp *xdsv1.DiscoveryResponse) *xdsv1.DiscoveryRequest {
	c := h.c
	if resp.GetTypeUrl() != meshlitev1.TypeURL {
		c.log.Warn("xds: ignoring response of unexpected type", "type", resp.GetTypeUrl())
		return nil
	}
	version := resp.GetVersionInfo()
	applied, err := c.apply(version, resp)
	if err != nil {
		return h.nack(ctx, resp, err)
	}
	h.nackVersion, h.nackRepeats = "", 0
	c.metrics.acks.Inc()
	if applied {
		c.setVersion(version)
		c.log.Info("xds: table applied", "version", version)
	}
	return c.request(version, resp.GetNonce())
}

// nack rejects resp, naming the previous good version. A control plane that
// resends the version just rejected is answered after a growing delay.
func (h *handler) nack(ctx context.Context, resp *xdsv1.DiscoveryResponse, err error) *xdsv1.DiscoveryRequest {
	c := h.c
	detail := err.Error()
	c.setNACK(detail)
	c.metrics.nacks.Inc()
	c.log.Error("xds: table rejected", "version", resp.GetVersionInfo(), "err", detail)
	if resp.GetVersionInfo() == h.nackVersion {
		h.nackRepeats++
		sleep(ctx, backoff(c.opts.BackoffBase, c.opts.BackoffMax, h.nackRepeats))
	} else {
		h.nackVersion, h.nackRepeats = resp.GetVersionInfo(), 0
	}
	req := c.request(c.version(), resp.GetNonce())
	req.ErrorDetail = &xdsv1.Status{Code: int32(codes.InvalidArgument), Message: detail}
	return req
}
