package resolver

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// cache keeps answers until they expire, at most max names; the least
// recently used name goes first. An entry without addresses is a negative
// answer ("no such host").
type cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheEntry, most recently used first
	byKey map[string]*list.Element
}

type cacheEntry struct {
	name    string
	addrs   []netip.Addr
	expires time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, order: list.New(), byKey: make(map[string]*list.Element)}
}

// get returns name's unexpired answer.
func (c *cache) get(name string, now time.Time) ([]netip.Addr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[name]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.byKey, name)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.addrs, true
}

// put keeps addrs for name until expires, replacing what was kept.
func (c *cache) put(name string, addrs []netip.Addr, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[name]; ok {
		c.order.Remove(el)
		delete(c.byKey, name)
	}
	c.byKey[name] = c.order.PushFront(&cacheEntry{name: name, addrs: addrs, expires: expires})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).name)
	}
}

// len is the number of names kept.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
