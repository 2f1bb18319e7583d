package xdsclient

import (
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	xdsv1 "github.com/meshlite/meshlite/api/xds/v1"
	"github.com/meshlite/meshlite/internal/backoff"
)

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

	recv := make(chan received)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		receive(ctx, s, recv)
	}()
	defer func() { cancel(); <-stopped }()
	return c.serve(ctx, s, recv)
}

// received is one result of the stream's Recv.
type received struct {
	resp *xdsv1.DiscoveryResponse
	err  error
}

// receive reads s until it fails or ctx is done, handing every result to
// out; the last one carries the error.
func receive(ctx context.Context, s adsStream, out chan<- received) {
	for {
		resp, err := s.Recv()
		select {
		case out <- received{resp, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// serve applies every response as soon as it arrives and answers it. A
// NACK that must wait (the control plane keeps resending a rejected
// version) waits on a timer, not in the way of the next response: a
// response arriving meanwhile supersedes the waiting NACK, whose nonce is
// stale from then on, and is applied and answered at once.
func (c *Client) serve(ctx context.Context, s adsStream, recv <-chan received) (delivered bool, err error) {
	h := &handler{c: c}
	var (
		waiting *xdsv1.DiscoveryRequest // the NACK on hold, if any
		timer   *time.Timer
		due     <-chan time.Time // timer.C while a NACK is on hold
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var req *xdsv1.DiscoveryRequest
		select {
		case r := <-recv:
			if r.err != nil {
				return delivered, fmt.Errorf("xdsclient: stream closed: %w", r.err)
			}
			delivered = true
			var delay time.Duration
			if req, delay = h.handle(r.resp); req == nil {
				continue
			}
			if waiting != nil {
				timer.Stop()
				waiting, due = nil, nil
			}
			if delay > 0 {
				timer = time.NewTimer(delay)
				waiting, due, req = req, timer.C, nil
				continue
			}
		case <-due:
			req, waiting, due = waiting, nil, nil
		case <-ctx.Done():
			return delivered, fmt.Errorf("xdsclient: stream closed: %w", ctx.Err())
		}
		if err := s.Send(req); err != nil {
			return delivered, fmt.Errorf("xdsclient: send: %w", sendError(ctx, err, recv))
		}
	}
}

// sendError returns the stream's status when Send failed with io.EOF (the
// stream ended and the reason is only known to Recv, which receive calls).
func sendError(ctx context.Context, err error, recv <-chan received) error {
	if err != io.EOF {
		return err
	}
	for {
		select {
		case r := <-recv:
			if r.err != nil {
				return r.err
			}
		case <-ctx.Done():
			return err
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
			meshlitev1.WorkloadMetadataKey: structpb.NewStringValue(c.opts.Workload),
		}},
	}
	if ns := c.opts.Namespace; ns != "" {
		req.Node.Metadata.Fields[meshlitev1.NamespaceMetadataKey] = structpb.NewStringValue(ns)
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
		ResourceNames: []string{meshlitev1.ResourceName(c.opts.Namespace, c.opts.Workload)},
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

// handle applies one response and returns the ACK or NACK to send and how
// long to hold it first, or nil for a response of another type (not ours
// to answer).
func (h *handler) handle(resp *xdsv1.DiscoveryResponse) (*xdsv1.DiscoveryRequest, time.Duration) {
	c := h.c
	if resp.GetTypeUrl() != meshlitev1.TypeURL {
		c.log.Warn("xds: ignoring response of unexpected type", "type", resp.GetTypeUrl())
		return nil, 0
	}
	version := resp.GetVersionInfo()
	applied, err := c.apply(version, resp)
	if err != nil {
		return h.nack(resp, err)
	}
	h.nackVersion, h.nackRepeats = "", 0
	c.metrics.acks.Inc()
	if applied {
		c.setVersion(version)
		c.log.Info("xds: table applied", "version", version)
	}
	return c.request(version, resp.GetNonce()), 0
}

// nack rejects resp, naming the previous good version. A control plane that
// resends the version just rejected is answered after a growing delay.
func (h *handler) nack(resp *xdsv1.DiscoveryResponse, err error) (*xdsv1.DiscoveryRequest, time.Duration) {
	c := h.c
	detail := err.Error()
	c.setNACK(detail)
	c.metrics.nacks.Inc()
	var delay time.Duration
	if resp.GetVersionInfo() == h.nackVersion {
		h.nackRepeats++
		delay = c.jitter(backoff.Ceiling(c.opts.BackoffBase, c.opts.BackoffMax, h.nackRepeats))
	} else {
		h.nackVersion, h.nackRepeats = resp.GetVersionInfo(), 0
	}
	c.log.Error("xds: table rejected", "version", resp.GetVersionInfo(), "err", detail, "nack_in", delay.String())
	req := c.request(c.version(), resp.GetNonce())
	req.ErrorDetail = &xdsv1.Status{Code: int32(codes.InvalidArgument), Message: detail}
	return req, delay
}
