package xdsclient

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	xdsv1 "github.com/meshlite/meshlite/api/xds/v1"
	"github.com/meshlite/meshlite/internal/xdsconv"
	"github.com/meshlite/meshlite/pkg/routes"
)

// errNoTable marks a response that does not carry our table: nothing to
// apply, and nothing wrong with it (the control plane has no table for the
// workload yet, or removed it); the current table keeps serving.
var errNoTable = errors.New("xdsclient: response carries no table")

// apply finds the workload's table in resp, converts it and hands it to the
// Applier. A response without our table (the control plane has none for
// the workload, or it was removed) is accepted and changes nothing: applied
// is false and the current table keeps serving.
func (c *Client) apply(version string, resp *xdsv1.DiscoveryResponse) (applied bool, err error) {
	m, err := c.pick(resp.GetResources())
	if errors.Is(err, errNoTable) {
		c.log.Warn("xds: the control plane has no table for this workload; keeping the current one",
			"workload", c.opts.Workload, "version", version)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	rt, err := xdsconv.FromProto(m)
	if err != nil {
		return false, err
	}
	return true, c.callApply(version, rt)
}

// callApply runs the Applier; a panic rejects the table instead of ending
// the stream.
func (c *Client) callApply(version string, rt *routes.RouteTable) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("xdsclient: applying version %q panicked: %v", version, p)
		}
	}()
	return c.opts.Apply(version, rt)
}

// pick decodes the resources and returns the one named after the workload.
// Resources named otherwise are skipped; an undecodable one, or two with
// our name, reject the response.
func (c *Client) pick(resources []*anypb.Any) (*meshlitev1.RouteTable, error) {
	if len(resources) == 0 {
		return nil, errNoTable
	}
	var found *meshlitev1.RouteTable
	for i, a := range resources {
		m, err := decode(a)
		if err != nil {
			return nil, fmt.Errorf("xdsclient: resources[%d]: %w", i, err)
		}
		if m.GetName() != c.opts.Workload {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("xdsclient: resources[%d]: second table named %q", i, c.opts.Workload)
		}
		found = m
	}
	if found == nil {
		return nil, fmt.Errorf("xdsclient: response has %d tables but none named %q", len(resources), c.opts.Workload)
	}
	return found, nil
}

// decode unmarshals one resource, unwrapping a discovery Resource first.
func decode(a *anypb.Any) (*meshlitev1.RouteTable, error) {
	if a.GetTypeUrl() == xdsv1.ResourceTypeURL {
		// Not UnmarshalTo: the type URL names the protocol's message,
		// which xdsv1.Resource stands for under another name.
		var r xdsv1.Resource
		if err := proto.Unmarshal(a.GetValue(), &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", xdsv1.ResourceTypeURL, err)
		}
		a = r.GetResource()
	}
	if a.GetTypeUrl() != meshlitev1.TypeURL {
		return nil, fmt.Errorf("type %q, want %q", a.GetTypeUrl(), meshlitev1.TypeURL)
	}
	var m meshlitev1.RouteTable
	if err := a.UnmarshalTo(&m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", meshlitev1.TypeURL, err)
	}
	return &m, nil
}
