package admission

import (
	"context"
	"sync"
	"time"
)

// lazyDeadline is context.WithDeadline(parent, deadline) whose timer is
// only started when someone waits on Done: most reviews make no lookup,
// and starting and stopping a timer (and registering with the parent) for
// each was a measurable part of their CPU. Deadline and Err answer without
// arming: Err reports the deadline as exceeded once it has passed.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time

	mu       sync.Mutex
	armed    context.Context // nil until Done is first called
	cancel   context.CancelFunc
	released bool
}

func withLazyDeadline(parent context.Context, d time.Time) *lazyDeadline {
	return &lazyDeadline{parent: parent, deadline: d}
}

func (c *lazyDeadline) arm() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed == nil {
		c.armed, c.cancel = context.WithDeadline(c.parent, c.deadline)
		if c.released {
			c.cancel() // as a released context.WithDeadline would be
		}
	}
	return c.armed
}

// current is the armed context, or nil; released says release ran.
func (c *lazyDeadline) current() (armed context.Context, released bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armed, c.released
}

func (c *lazyDeadline) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *lazyDeadline) Done() <-chan struct{} { return c.arm().Done() }

func (c *lazyDeadline) Err() error {
	a, released := c.current()
	if a != nil {
		return a.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	if released {
		return context.Canceled
	}
	return nil
}

func (c *lazyDeadline) Value(key any) any {
	a, released := c.current()
	if a == nil && (released || !time.Now().Before(c.deadline)) {
		// Done: arm, so that context.Cause (which finds the cancelling
		// context through Value) reports why.
		a = c.arm()
	}
	if a != nil {
		return a.Value(key)
	}
	return c.parent.Value(key)
}

// release is the context's cancel: it stops the timer, if it was started.
func (c *lazyDeadline) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = true
	if c.cancel != nil {
		c.cancel()
	}
}
