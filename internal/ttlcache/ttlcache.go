// Package ttlcache is a size-bounded cache whose entries expire and which
// coalesces concurrent misses of one key into one fetch. The webhook keeps
// image configurations (package registry) and Kubernetes objects
// (cmd/vault-secrets-webhook) in it.
//
// A fetch runs with its first caller's context values but not its
// cancellation, bounded by the cache's timeout: a caller that gives up
// stops waiting without failing the others, and the answer still fills the
// cache. Failures are not cached. Beyond the size bound the least recently
// used entry goes. Cached values are shared: callers must not modify them.
package ttlcache

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"
)

// Source says how Get answered.
type Source int

// The ways Get answers.
const (
	Fetched Source = iota // this caller's fetch
	Shared                // another caller's fetch, waited on
	Hit                   // a live entry
)

// Cache is safe for concurrent use.
type Cache[V any] struct {
	max     int
	timeout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	ll      *list.List // of *entry[V], front = most recently used
	items   map[string]*list.Element
	flights map[string]*flight[V]
}

type entry[V any] struct {
	key     string
	val     V
	expires time.Time
}

type flight[V any] struct {
	done chan struct{} // closed when val and err are set
	val  V
	err  error
}

// New returns a cache of at most max entries (0: nothing is kept, fetches
// are still coalesced) whose fetches run for at most timeout.
func New[V any](max int, timeout time.Duration, now func() time.Time) *Cache[V] {
	return &Cache[V]{max: max, timeout: timeout, now: now, ll: list.New(),
		items: map[string]*list.Element{}, flights: map[string]*flight[V]{}}
}

// Get returns the live entry of key, or waits for the fetch of key in
// flight, or starts one. fetch returns the value and how long to keep it
// (0 or less: not kept). Each caller stops waiting when its own ctx is
// done.
func (c *Cache[V]) Get(ctx context.Context, key string, fetch func(context.Context) (V, time.Duration, error)) (V, Source, error) {
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*entry[V])
		if c.now().Before(e.expires) {
			c.ll.MoveToFront(el)
			c.mu.Unlock()
			return e.val, Hit, nil
		}
		c.ll.Remove(el)
		delete(c.items, key)
	}
	src := Shared
	f, ok := c.flights[key]
	if !ok {
		src = Fetched
		f = &flight[V]{done: make(chan struct{})}
		c.flights[key] = f
		go c.fill(ctx, key, f, fetch)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.val, src, f.err
	case <-ctx.Done():
		var zero V
		return zero, src, ctx.Err()
	}
}

func (c *Cache[V]) fill(ctx context.Context, key string, f *flight[V], fetch func(context.Context) (V, time.Duration, error)) {
	var ttl time.Duration
	defer func() {
		if r := recover(); r != nil {
			var zero V
			f.val, f.err, ttl = zero, fmt.Errorf("failed to fetch: internal error: %v", r), 0
		}
		c.mu.Lock()
		delete(c.flights, key)
		if f.err == nil && ttl > 0 {
			c.put(key, f.val, ttl)
		}
		c.mu.Unlock()
		close(f.done)
	}()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	f.val, ttl, f.err = fetch(fctx)
}

// Peek returns the live entry of key without fetching.
func (c *Cache[V]) Peek(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok && c.now().Before(el.Value.(*entry[V]).expires) {
		return el.Value.(*entry[V]).val, true
	}
	var zero V
	return zero, false
}

// Put stores val for ttl (0 or less: not kept), as a fetch would.
func (c *Cache[V]) Put(key string, val V, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(key, val, ttl)
}

// put stores val for ttl, evicting the least recently used entries beyond
// the bound. Called with mu held.
func (c *Cache[V]) put(key string, val V, ttl time.Duration) {
	if c.max <= 0 {
		return
	}
	exp := c.now().Add(ttl)
	if el, ok := c.items[key]; ok {
		e := el.Value.(*entry[V])
		e.val, e.expires = val, exp
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&entry[V]{key: key, val: val, expires: exp})
	for c.ll.Len() > c.max {
		oldest := c.ll.Back()
		c.ll.Remove(oldest)
		delete(c.items, oldest.Value.(*entry[V]).key)
	}
}

// Len is the number of entries, live or expired but not yet dropped.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
