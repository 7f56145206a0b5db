package main

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/promtext"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/registry"
)

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const userHZ = 100

// processMetrics writes go_goroutines and the cheap standard process_*
// metrics. Each read of /proc is one small file; a metric whose source
// cannot be read is left out rather than reported as zero.
type processMetrics struct {
	start    time.Time // process start, from /proc when available
	pageSize int
}

// newProcessMetrics reads the process start time once: /proc/self/stat's
// starttime (ticks since boot) plus /proc/stat's btime; fallback is now.
func newProcessMetrics(now time.Time) *processMetrics {
	p := &processMetrics{start: now, pageSize: os.Getpagesize()}
	if t, ok := procStartTime(); ok {
		p.start = t
	}
	return p
}

func procStartTime() (time.Time, bool) {
	f, ok := procStatFields()
	if !ok || len(f) < 20 {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64) // field 22 of stat
	if err != nil {
		return time.Time{}, false
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			btime, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			ns := int64(ticks) * int64(time.Second) / userHZ
			return time.Unix(btime, ns), true
		}
	}
	return time.Time{}, false
}

// procStatFields returns /proc/self/stat's fields after the command name
// (which may hold spaces): index 0 is field 3 (state).
func procStatFields() ([]string, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

func (p *processMetrics) write(w io.Writer) {
	promtext.GaugeValue(w, "go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	if f, ok := procStatFields(); ok && len(f) > 12 {
		utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
		stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
		if err1 == nil && err2 == nil {
			promtext.Family(w, "process_cpu_seconds_total", promtext.Counter, "Total user and system CPU time spent in seconds.")
			promtext.Sample(w, "process_cpu_seconds_total", promtext.Float(float64(utime+stime)/userHZ))
		}
	}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 2 {
			size, err1 := strconv.ParseUint(f[0], 10, 64)
			rss, err2 := strconv.ParseUint(f[1], 10, 64)
			if err1 == nil && err2 == nil {
				promtext.GaugeValue(w, "process_virtual_memory_bytes", "Virtual memory size in bytes.", float64(size)*float64(p.pageSize))
				promtext.GaugeValue(w, "process_resident_memory_bytes", "Resident memory size in bytes.", float64(rss)*float64(p.pageSize))
			}
		}
	}
	promtext.GaugeValue(w, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", float64(p.start.UnixNano())/1e9)
}

// registryMetrics renders a registry client's Snapshot with the names the
// registry package suggests.
func registryMetrics(snap func() registry.MetricsSnapshot) func(w io.Writer) {
	return func(w io.Writer) {
		s := snap()
		promtext.Family(w, "vsw_registry_lookups_total", promtext.Counter, "Image config lookups (cached or not), by result.")
		for _, r := range registry.Results {
			promtext.Sample(w, "vsw_registry_lookups_total", promtext.Uint(s.Lookups[r]), "result", string(r))
		}
		promtext.CounterValue(w, "vsw_registry_cache_hits_total", "Image config lookups answered from the cache.", s.CacheHits)
		promtext.CounterValue(w, "vsw_registry_cache_misses_total", "Image config lookups that asked (or waited for) the registry.", s.CacheMisses)
		promtext.CounterValue(w, "vsw_registry_coalesced_total", "Cache misses that waited on another lookup's registry requests.", s.Coalesced)
		promtext.GaugeValue(w, "vsw_registry_cache_entries", "Image configs in the cache.", float64(s.CacheEntries))
		promtext.HistogramValue(w, "vsw_registry_lookup_duration_seconds", "Time of one image config lookup.",
			registry.DurationBuckets[:], s.DurationCounts[:], s.DurationCount, s.DurationSum)
	}
}
