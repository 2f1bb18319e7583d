package xds

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/peer"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
)

// Stream kinds, as shown in Ambassador.Stream and metric labels.
const (
	StreamSotW  = "sotw"
	StreamDelta = "delta"
)

// maxSentRemembered bounds the responses remembered per stream while they
// wait for their ACK or NACK.
const maxSentRemembered = 8

// Ambassador is one connected xDS stream, as shown on /status.
type Ambassador struct {
	NodeID string `json:"nodeId"`
	// Workload is the node metadata "workload", else the first resource
	// name the stream subscribed to.
	Workload string `json:"workload"`
	// Namespace is the node metadata "namespace"; "" when not sent.
	Namespace string `json:"namespace,omitempty"`
	Stream    string `json:"stream"` // "sotw" or "delta"
	Address   string `json:"address,omitempty"`
	// Identity is who the client proved to be ("certificate spiffe://...",
	// "token system:serviceaccount:..."); "" when it proved nothing.
	Identity   string   `json:"identity,omitempty"`
	Subscribed []string `json:"subscribed"`
	// LastACKedVersion is the version of the workload's table (the
	// resource meshlitev1.ResourceName(Namespace, Workload)) the
	// ambassador last accepted; "" before its first ACK.
	LastACKedVersion string `json:"lastAckedVersion,omitempty"`
	// LastNACK is the error_detail of its last rejection, "" if none.
	LastNACK        string    `json:"lastNack,omitempty"`
	LastNACKVersion string    `json:"lastNackVersion,omitempty"`
	NACKs           int       `json:"nacks"`
	ConnectedSince  time.Time `json:"connectedSince"`
	// InSync says the ambassador has ACKed the version being served for
	// its workload.
	InSync bool `json:"inSync"`
}

// sent is one response waiting for its ACK or NACK.
type sent struct {
	nonce    string
	versions map[string]string // sotw: the full state; delta: the changes
	removed  []string
	full     bool
}

// conn is the tracker's state for one stream.
type conn struct {
	info         Ambassador
	metaWorkload bool
	resource     string // the workload's table: ResourceName(namespace, workload)
	sent         []sent
	acked        map[string]string // resource → version the client accepted
}

type connKey struct {
	kind string
	id   int64
}

// tracker implements the server callbacks: it follows every stream's
// node, subscriptions, ACKs and NACKs, and measures push latency.
type tracker struct {
	typeURL string
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
	current func() map[string]string // resource versions being served

	mu        sync.Mutex
	conns     map[connKey]*conn
	changedAt map[string]time.Time // resource version → when it was published
}

var _ serverv3.Callbacks = (*tracker)(nil)

func newTracker(typeURL string, log *slog.Logger, m *metrics, current func() map[string]string) *tracker {
	return &tracker{
		typeURL: typeURL, log: log, metrics: m, now: time.Now, current: current,
		conns: map[connKey]*conn{}, changedAt: map[string]time.Time{},
	}
}

// published records when each served version first appeared, for the push
// latency of the ACKs that follow. Versions no longer served are forgotten.
func (t *tracker) published(versions map[string]time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := make(map[string]time.Time, len(versions))
	for v, at := range versions {
		if old, ok := t.changedAt[v]; ok {
			at = old
		}
		next[v] = at
	}
	t.changedAt = next
}

// Ambassadors lists the connected streams, sorted by node id.
func (t *tracker) Ambassadors() []Ambassador {
	current := t.current()
	t.mu.Lock()
	out := make([]Ambassador, 0, len(t.conns))
	for _, c := range t.conns {
		a := c.info
		a.Subscribed = slices.Clone(a.Subscribed)
		v := current[c.resource]
		a.InSync = v != "" && a.LastACKedVersion == v
		out = append(out, a)
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Ambassador) int {
		if c := strings.Compare(a.NodeID, b.NodeID); c != 0 {
			return c
		}
		return a.ConnectedSince.Compare(b.ConnectedSince)
	})
	return out
}

