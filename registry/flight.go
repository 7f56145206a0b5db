package registry

import (
	"context"
	"fmt"
	"sync"
)

// flightGroup coalesces concurrent calls with the same key into one
// execution of fn (a hand-written singleflight). Waiters that give up
// (their context ends) leave; the execution carries on for the others.
type flightGroup struct {
	mu    sync.Mutex
	calls map[string]*flightCall
}

type flightCall struct {
	done  chan struct{}
	value *ImageConfig
	err   error
}

// do runs fn once for all concurrent callers of key. shared reports whether
// this caller waited on another caller's execution.
func (g *flightGroup) do(ctx context.Context, key string, fn func() (*ImageConfig, error)) (value *ImageConfig, err error, shared bool) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flightCall{}
	}
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.value, c.err, true
		case <-ctx.Done():
			return nil, ctx.Err(), true
		}
	}
	c := &flightCall{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()

	go func() {
		defer func() {
			if r := recover(); r != nil {
				c.value, c.err = nil, fmt.Errorf("failed to look up image: internal error: %v", r)
			}
			g.mu.Lock()
			delete(g.calls, key)
			g.mu.Unlock()
			close(c.done)
		}()
		c.value, c.err = fn()
	}()
	select {
	case <-c.done:
		return c.value, c.err, false
	case <-ctx.Done():
		return nil, ctx.Err(), false
	}
}
