package xds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Resource is one named resource with its content version.
type Resource struct {
	Name    string
	Version string // content hash: equal content, equal version
	Message proto.Message
}

// entry is a resource ready to send.
type entry struct {
	version string
	any     *anypb.Any
}

// tableCache serves the resources of one type URL to named (and wildcard)
// subscriptions, for state-of-the-world and delta streams alike.
//
// Every version it sends is derived from content: a resource's version is
// its content hash, and a state-of-the-world response's version is the
// version of its single resource, or a hash of the names and versions when
// it carries several. Replicas and restarts therefore agree.
//
// A response is sent only when what the stream would receive differs from
// what it was last sent, whether the client ACKed or NACKed it. A NACKed
// version is therefore never resent: the next response waits for the
// content to change.
type tableCache struct {
	typeURL string

	mu      sync.Mutex
	entries map[string]entry
	watches map[uint64]*watch
	// byName indexes the waiting watches of named subscriptions by every
	// name they subscribe to; wildcard holds the wildcard ones. A change to
	// one resource wakes only the watches that can see it.
	byName   map[string]map[uint64]struct{}
	wildcard map[uint64]struct{}
	nextID   uint64
}

var _ cache.Cache = (*tableCache)(nil)

// watch is one open request waiting for a change.
type watch struct {
	sotw    *discovery.DiscoveryRequest
	sotwCh  chan cache.Response
	delta   *discovery.DeltaDiscoveryRequest
	deltaCh chan cache.DeltaResponse
	sub     cache.Subscription
	initial bool     // a delta wildcard watch that must answer even when empty
	names   []string // subscribed when the watch was made; nil for wildcard
}

func newTableCache(typeURL string) *tableCache {
	return &tableCache{
		typeURL:  typeURL,
		entries:  map[string]entry{},
		watches:  map[uint64]*watch{},
		byName:   map[string]map[uint64]struct{}{},
		wildcard: map[uint64]struct{}{},
	}
}

// Set replaces every resource and answers the watches that see a change.
// A resource whose version is unchanged keeps its encoding, and only the
// watches of changed (added, updated or removed) resources and the
// wildcard watches are examined, so an edit costs what it changes.
func (c *tableCache) Set(resources []Resource) error {
	c.mu.Lock()
	old := c.entries
	c.mu.Unlock()
	entries := make(map[string]entry, len(resources))
	for _, r := range resources {
		if e, ok := old[r.Name]; ok && e.version == r.Version {
			entries[r.Name] = e
			continue
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r.Message)
		if err != nil {
			return fmt.Errorf("xds: encode %q: %w", r.Name, err)
		}
		entries[r.Name] = entry{version: r.Version, any: &anypb.Any{TypeUrl: c.typeURL, Value: b}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := changedNames(c.entries, entries)
	c.entries = entries
	if len(changed) == 0 {
		return nil
	}
	for id := range c.affected(changed) {
		if w := c.watches[id]; w != nil && c.respond(w) {
			c.forget(id)
		}
	}
	return nil
}

// changedNames lists the names added, updated or removed from old to next.
func changedNames(old, next map[string]entry) []string {
	var out []string
	for name, e := range next {
		if o, ok := old[name]; !ok || o.version != e.version {
			out = append(out, name)
		}
	}
	for name := range old {
		if _, ok := next[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}

// affected returns the waiting watches that can see a change to names.
// Called with c.mu held.
func (c *tableCache) affected(names []string) map[uint64]struct{} {
	ids := maps.Clone(c.wildcard)
	for _, name := range names {
		for id := range c.byName[name] {
			ids[id] = struct{}{}
		}
	}
	return ids
}

// Versions returns the current version of every resource, by name.
func (c *tableCache) Versions() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.entries))
	for name, e := range c.entries {
		out[name] = e.version
	}
	return out
}

func (c *tableCache) CreateWatch(req *cache.Request, sub cache.Subscription, ch chan cache.Response) (func(), error) {
	if req.GetTypeUrl() != c.typeURL {
		return nil, fmt.Errorf("xds: type %q is not served (only %q)", req.GetTypeUrl(), c.typeURL)
	}
	return c.track(&watch{sotw: req, sotwCh: ch, sub: sub}), nil
}

func (c *tableCache) CreateDeltaWatch(req *cache.DeltaRequest, sub cache.Subscription, ch chan cache.DeltaResponse) (func(), error) {
	if req.GetTypeUrl() != c.typeURL {
		return nil, fmt.Errorf("xds: type %q is not served (only %q)", req.GetTypeUrl(), c.typeURL)
	}
	initial := sub.IsWildcard() && req.GetResponseNonce() == ""
	return c.track(&watch{delta: req, deltaCh: ch, sub: sub, initial: initial}), nil
}

// Fetch is the REST flavour of xDS, which meshlite does not serve.
func (c *tableCache) Fetch(context.Context, *cache.Request) (cache.Response, error) {
	return nil, errors.New("xds: fetch is not supported; use a stream")
}

// track answers w at once when it sees a change, or keeps it until one.
func (c *tableCache) track(w *watch) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.respond(w) {
		return func() {}
	}
	c.nextID++
	id := c.nextID
	c.watches[id] = w
	if w.sub.IsWildcard() {
		c.wildcard[id] = struct{}{}
	} else {
		w.names = slices.Collect(maps.Keys(w.sub.SubscribedResources()))
		for _, name := range w.names {
			if c.byName[name] == nil {
				c.byName[name] = map[uint64]struct{}{}
			}
			c.byName[name][id] = struct{}{}
		}
	}
	return func() {
		c.mu.Lock()
		c.forget(id)
		c.mu.Unlock()
	}
}

