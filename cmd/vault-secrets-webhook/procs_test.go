package main

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestProcScaler(t *testing.T) {
	type tick struct {
		share  float64
		events uint64
	}
	repeat := func(n int, tk tick) []tick {
		out := make([]tick, n)
		for i := range out {
			out[i] = tk
		}
		return out
	}
	var (
		queued = tick{0.15, 300}  // 64 concurrent reviews on one P
		calm   = tick{0.003, 300} // 8 concurrent reviews
		busy   = tick{0.03, 300}  // in between: neither
		idle   = tick{0, 0}
		few    = tick{1, 10} // too few schedulings to mean anything
	)
	for _, tc := range []struct {
		name  string
		max   int
		ticks []tick
		want  []int // procs after each tick; nil: 1 throughout
	}{
		{name: "calm stays on one", max: 2, ticks: repeat(100, calm)},
		{name: "one queued tick is not enough", max: 2, ticks: []tick{queued, calm, queued, calm}},
		{name: "two queued ticks scale up", max: 4, ticks: []tick{queued, queued, queued}, want: []int{1, 4, 4}},
		{name: "few schedulings are not queuing", max: 2, ticks: repeat(10, few)},
		{name: "max 1 never changes", max: 1, ticks: repeat(10, queued)},
		{
			name: "down after a calm second", max: 2,
			ticks: append(append([]tick{queued, queued}, repeat(downTicks-1, calm)...), calm, calm),
			want:  append(append([]int{1, 2}, repeatInt(downTicks-1, 2)...), 1, 1),
		},
		{
			name: "idle counts as calm", max: 2,
			ticks: append([]tick{queued, queued}, repeat(downTicks, idle)...),
			want:  append(append([]int{1, 2}, repeatInt(downTicks-1, 2)...), 1),
		},
		{
			name: "a busy tick restarts the calm count", max: 2,
			ticks: append(append(append([]tick{queued, queued}, repeat(downTicks-1, calm)...), busy), repeat(downTicks-1, calm)...),
			want:  append([]int{1}, repeatInt(2*downTicks, 2)...),
		},
		{name: "queuing on max Ps stays", max: 2, ticks: repeat(200, tick{0.09, 300}), want: append([]int{1}, repeatInt(199, 2)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &procScaler{max: tc.max, procs: 1}
			for i, tk := range tc.ticks {
				want := 1
				if tc.want != nil {
					want = tc.want[i]
				}
				if got := s.next(tk.share, tk.events); got != want {
					t.Fatalf("tick %d (share %.3f of %d): %d Ps, want %d", i, tk.share, tk.events, got, want)
				}
			}
		})
	}
}

func repeatInt(n, v int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestWaitShare(t *testing.T) {
	buckets := []float64{math.Inf(-1), 0, 0.0005, 0.001, 0.002, math.Inf(1)}
	prev := []uint64{0, 10, 5, 1, 0}
	cur := []uint64{0, 100, 25, 11, 4}
	share, n := waitShare(prev, cur, buckets, 0.001)
	if n != 124 || share != 14.0/124 {
		t.Fatalf("waitShare = %v of %d, want %v of 124", share, n, 14.0/124)
	}
	if share, n := waitShare(nil, cur, buckets, 0.001); n != 140 || share != 15.0/140 {
		t.Fatalf("waitShare from nil = %v of %d", share, n)
	}
	if share, n := waitShare(cur, cur, buckets, 0.001); n != 0 || share != 0 {
		t.Fatalf("waitShare of no change = %v of %d", share, n)
	}
}

// TestScaleProcs runs the scaler against the real runtime: goroutines that
// keep one P oversubscribed make it use every P, and it goes back to one
// when they stop.
func TestScaleProcs(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	old := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { scaleProcs(ctx, 2); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor := func(want int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for runtime.GOMAXPROCS(0) != want {
			if time.Now().After(deadline) {
				t.Fatalf("GOMAXPROCS still %d after %v, want %d", runtime.GOMAXPROCS(0), within, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// 128 goroutines that compute in slices of about 10us and yield: each
	// waits for the other 127 (over 1ms) between its slices, and there
	// are enough schedulings per tick for the runtime's sampling (it
	// records one in eight) even when the machine gives this process a
	// fraction of a core.
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for end := time.Now().Add(10 * time.Microsecond); time.Now().Before(end); {
				}
				runtime.Gosched()
			}
		}()
	}
	waitFor(2, 10*time.Second)
	stop.Store(true)
	wg.Wait()
	waitFor(1, 10*time.Second)
}

// TestScaleProcsOff: with one P to scale to (GOMAXPROCS set, or one CPU)
// the scaler returns at once and leaves GOMAXPROCS alone.
func TestScaleProcsOff(t *testing.T) {
	old := runtime.GOMAXPROCS(3)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	done := make(chan struct{})
	go func() { scaleProcs(context.Background(), 1); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("scaleProcs(ctx, 1) did not return")
	}
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("GOMAXPROCS %d, want 3 (untouched)", got)
	}
}
