package ttlcache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// value fetches "value of KEY" to keep for ttl, counting the fetches.
func value(fetches *int, key string, ttl time.Duration) func(context.Context) (string, time.Duration, error) {
	return func(context.Context) (string, time.Duration, error) {
		*fetches++
		return "value of " + key, ttl, nil
	}
}

func TestCache(t *testing.T) {
	type step struct {
		sleep   time.Duration // before the Get
		key     string
		ttl     time.Duration // what the fetch says, if it runs
		fail    bool
		wantSrc Source
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"hit within the TTL, miss after it", 4, []step{
			{key: "a", ttl: time.Minute, wantSrc: Fetched},
			{sleep: 59 * time.Second, key: "a", wantSrc: Hit},
			{sleep: time.Second, key: "a", ttl: time.Minute, wantSrc: Fetched},
		}},
		{"each entry has its own TTL", 4, []step{
			{key: "tag", ttl: time.Minute, wantSrc: Fetched},
			{key: "digest", ttl: time.Hour, wantSrc: Fetched},
			{sleep: 2 * time.Minute, key: "digest", wantSrc: Hit},
			{key: "tag", ttl: time.Minute, wantSrc: Fetched},
		}},
		{"least recently used evicted", 2, []step{
			{key: "a", ttl: time.Minute, wantSrc: Fetched},
			{key: "b", ttl: time.Minute, wantSrc: Fetched},
			{key: "a", wantSrc: Hit},
			{key: "c", ttl: time.Minute, wantSrc: Fetched},
			{key: "a", wantSrc: Hit},
			{key: "c", wantSrc: Hit},
			{key: "b", ttl: time.Minute, wantSrc: Fetched},
		}},
		{"failures are not cached", 2, []step{
			{key: "a", ttl: time.Minute, fail: true, wantSrc: Fetched},
			{key: "a", ttl: time.Minute, wantSrc: Fetched},
			{key: "a", wantSrc: Hit},
		}},
		{"no TTL, not kept", 2, []step{
			{key: "a", wantSrc: Fetched},
			{key: "a", wantSrc: Fetched},
		}},
		{"size zero keeps nothing", 0, []step{
			{key: "a", ttl: time.Minute, wantSrc: Fetched},
			{key: "a", ttl: time.Minute, wantSrc: Fetched},
		}},
	}
	errBoom := errors.New("boom")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := New[string](tc.max, time.Second, time.Now)
				for i, s := range tc.steps {
					time.Sleep(s.sleep)
					v, src, err := c.Get(t.Context(), s.key, func(context.Context) (string, time.Duration, error) {
						if s.fail {
							return "", s.ttl, errBoom
						}
						return "value of " + s.key, s.ttl, nil
					})
					if src != s.wantSrc {
						t.Fatalf("step %d Get(%q): source %d, want %d", i, s.key, src, s.wantSrc)
					}
					if s.fail {
						if !errors.Is(err, errBoom) {
							t.Fatalf("step %d: err %v, want boom", i, err)
						}
						continue
					}
					if err != nil || v != "value of "+s.key {
						t.Fatalf("step %d Get(%q) = %q, %v", i, s.key, v, err)
					}
					if n := c.Len(); n > tc.max {
						t.Fatalf("step %d: %d entries, bound %d", i, n, tc.max)
					}
				}
			})
		})
	}
}

// TestCoalesces: concurrent misses of one key make one fetch, and a caller
// that gives up does not fail the others.
func TestCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New[string](16, time.Minute, time.Now)
		release := make(chan struct{})
		fetches := 0
		fetch := func(ctx context.Context) (string, time.Duration, error) {
			fetches++
			select {
			case <-release:
				return "v", time.Minute, nil
			case <-ctx.Done():
				return "", 0, ctx.Err()
			}
		}
		short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, src, err := c.Get(short, "k", fetch); !errors.Is(err, context.DeadlineExceeded) || src != Fetched {
			t.Fatalf("short caller: %v, source %d", err, src)
		}
		const callers = 16
		var wg sync.WaitGroup
		errs := make([]error, callers)
		for i := range callers {
			wg.Go(func() {
				v, src, err := c.Get(t.Context(), "k", fetch)
				if err == nil && (v != "v" || src != Shared) {
					err = fmt.Errorf("value %q, source %d", v, src)
				}
				errs[i] = err
			})
		}
		synctest.Wait() // every caller waits on the one fetch
		close(release)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
		}
		if fetches != 1 {
			t.Errorf("%d fetches, want 1", fetches)
		}
		if _, src, _ := c.Get(t.Context(), "k", fetch); src != Hit {
			t.Errorf("after the shared fetch: source %d, want a hit", src)
		}
	})
}

// TestFetchTimeout: a fetch that outlives the cache's timeout sees its
// context end although no caller gave up.
func TestFetchTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New[string](16, time.Second, time.Now)
		_, _, err := c.Get(t.Context(), "k", func(ctx context.Context) (string, time.Duration, error) {
			<-ctx.Done()
			return "", 0, ctx.Err()
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want the fetch's deadline", err)
		}
	})
}

func TestPanicBecomesError(t *testing.T) {
	c := New[string](16, time.Second, time.Now)
	if _, _, err := c.Get(t.Context(), "k", func(context.Context) (string, time.Duration, error) { panic("boom") }); err == nil {
		t.Fatal("no error")
	}
	fetches := 0
	if v, _, err := c.Get(t.Context(), "k", value(&fetches, "k", time.Minute)); err != nil || v != "value of k" || fetches != 1 {
		t.Fatalf("after a panic: %q, %v, %d fetches", v, err, fetches)
	}
}

// TestPeekPut: Put stores what Peek returns until the TTL ends; a TTL of 0
// stores nothing; Get answers a Put entry as a hit.
func TestPeekPut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New[string](2, time.Second, time.Now)
		c.Put("none", "x", 0)
		if _, ok := c.Peek("none"); ok {
			t.Fatal("a TTL of 0 was kept")
		}
		c.Put("a", "token", time.Minute)
		if v, ok := c.Peek("a"); !ok || v != "token" {
			t.Fatalf("Peek = %q, %v; want token, true", v, ok)
		}
		if _, src, _ := c.Get(t.Context(), "a", nil); src != Hit {
			t.Fatalf("Get after Put: source %v, want Hit", src)
		}
		time.Sleep(time.Minute)
		if _, ok := c.Peek("a"); ok {
			t.Fatal("Peek returned an expired entry")
		}
	})
}
