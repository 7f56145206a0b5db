package registry

import (
	"sync/atomic"
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

// MetricsSnapshot is a consistent-enough copy of the client's counters for
// a hand-written /metrics page. Suggested exposition:
//
//	vsw_registry_lookups_total{result="ok"}          Lookups[ResultOK]
//	vsw_registry_cache_hits_total                    CacheHits
//	vsw_registry_cache_misses_total                  CacheMisses
//	vsw_registry_coalesced_total                     Coalesced
//	vsw_registry_cache_entries                       CacheEntries (gauge)
//	vsw_registry_lookup_duration_seconds_bucket{le}  DurationBuckets[i] -> DurationCounts[i] (cumulative)
//	vsw_registry_lookup_duration_seconds_sum/count   DurationSum, DurationCount
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

type metrics struct {
	lookups     [len(Results)]atomic.Uint64
	cacheHits   atomic.Uint64
	cacheMisses atomic.Uint64
	coalesced   atomic.Uint64
	buckets     [len(DurationBuckets)]atomic.Uint64 // non-cumulative
	count       atomic.Uint64
	sumNanos    atomic.Int64
}

func (m *metrics) observe(r Result, cached bool, d time.Duration) {
	for i, x := range Results {
		if x == r {
			m.lookups[i].Add(1)
		}
	}
	if cached {
		m.cacheHits.Add(1)
	} else {
		m.cacheMisses.Add(1)
	}
	secs := d.Seconds()
	for i, ub := range DurationBuckets {
		if secs <= ub {
			m.buckets[i].Add(1)
			break
		}
	}
	m.count.Add(1)
	m.sumNanos.Add(int64(d))
}

func (m *metrics) snapshot() MetricsSnapshot {
	s := MetricsSnapshot{
		Lookups:       make(map[Result]uint64, len(Results)),
		CacheHits:     m.cacheHits.Load(),
		CacheMisses:   m.cacheMisses.Load(),
		Coalesced:     m.coalesced.Load(),
		DurationCount: m.count.Load(),
		DurationSum:   time.Duration(m.sumNanos.Load()).Seconds(),
	}
	for i, r := range Results {
		s.Lookups[r] = m.lookups[i].Load()
	}
	var cum uint64
	for i := range DurationBuckets {
		cum += m.buckets[i].Load()
		s.DurationCounts[i] = cum
	}
	return s
}
