package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for the cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestTTLCache(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		// steps: each is (advance clock, key, fetch fails); the want is
		// the number of fetches after all steps.
		steps []struct {
			advance time.Duration
			key     string
			fail    bool
		}
		wantFetches int
	}{
		{name: "hit within the TTL", steps: []struct {
			advance time.Duration
			key     string
			fail    bool
		}{{0, "a", false}, {time.Second, "a", false}, {time.Second - time.Millisecond, "a", false}}, wantFetches: 1},
		{name: "miss after the TTL", steps: []struct {
			advance time.Duration
			key     string
			fail    bool
		}{{0, "a", false}, {2 * time.Second, "a", false}}, wantFetches: 2},
		{name: "keys are separate", steps: []struct {
			advance time.Duration
			key     string
			fail    bool
		}{{0, "ns/a", false}, {0, "ns/b", false}, {0, "ns/a", false}}, wantFetches: 2},
		{name: "failures are not cached", steps: []struct {
			advance time.Duration
			key     string
			fail    bool
		}{{0, "a", true}, {0, "a", true}, {0, "a", false}, {0, "a", false}}, wantFetches: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1e9, 0)}
			c := newTTLCache[string](2*time.Second, 16, clock.now)
			fetches := 0
			for i, s := range tc.steps {
				clock.add(s.advance)
				v, err := c.get(context.Background(), s.key, func(context.Context) (string, error) {
					fetches++
					if s.fail {
						return "", errBoom
					}
					return "value of " + s.key, nil
				})
				if s.fail {
					if !errors.Is(err, errBoom) {
						t.Fatalf("step %d: err = %v, want boom", i, err)
					}
					continue
				}
				if err != nil || v != "value of "+s.key {
					t.Fatalf("step %d: %q, %v", i, v, err)
				}
			}
			if fetches != tc.wantFetches {
				t.Errorf("%d fetches, want %d", fetches, tc.wantFetches)
			}
		})
	}
}

// TestTTLCacheCoalesces: concurrent misses of one key make one fetch, and
// a caller that gives up does not fail the others.
func TestTTLCacheCoalesces(t *testing.T) {
	c := newTTLCache[string](2*time.Second, 16, time.Now)
	release := make(chan struct{})
	var fetches atomic.Int32
	fetch := func(ctx context.Context) (string, error) {
		fetches.Add(1)
		select {
		case <-release:
			return "v", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	// A caller with a short deadline starts the fetch and gives up.
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.get(short, "k", fetch); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("short caller: err = %v", err)
	}
	const callers = 16
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			v, err := c.get(context.Background(), "k", fetch)
			if err == nil && v != "v" {
				err = fmt.Errorf("value %q", v)
			}
			errs[i] = err
		})
	}
	// Let the waiters queue up behind the one fetch in flight, then finish it.
	deadline := time.Now().Add(5 * time.Second)
	for fetches.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

func TestTTLCacheBounded(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	const max = 8
	c := newTTLCache[int](2*time.Second, max, clock.now)
	for i := range 5 * max {
		if i == 2*max {
			clock.add(3 * time.Second) // everything so far expired
		}
		if _, err := c.get(context.Background(), fmt.Sprint(i), func(context.Context) (int, error) { return i, nil }); err != nil {
			t.Fatal(err)
		}
		if n := c.len(); n > max {
			t.Fatalf("after %d keys the cache holds %d entries, more than %d", i+1, n, max)
		}
	}
}
