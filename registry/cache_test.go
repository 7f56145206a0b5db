package registry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time          { return f.t }
func (f *fakeClock) advance(d time.Duration) { f.t = f.t.Add(d) }

func TestCache(t *testing.T) {
	v := func(s string) *ImageConfig { return &ImageConfig{Entrypoint: []string{s}} }
	type step struct {
		op      string // put, get, advance
		key     string
		ttl     time.Duration
		wantHit bool
		wantVal string
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"hit then expiry", 4, []step{
			{op: "put", key: "a", ttl: time.Minute},
			{op: "get", key: "a", wantHit: true, wantVal: "a"},
			{op: "advance", ttl: 59 * time.Second},
			{op: "get", key: "a", wantHit: true, wantVal: "a"},
			{op: "advance", ttl: time.Second},
			{op: "get", key: "a"},
		}},
		{"digest entries live longer", 4, []step{
			{op: "put", key: "tag", ttl: time.Minute},
			{op: "put", key: "digest", ttl: time.Hour},
			{op: "advance", ttl: 2 * time.Minute},
			{op: "get", key: "tag"},
			{op: "get", key: "digest", wantHit: true, wantVal: "digest"},
		}},
		{"least recently used evicted", 2, []step{
			{op: "put", key: "a", ttl: time.Minute},
			{op: "put", key: "b", ttl: time.Minute},
			{op: "get", key: "a", wantHit: true, wantVal: "a"},
			{op: "put", key: "c", ttl: time.Minute},
			{op: "get", key: "b"},
			{op: "get", key: "a", wantHit: true, wantVal: "a"},
			{op: "get", key: "c", wantHit: true, wantVal: "c"},
		}},
		{"put refreshes", 2, []step{
			{op: "put", key: "a", ttl: time.Minute},
			{op: "advance", ttl: 50 * time.Second},
			{op: "put", key: "a", ttl: time.Minute},
			{op: "advance", ttl: 50 * time.Second},
			{op: "get", key: "a", wantHit: true, wantVal: "a"},
		}},
		{"size zero disables", 0, []step{
			{op: "put", key: "a", ttl: time.Minute},
			{op: "get", key: "a"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1000, 0)}
			c := newCache(tt.max, clk.now)
			for i, s := range tt.steps {
				switch s.op {
				case "put":
					c.put(s.key, v(s.key), s.ttl)
				case "advance":
					clk.advance(s.ttl)
				case "get":
					got, ok := c.get(s.key)
					if ok != s.wantHit || (ok && got.Entrypoint[0] != s.wantVal) {
						t.Fatalf("step %d get(%q) = %v, %v; want hit %v", i, s.key, got, ok, s.wantHit)
					}
				}
				if c.len() > tt.max {
					t.Fatalf("step %d: %d entries, bound %d", i, c.len(), tt.max)
				}
			}
		})
	}
}

func TestFlightGroup(t *testing.T) {
	t.Run("concurrent callers share one call", func(t *testing.T) {
		var g flightGroup
		var calls atomic.Int32
		release := make(chan struct{})
		const n = 50
		var wg sync.WaitGroup
		var shared atomic.Int32
		started := make(chan struct{}, n)
		for range n {
			wg.Go(func() {
				started <- struct{}{}
				v, err, sh := g.do(t.Context(), "k", func() (*ImageConfig, error) {
					calls.Add(1)
					<-release
					return &ImageConfig{Cmd: []string{"x"}}, nil
				})
				if err != nil || v.Cmd[0] != "x" {
					t.Errorf("got %v, %v", v, err)
				}
				if sh {
					shared.Add(1)
				}
			})
		}
		for range n {
			<-started
		}
		// Wait until every goroutine is registered as a waiter or leader.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			g.mu.Lock()
			registered := len(g.calls) == 1
			g.mu.Unlock()
			if registered && calls.Load() == 1 {
				break
			}
		}
		close(release)
		wg.Wait()
		if calls.Load() < 1 || int(calls.Load())+int(shared.Load()) != n {
			t.Fatalf("%d calls, %d shared, want calls + shared = %d", calls.Load(), shared.Load(), n)
		}
	})
	t.Run("a waiter whose context ends leaves; the call finishes", func(t *testing.T) {
		var g flightGroup
		release := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			v, err, _ := g.do(t.Context(), "k", func() (*ImageConfig, error) {
				<-release
				return &ImageConfig{}, nil
			})
			if err != nil || v == nil {
				t.Errorf("leader got %v, %v", v, err)
			}
		}()
		for {
			g.mu.Lock()
			n := len(g.calls)
			g.mu.Unlock()
			if n == 1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err, shared := g.do(ctx, "k", nil); !errors.Is(err, context.Canceled) || !shared {
			t.Fatalf("waiter: err %v shared %v", err, shared)
		}
		close(release)
		<-done
	})
	t.Run("panic becomes an error", func(t *testing.T) {
		var g flightGroup
		_, err, _ := g.do(t.Context(), "k", func() (*ImageConfig, error) { panic("boom") })
		if err == nil {
			t.Fatal("no error")
		}
	})
}
