package xds

import (
	"fmt"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
)

// benchResources is n tables; table changed is at revision rev, the others
// at revision 0.
func benchResources(n, changed, rev int) []Resource {
	out := make([]Resource, n)
	for i := range n {
		v := 0
		if i == changed {
			v = rev
		}
		name := fmt.Sprintf("t%04d", i)
		out[i] = Resource{
			Name:    name,
			Version: fmt.Sprintf("v%d-%d", i, v),
			Message: &meshlitev1.RouteTable{Name: name, Routes: []*meshlitev1.Route{{Name: "api", Target: fmt.Sprintf("http://up-%d/%d", i, v)}}},
		}
	}
	return out
}

// openSotwWatch opens a state-of-the-world watch on name that already has
// the current version, so it waits for a change.
func openSotwWatch(b *testing.B, c *tableCache, name string) chan cache.Response {
	sub := stream.NewSotwSubscription([]string{name}, false)
	c.mu.Lock()
	version := c.entries[name].version
	c.mu.Unlock()
	sub.SetReturnedResources(map[string]string{name: version})
	ch := make(chan cache.Response, 1)
	req := &discovery.DiscoveryRequest{TypeUrl: meshlitev1.TypeURL, ResourceNames: []string{name}}
	if _, err := c.CreateWatch(req, sub, ch); err != nil {
		b.Fatal(err)
	}
	return ch
}

// BenchmarkSetOneChanged sets 1,000 resources of which one changed, with
// 10,000 waiting state-of-the-world watches, 10 per resource.
func BenchmarkSetOneChanged(b *testing.B) {
	const tables, perTable, changed = 1000, 10, 500
	c := newTableCache(meshlitev1.TypeURL)
	if err := c.Set(benchResources(tables, -1, 0)); err != nil {
		b.Fatal(err)
	}
	for i := range tables {
		for range perTable {
			openSotwWatch(b, c, fmt.Sprintf("t%04d", i))
		}
	}
	name := fmt.Sprintf("t%04d", changed)
	chans := make([]chan cache.Response, perTable)
	for j := range chans {
		chans[j] = openSotwWatch(b, c, name)
	}
	revs := make([][]Resource, 2)
	for i := range revs {
		revs[i] = benchResources(tables, changed, i+1)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := c.Set(revs[i%2]); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for j, ch := range chans {
			select {
			case <-ch:
			default:
				b.Fatalf("watch %d on %s not answered", j, name)
			}
			chans[j] = openSotwWatch(b, c, name)
		}
		b.StartTimer()
	}
}
