package registry

import (
	"container/list"
	"sync"
	"time"
)

// cache is a size-bounded LRU of image configs whose entries also expire.
// It is safe for concurrent use.
type cache struct {
	mu    sync.Mutex
	max   int
	now   func() time.Time
	ll    *list.List // front = most recently used
	items map[string]*list.Element
}

type cacheEntry struct {
	key     string
	value   *ImageConfig
	expires time.Time
}

func newCache(max int, now func() time.Time) *cache {
	return &cache{max: max, now: now, ll: list.New(), items: map[string]*list.Element{}}
}

// get returns the live entry for key, dropping it if it expired.
func (c *cache) get(key string) (*ImageConfig, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, key)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return e.value, true
}

// put stores value under key for ttl, evicting the least recently used
// entries beyond the size bound.
func (c *cache) put(key string, value *ImageConfig, ttl time.Duration) {
	if c.max <= 0 || ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(ttl)
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry)
		e.value, e.expires = value, exp
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, value: value, expires: exp})
	for c.ll.Len() > c.max {
		oldest := c.ll.Back()
		c.ll.Remove(oldest)
		delete(c.items, oldest.Value.(*cacheEntry).key)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