func (t *tracker) open(ctx context.Context, kind string, id int64) {
	c := &conn{info: Ambassador{Stream: kind, ConnectedSince: t.now()}, acked: map[string]string{}}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		c.info.Address = p.Addr.String()
	}
	if id, ok := IdentityFrom(ctx); ok {
		c.info.Identity = id.String()
	}
	t.mu.Lock()
	t.conns[connKey{kind, id}] = c
	t.mu.Unlock()
	t.metrics.connected.WithLabelValues(kind).Inc()
}

func (t *tracker) closed(kind string, id int64) {
	t.mu.Lock()
	c := t.conns[connKey{kind, id}]
	delete(t.conns, connKey{kind, id})
	t.mu.Unlock()
	if c != nil {
		t.metrics.connected.WithLabelValues(kind).Dec()
		t.log.Info("xds: ambassador disconnected", "node", c.info.NodeID, "workload", c.info.Workload, "stream", kind)
	}
}

// identify records the node and what the stream subscribes to.
func (c *conn) identify(node *core.Node, subscribed []string) {
	if node != nil && node.GetId() != "" {
		c.info.NodeID = node.GetId()
	}
	fields := node.GetMetadata().GetFields()
	if w := fields[meshlitev1.WorkloadMetadataKey].GetStringValue(); w != "" {
		c.info.Workload, c.metaWorkload = w, true
		c.info.Namespace = fields[meshlitev1.NamespaceMetadataKey].GetStringValue()
		c.resource = meshlitev1.ResourceName(c.info.Namespace, w)
	}
	if subscribed != nil {
		c.info.Subscribed = subscribed
	}
	if !c.metaWorkload && len(c.info.Subscribed) > 0 {
		c.info.Workload = c.info.Subscribed[0]
		c.resource = c.info.Workload
	}
}

// remember keeps a response until its ACK or NACK.
func (c *conn) remember(s sent) {
	if len(c.sent) == maxSentRemembered {
		c.sent = slices.Delete(c.sent, 0, 1)
	}
	c.sent = append(c.sent, s)
}

// take removes and returns the response with this nonce.
func (c *conn) take(nonce string) (sent, bool) {
	for i, s := range c.sent {
		if s.nonce == nonce {
			c.sent = slices.Delete(c.sent, i, i+1)
			return s, true
		}
	}
	return sent{}, false
}

// reply handles the ACK or NACK of response nonce. Called with t.mu held.
func (t *tracker) reply(c *conn, nonce string, errorDetail string, rejected bool) {
	s, ok := c.take(nonce)
	if !ok {
		return
	}
	if rejected {
		t.nack(c, s, errorDetail)
		return
	}
	t.metrics.acks.WithLabelValues(c.info.Stream).Inc()
	// s left c.sent and its maps are its own (GetContext and
	// OnStreamDeltaResponse made them), so a full state is kept as it is
	// and the previous map is replaced, never changed in place.
	previous := c.acked
	if s.full {
		c.acked = s.versions
	} else {
		c.acked = maps.Clone(c.acked)
		maps.Copy(c.acked, s.versions)
		for _, name := range s.removed {
			delete(c.acked, name)
		}
	}
	c.info.LastACKedVersion = c.acked[c.resource]
	for name, v := range s.versions {
		at, known := t.changedAt[v]
		if previous[name] != v && known && at.After(c.info.ConnectedSince) {
			t.metrics.pushLatency.Observe(t.now().Sub(at).Seconds())
		}
	}
}

func (t *tracker) nack(c *conn, s sent, detail string) {
	t.metrics.nacks.Inc()
	version := s.versions[c.resource]
	if version == "" {
		version = responseVersion(s.versions)
	}
	c.info.NACKs++
	c.info.LastNACK, c.info.LastNACKVersion = detail, version
	t.log.Warn("xds: ambassador rejected a table; it keeps its last good one and the same version is not resent",
		"node", c.info.NodeID, "workload", c.info.Workload, "stream", c.info.Stream,
		"version", version, "error", detail)
}
