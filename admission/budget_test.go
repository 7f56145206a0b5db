package admission

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"
)

// TestBudgetReader: the first FreeBodyBytes need no budget (the read that
// sees the end counts: a body of exactly that size takes a chunk); beyond them a
// body takes chunks as it is read and gives them back on release; when the
// budget is spent, the read fails with errBusy instead of buffering more.
func TestBudgetReader(t *testing.T) { synctest.Test(t, testBudgetReader) }

func testBudgetReader(t *testing.T) {
	b := NewBudget(4, 2*BudgetChunk)
	ctx := context.Background()

	small := b.reader(ctx, strings.NewReader(strings.Repeat("a", FreeBodyBytes-1)))
	if _, err := io.ReadAll(small); err != nil || small.held != 0 {
		t.Fatalf("small body: err %v, %d chunks held, want none", err, small.held)
	}

	big := b.reader(ctx, bytes.NewReader(make([]byte, FreeBodyBytes+2*BudgetChunk-1)))
	if _, err := io.ReadAll(big); err != nil || big.held != 2 {
		t.Fatalf("body of the whole budget: err %v, %d chunks held, want 2", err, big.held)
	}
	over := b.reader(ctx, bytes.NewReader(make([]byte, FreeBodyBytes+1)))
	if _, err := io.ReadAll(over); !errors.Is(err, errBusy) {
		t.Fatalf("body beyond a spent budget: err %v, want errBusy", err)
	}
	big.release()
	again := b.reader(ctx, bytes.NewReader(make([]byte, FreeBodyBytes+1)))
	if _, err := io.ReadAll(again); err != nil || again.held != 1 {
		t.Fatalf("after release: err %v, %d chunks held, want 1", err, again.held)
	}
	again.release()
}

func TestBudgetSlots(t *testing.T) {
	b := NewBudget(1, BudgetChunk)
	ctx := context.Background()
	if err := b.enter(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.enter(cctx); !errors.Is(err, errBusy) {
		t.Fatalf("second review with one slot: %v, want errBusy", err)
	}
	b.leave()
	if err := b.enter(ctx); err != nil {
		t.Fatalf("after leave: %v", err)
	}
	var none *Budget
	if err := none.enter(ctx); err != nil {
		t.Fatalf("nil budget: %v", err)
	}
}
