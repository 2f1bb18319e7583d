package xds

import (
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
)

func res(name, version string) Resource {
	return Resource{Name: name, Version: version, Message: &meshlitev1.RouteTable{Name: name, Routes: []*meshlitev1.Route{{Name: "r", Target: "http://" + version}}}}
}

// waitingWatch opens a watch that has already been sent returned.
func waitingWatch(t *testing.T, c *tableCache, sub stream.Subscription, returned map[string]string) chan cache.Response {
	t.Helper()
	sub.SetReturnedResources(returned)
	ch := make(chan cache.Response, 1)
	req := &discovery.DiscoveryRequest{TypeUrl: meshlitev1.TypeURL, ResourceNames: []string{"a"}}
	if _, err := c.CreateWatch(req, sub, ch); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		t.Fatalf("watch answered at once: %v", r.GetReturnedResources())
	default:
	}
	return ch
}

func TestSetWakesOnlyWatchesThatSeeAChange(t *testing.T) {
	base := []Resource{res("a", "a1"), res("b", "b1")}
	cases := []struct {
		name      string
		next      []Resource
		wakeA     bool // the watch on "a"
		wakeB     bool // the watch on "b"
		wakeWild  bool // the wildcard watch
		wantAVers string
	}{
		{name: "nothing changed", next: base},
		{name: "b changed", next: []Resource{res("a", "a1"), res("b", "b2")}, wakeB: true, wakeWild: true},
		{name: "a changed", next: []Resource{res("a", "a2"), res("b", "b1")}, wakeA: true, wakeWild: true, wantAVers: "a2"},
		{name: "a removed", next: []Resource{res("b", "b1")}, wakeA: true, wakeWild: true},
		{name: "c added", next: append([]Resource{res("c", "c1")}, base...), wakeWild: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTableCache(meshlitev1.TypeURL)
			if err := c.Set(base); err != nil {
				t.Fatal(err)
			}
			chA := waitingWatch(t, c, stream.NewSotwSubscription([]string{"a"}, false), map[string]string{"a": "a1"})
			chB := waitingWatch(t, c, stream.NewSotwSubscription([]string{"b"}, false), map[string]string{"b": "b1"})
			chW := waitingWatch(t, c, stream.NewSotwSubscription(nil, true), map[string]string{"a": "a1", "b": "b1"})
			if err := c.Set(tc.next); err != nil {
				t.Fatal(err)
			}
			for _, w := range []struct {
				what string
				ch   chan cache.Response
				want bool
			}{{"a", chA, tc.wakeA}, {"b", chB, tc.wakeB}, {"wildcard", chW, tc.wakeWild}} {
				select {
				case r := <-w.ch:
					if !w.want {
						t.Errorf("watch %s woken with %v", w.what, r.GetReturnedResources())
					}
					if w.what == "a" && r.GetReturnedResources()["a"] != tc.wantAVers {
						t.Errorf("watch a got %v, want version %q", r.GetReturnedResources(), tc.wantAVers)
					}
				default:
					if w.want {
						t.Errorf("watch %s not woken", w.what)
					}
				}
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if n := len(c.watches); n != countWaiting(c) {
				t.Errorf("%d watches but %d indexed", n, countWaiting(c))
			}
		})
	}
}

// countWaiting counts the distinct indexed watches.
func countWaiting(c *tableCache) int {
	ids := map[uint64]bool{}
	for id := range c.wildcard {
		ids[id] = true
	}
	for _, set := range c.byName {
		for id := range set {
			ids[id] = true
		}
	}
	return len(ids)
}

func TestCancelledWatchLeavesTheIndex(t *testing.T) {
	c := newTableCache(meshlitev1.TypeURL)
	if err := c.Set([]Resource{res("a", "a1")}); err != nil {
		t.Fatal(err)
	}
	sub := stream.NewSotwSubscription([]string{"a", "b"}, false)
	sub.SetReturnedResources(map[string]string{"a": "a1"})
	ch := make(chan cache.Response, 1)
	cancel, err := c.CreateWatch(&discovery.DiscoveryRequest{TypeUrl: meshlitev1.TypeURL}, sub, ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.byName) != 2 {
		t.Fatalf("index has %d names, want 2", len(c.byName))
	}
	cancel()
	if len(c.watches) != 0 || len(c.byName) != 0 || len(c.wildcard) != 0 {
		t.Fatalf("after cancel: %d watches, %d names, %d wildcard", len(c.watches), len(c.byName), len(c.wildcard))
	}
	if err := c.Set([]Resource{res("a", "a2")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("cancelled watch answered")
	default:
	}
}
