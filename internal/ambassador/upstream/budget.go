package upstream

import (
	"sync"
	"time"
)

// budget holds one token bucket per route. Every retried call deposits
// ratio tokens, time adds perSecond tokens per second, and a retry takes one
// token, so retries stay near ratio·requests + perSecond per second and
// cannot multiply an outage. A bucket starts full.
type budget struct {
	ratio     float64
	perSecond float64
	capacity  float64
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newBudget(ratio, perSecond float64) *budget {
	return &budget{
		ratio:     ratio,
		perSecond: perSecond,
		capacity:  max(perSecond, 1),
		now:       time.Now,
		buckets:   make(map[string]*bucket),
	}
}

// deposit records one request on route.
func (b *budget) deposit(route string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.refillLocked(route)
	k.tokens = min(b.capacity, k.tokens+b.ratio)
}

// withdraw takes one token for a retry on route; false when none is left.
func (b *budget) withdraw(route string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.refillLocked(route)
	if k.tokens < 1 {
		return false
	}
	k.tokens--
	return true
}

func (b *budget) refillLocked(route string) *bucket {
	now := b.now()
	k, ok := b.buckets[route]
	if !ok {
		k = &bucket{tokens: b.capacity, last: now}
		b.buckets[route] = k
		return k
	}
	if elapsed := now.Sub(k.last); elapsed > 0 {
		k.tokens = min(b.capacity, k.tokens+elapsed.Seconds()*b.perSecond)
		k.last = now
	}
	return k
}
