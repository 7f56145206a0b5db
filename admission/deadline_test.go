package admission

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

func TestLazyDeadlineUnarmed(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	d := time.Now().Add(30 * time.Millisecond)
	ctx := withLazyDeadline(parent, d)
	defer ctx.release()
	if got, ok := ctx.Deadline(); !ok || !got.Equal(d) {
		t.Fatalf("Deadline() = %v, %v; want %v, true", got, ok, d)
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("Err() before the deadline = %v", err)
	}
	if v := ctx.Value(ctxKey{}); v != "v" {
		t.Fatalf("Value = %v, want the parent's", v)
	}
	time.Sleep(40 * time.Millisecond)
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Err() after the deadline, never armed = %v, want DeadlineExceeded", err)
	}
	if a, _ := ctx.current(); a != nil {
		t.Fatal("Deadline and Err started the timer")
	}
	if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Cause after the deadline = %v, want DeadlineExceeded", err)
	}
}

func TestLazyDeadlineValueDoesNotArm(t *testing.T) {
	ctx := withLazyDeadline(context.WithValue(context.Background(), ctxKey{}, "v"), time.Now().Add(time.Hour))
	defer ctx.release()
	if v := ctx.Value(ctxKey{}); v != "v" {
		t.Fatalf("Value = %v", v)
	}
	if context.Cause(ctx) != nil {
		t.Fatalf("Cause before the deadline = %v", context.Cause(ctx))
	}
	if a, _ := ctx.current(); a != nil {
		t.Fatal("Value before the deadline started the timer")
	}
}

func TestLazyDeadlineDoneFires(t *testing.T) {
	ctx := withLazyDeadline(context.Background(), time.Now().Add(20*time.Millisecond))
	defer ctx.release()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Err() = %v, want DeadlineExceeded", err)
	}
	// A context derived from it sees the deadline too.
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	if !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("child Err() = %v", child.Err())
	}
}

func TestLazyDeadlineParentCancel(t *testing.T) {
	for _, armed := range []bool{false, true} {
		parent, cancel := context.WithCancel(context.Background())
		ctx := withLazyDeadline(parent, time.Now().Add(time.Hour))
		if armed {
			ctx.Done()
		}
		cancel()
		if err := ctx.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("armed=%v: Err() after the parent was cancelled = %v", armed, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("armed=%v: Done not closed after the parent was cancelled", armed)
		}
		ctx.release()
	}
}

func TestLazyDeadlineRelease(t *testing.T) {
	for _, armed := range []bool{false, true} {
		ctx := withLazyDeadline(context.Background(), time.Now().Add(time.Hour))
		if armed {
			ctx.Done()
		}
		ctx.release()
		if err := ctx.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("armed=%v: Err() after release = %v, want Canceled", armed, err)
		}
		if err := context.Cause(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("armed=%v: Cause after release = %v, want Canceled", armed, err)
		}
		select {
		case <-ctx.Done():
		default:
			t.Fatalf("armed=%v: Done open after release", armed)
		}
	}
}

func TestLazyDeadlineParentEarlier(t *testing.T) {
	pd := time.Now().Add(time.Minute)
	parent, cancel := context.WithDeadline(context.Background(), pd)
	defer cancel()
	ctx := withLazyDeadline(parent, pd.Add(time.Hour))
	defer ctx.release()
	if got, _ := ctx.Deadline(); !got.Equal(pd) {
		t.Fatalf("Deadline() = %v, want the parent's %v", got, pd)
	}
}