// forget drops a watch and its index entries. Called with c.mu held.
func (c *tableCache) forget(id uint64) {
	w := c.watches[id]
	if w == nil {
		return
	}
	delete(c.watches, id)
	delete(c.wildcard, id)
	for _, name := range w.names {
		if set := c.byName[name]; set != nil {
			delete(set, id)
			if len(set) == 0 {
				delete(c.byName, name)
			}
		}
	}
}

// respond sends w its response if it has one. Called with c.mu held; the
// server's channels are buffered for the one response a watch may send.
func (c *tableCache) respond(w *watch) bool {
	if w.delta != nil {
		resp := c.deltaResponse(w)
		if resp == nil {
			return false
		}
		w.deltaCh <- resp
		return true
	}
	resp := c.sotwResponse(w)
	if resp == nil {
		return false
	}
	w.sotwCh <- resp
	return true
}

// names lists the resources a subscription asks for, sorted.
func (c *tableCache) names(sub cache.Subscription) []string {
	if sub.IsWildcard() {
		return slices.Sorted(maps.Keys(c.entries))
	}
	return slices.Sorted(maps.Keys(sub.SubscribedResources()))
}

// sotwResponse carries every subscribed resource that exists, or nil when
// the stream was already sent exactly that.
func (c *tableCache) sotwResponse(w *watch) cache.Response {
	returned := map[string]string{}
	var resources []*anypb.Any
	for _, name := range c.names(w.sub) {
		if e, ok := c.entries[name]; ok {
			returned[name] = e.version
			resources = append(resources, e.any)
		}
	}
	if maps.Equal(returned, w.sub.ReturnedResources()) {
		return nil
	}
	return &sotwResponse{
		req: w.sotw,
		resp: &discovery.DiscoveryResponse{
			VersionInfo: responseVersion(returned),
			Resources:   resources,
			TypeUrl:     c.typeURL,
		},
		returned: returned,
	}
}

// sotwResponse is a state-of-the-world response that tells the server
// callbacks, through its context, which resource versions it carries.
type sotwResponse struct {
	req      *discovery.DiscoveryRequest
	resp     *discovery.DiscoveryResponse
	returned map[string]string
}

var _ cache.Response = (*sotwResponse)(nil)

type returnedKey struct{}

// returnedVersions recovers the versions a sotwResponse carried.
func returnedVersions(ctx context.Context) map[string]string {
	if ctx == nil {
		return nil
	}
	m, _ := ctx.Value(returnedKey{}).(map[string]string)
	return m
}

func (r *sotwResponse) GetDiscoveryResponse() (*discovery.DiscoveryResponse, error) {
	return r.resp, nil
}
func (r *sotwResponse) GetRequest() *discovery.DiscoveryRequest { return r.req }
func (r *sotwResponse) GetVersion() (string, error)             { return r.resp.GetVersionInfo(), nil }
func (r *sotwResponse) GetResponseVersion() string              { return r.resp.GetVersionInfo() }
func (r *sotwResponse) GetReturnedResources() map[string]string { return r.returned }
func (r *sotwResponse) GetContext() context.Context {
	return context.WithValue(context.Background(), returnedKey{}, maps.Clone(r.returned))
}

// deltaResponse carries the subscribed resources whose version the stream
// does not have and the removal of those that are gone, or nil.
func (c *tableCache) deltaResponse(w *watch) cache.DeltaResponse {
	known := w.sub.ReturnedResources()
	next := map[string]string{}
	var resources []*discovery.Resource
	var removed []string
	for _, name := range c.names(w.sub) {
		e, ok := c.entries[name]
		if !ok {
			if _, had := known[name]; had {
				removed = append(removed, name)
			}
			continue
		}
		next[name] = e.version
		if known[name] != e.version {
			resources = append(resources, &discovery.Resource{Name: name, Version: e.version, Resource: e.any})
		}
	}
	if w.sub.IsWildcard() {
		for _, name := range slices.Sorted(maps.Keys(known)) {
			if _, ok := c.entries[name]; !ok && !slices.Contains(removed, name) {
				removed = append(removed, name)
			}
		}
	}
	if len(resources) == 0 && len(removed) == 0 && !w.initial {
		return nil
	}
	return &cache.DeltaPassthroughResponse{
		DeltaRequest:   w.delta,
		NextVersionMap: next,
		DeltaDiscoveryResponse: &discovery.DeltaDiscoveryResponse{
			SystemVersionInfo: responseVersion(next),
			Resources:         resources,
			RemovedResources:  removed,
			TypeUrl:           c.typeURL,
		},
	}
}

// responseVersion is the version of a set of resources: the resource's own
// version when there is one, else a hash of the sorted names and versions.
func responseVersion(versions map[string]string) string {
	if len(versions) == 1 {
		for _, v := range versions {
			return v
		}
	}
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(versions)) {
		fmt.Fprintf(h, "%s\x00%s\n", name, versions[name])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
