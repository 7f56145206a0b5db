package registry

import (
	"maps"
	"sync"
	"time"
)

// Result classifies a lookup for metrics.
type Result string

// Lookup results; Results lists them in a fixed order for rendering.
const (
	ResultOK           Result = "ok"
	ResultNotFound     Result = "not_found"
	ResultUnauthorized Result = "unauthorized"
	ResultTimeout      Result = "timeout"
	ResultUnavailable  Result = "unavailable"
	ResultNoPlatform   Result = "no_platform"
	ResultInvalid      Result = "invalid"
	ResultRefused      Result = "refused"
)

// Results is every Result, in rendering order.
var Results = [...]Result{ResultOK, ResultNotFound, ResultUnauthorized, ResultTimeout, ResultUnavailable, ResultNoPlatform, ResultInvalid, ResultRefused}

// DurationBuckets are the upper bounds, in seconds, of the lookup-duration
// histogram in MetricsSnapshot.
var DurationBuckets = [...]float64{0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// MetricsSnapshot is a copy of the client's counters (the webhook renders
// them as vsw_registry_*).
type MetricsSnapshot struct {
	Lookups        map[Result]uint64 // every lookup, cached or not, by result
	CacheHits      uint64            // lookups answered from the cache
	CacheMisses    uint64            // lookups that had to ask (or wait for) the registry
	Coalesced      uint64            // misses that waited on another lookup's request instead of making one
	CacheEntries   int
	DurationCounts [len(DurationBuckets)]uint64 // cumulative, like Prometheus buckets
	DurationCount  uint64
	DurationSum    float64 // seconds
}

// metrics is a MetricsSnapshot kept up to date under a lock.
type metrics struct {
	mu sync.Mutex
	s  MetricsSnapshot
}

func (m *metrics) observe(r Result, cached bool, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.s.Lookups == nil {
		m.s.Lookups = make(map[Result]uint64, len(Results))
	}
	m.s.Lookups[r]++
	if cached {
		m.s.CacheHits++
	} else {
		m.s.CacheMisses++
	}
	for i, ub := range DurationBuckets {
		if d.Seconds() <= ub {
			m.s.DurationCounts[i]++
		}
	}
	m.s.DurationCount++
	m.s.DurationSum += d.Seconds()
}

func (m *metrics) coalesced() {
	m.mu.Lock()
	m.s.Coalesced++
	m.mu.Unlock()
}

func (m *metrics) snapshot() MetricsSnapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.s
	s.Lookups = maps.Clone(s.Lookups)
	return s
}
