package auth

import (
	"sync"
	"time"
)

// ttlCache holds positive answers for a while, bounded in size. Only successful verifications go
// in, so an attacker cannot grow it; when it is full, expired entries go first and then an
// arbitrary one (Go randomises where map iteration starts).
//
// A generation number closes the race between a lookup and an invalidation: a caller reads the
// generation before asking the database and put drops its answer if clear ran in between, so a
// password change cannot be undone by a verification of the old password that was already under
// way.
type ttlCache[K comparable, V any] struct {
	mu   sync.Mutex
	size int
	ttl  time.Duration
	gen  uint64
	m    map[K]cacheEntry[V]
}

type cacheEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[K comparable, V any](size int, ttl time.Duration) *ttlCache[K, V] {
	return &ttlCache[K, V]{size: size, ttl: ttl, m: make(map[K]cacheEntry[V])}
}

func (c *ttlCache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	if !now.Before(e.expires) {
		delete(c.m, k)
		var zero V
		return zero, false
	}
	return e.v, true
}

// generation returns the number to pass to put for an answer looked up from now on.
func (c *ttlCache[K, V]) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *ttlCache[K, V]) put(k K, v V, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.size {
		for k2, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k2)
			}
		}
		for k2 := range c.m {
			if len(c.m) < c.size {
				break
			}
			delete(c.m, k2)
		}
	}
	c.m[k] = cacheEntry[V]{v: v, expires: now.Add(c.ttl)}
}

func (c *ttlCache[K, V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

func (c *ttlCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
