package xds

import (
	"context"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// The go-control-plane server callbacks. None of them fails a stream: an
// unknown type URL is refused by the cache instead.

func (t *tracker) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	t.open(ctx, StreamSotW, id)
	return nil
}

func (t *tracker) OnStreamClosed(id int64, _ *core.Node) { t.closed(StreamSotW, id) }

func (t *tracker) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	t.open(ctx, StreamDelta, id)
	return nil
}

func (t *tracker) OnDeltaStreamClosed(id int64, _ *core.Node) { t.closed(StreamDelta, id) }

func (t *tracker) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	if req.GetTypeUrl() != t.typeURL {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.conns[connKey{StreamSotW, id}]
	if c == nil {
		return nil
	}
	first := c.info.NodeID == ""
	c.identify(req.GetNode(), append([]string{}, req.GetResourceNames()...))
	if first {
		t.log.Info("xds: ambassador connected", "node", c.info.NodeID, "workload", c.info.Workload,
			"stream", StreamSotW, "address", c.info.Address, "version", req.GetVersionInfo())
	}
	if nonce := req.GetResponseNonce(); nonce != "" {
		t.reply(c, nonce, req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
	}
	return nil
}

func (t *tracker) OnStreamResponse(ctx context.Context, id int64, _ *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
	t.metrics.pushes.WithLabelValues(StreamSotW).Inc()
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.conns[connKey{StreamSotW, id}]; c != nil {
		c.remember(sent{nonce: resp.GetNonce(), versions: returnedVersions(ctx), full: true})
	}
}

func (t *tracker) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	if req.GetTypeUrl() != t.typeURL {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.conns[connKey{StreamDelta, id}]
	if c == nil {
		return nil
	}
	first := c.info.NodeID == ""
	c.identify(req.GetNode(), deltaSubscriptions(c.info.Subscribed, req))
	if first {
		t.log.Info("xds: ambassador connected", "node", c.info.NodeID, "workload", c.info.Workload,
			"stream", StreamDelta, "address", c.info.Address)
	}
	if nonce := req.GetResponseNonce(); nonce != "" {
		t.reply(c, nonce, req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
	}
	return nil
}

func (t *tracker) OnStreamDeltaResponse(id int64, _ *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
	t.metrics.pushes.WithLabelValues(StreamDelta).Inc()
	s := sent{nonce: resp.GetNonce(), versions: map[string]string{}, removed: resp.GetRemovedResources()}
	for _, r := range resp.GetResources() {
		s.versions[r.GetName()] = r.GetVersion()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.conns[connKey{StreamDelta, id}]; c != nil {
		c.remember(s)
	}
}

func (t *tracker) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error { return nil }

func (t *tracker) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}

// deltaSubscriptions applies a delta request's subscribe and unsubscribe
// lists to the names a stream had.
func deltaSubscriptions(had []string, req *discovery.DeltaDiscoveryRequest) []string {
	out := append([]string{}, had...)
	for _, name := range req.GetResourceNamesSubscribe() {
		if !contains(out, name) {
			out = append(out, name)
		}
	}
	var kept []string
	for _, name := range out {
		if !contains(req.GetResourceNamesUnsubscribe(), name) {
			kept = append(kept, name)
		}
	}
	return kept
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
