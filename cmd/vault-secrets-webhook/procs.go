package main

import (
	"context"
	"runtime"
	"runtime/metrics"
	"time"
)

// Cores.
//
// One P answers reviews with the least CPU each and the lowest tail
// latency as long as they do not queue for it; when they do (a burst of pod
// creations), the runtime's default number of Ps (the CPUs, or the cgroup's
// CPU limit) answers more of them. scaleProcs switches between the two by
// watching how long goroutines wait to run (runtime/metrics
// /sched/latencies:seconds): measured with loadgen, refs pod, one P, a tick
// of 25ms: 8 concurrent reviews wait 1ms or more for under 0.5% of their
// schedulings, 64 for 13-17%; on two Ps, 0.3% and 8-10%.
const (
	procsTick  = 25 * time.Millisecond
	queuedWait = time.Millisecond // a wait this long means the P is oversubscribed
	upShare    = 0.05             // share of waits >= queuedWait that counts as queuing
	downShare  = 0.01             // share under which a tick counts as calm
	upTicks    = 2                // queuing ticks in a row before using every P
	downTicks  = 40               // calm ticks in a row (1s) before going back to one
	minEvents  = 50               // fewer recorded schedulings in a tick (the runtime records about one in eight): idle, calm
)

// procScaler decides the number of Ps from one tick's waits at a time.
type procScaler struct {
	max, procs    int
	queued, calmN int // ticks in a row
}

// next takes the share of schedulings during one tick that waited at least
// queuedWait, and how many schedulings there were, and returns the number
// of Ps to run with.
func (s *procScaler) next(share float64, events uint64) int {
	switch {
	case events >= minEvents && share >= upShare:
		s.queued++
		s.calmN = 0
	case events < minEvents || share < downShare:
		s.calmN++
		s.queued = 0
	default:
		s.queued, s.calmN = 0, 0
	}
	switch {
	case s.procs < s.max && s.queued >= upTicks:
		s.procs = s.max
	case s.procs > 1 && s.calmN >= downTicks:
		s.procs = 1
	}
	return s.procs
}

// waitShare compares two readings of a cumulative wait histogram: it
// returns how many waits were added and the share of them in buckets that
// start at or above threshold (seconds). prev may be nil (the first tick
// counts from the start of the process).
func waitShare(prev, cur []uint64, buckets []float64, threshold float64) (share float64, events uint64) {
	var over uint64
	for i, c := range cur {
		if i < len(prev) {
			c -= prev[i]
		}
		events += c
		if buckets[i] >= threshold { // bucket i is [buckets[i], buckets[i+1])
			over += c
		}
	}
	if events == 0 {
		return 0, 0
	}
	return float64(over) / float64(events), events
}

// scaleProcs runs with one P and switches to max Ps while reviews queue,
// until ctx is done. It returns at once when max is 1 or the runtime does
// not report scheduling latencies.
func scaleProcs(ctx context.Context, max int) {
	sample := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(sample)
	if max <= 1 || sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return
	}
	s := &procScaler{max: max, procs: runtime.GOMAXPROCS(0)}
	prev := append([]uint64(nil), sample[0].Value.Float64Histogram().Counts...)
	t := time.NewTicker(procsTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		h := sample[0].Value.Float64Histogram()
		share, n := waitShare(prev, h.Counts, h.Buckets, queuedWait.Seconds())
		prev = append(prev[:0], h.Counts...)
		if p := s.next(share, n); p != runtime.GOMAXPROCS(0) {
			runtime.GOMAXPROCS(p)
		}
	}
}
