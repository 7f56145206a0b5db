package admission

import (
	"context"
	"errors"
	"io"
	"time"
)

// Budget bounds what concurrent reviews may hold, so that the webhook stays
// within its memory limit whatever clients send and reviews from the
// apiserver are answered while others misbehave:
//
//   - at most maxInFlight reviews are read or decided at once (a review
//     waits up to BudgetWait for a slot, else gets 503);
//   - each review's first FreeBodyBytes are covered by its slot; every
//     further BudgetChunk of body is taken from a shared byte budget before
//     it is read, as it arrives (waiting up to BudgetWait, else 503), and
//     given back when the review is answered;
//   - a body must have arrived BodyReadTimeout after the request started
//     (else 408), so a slow body cannot hold its slot and bytes for long.
//
// A review of the usual size (a few KiB) never waits on the byte budget:
// clients trickling 4 MiB bodies exhaust it and are refused, the
// apiserver's small reviews go on. The slot bound is what remains shared.
type Budget struct {
	slots  chan struct{}
	chunks chan struct{}
}

// Budget sizes and timings; see Budget.
const (
	DefaultMaxInFlight = 128
	DefaultBodyBudget  = 16 << 20
	FreeBodyBytes      = 64 << 10
	BudgetChunk        = 64 << 10
	BudgetWait         = time.Second
	BodyReadTimeout    = 5 * time.Second
)

// errBusy is returned when a slot or body bytes were not free in time.
var errBusy = errors.New("too many reviews or body bytes in flight")

// NewBudget bounds reviews in flight and body bytes held beyond each
// review's first FreeBodyBytes.
func NewBudget(maxInFlight int, bodyBytes int64) *Budget {
	return &Budget{
		slots:  make(chan struct{}, max(maxInFlight, 1)),
		chunks: make(chan struct{}, max(bodyBytes/BudgetChunk, 1)),
	}
}

// acquire puts a token into ch, waiting at most BudgetWait.
func acquire(ctx context.Context, ch chan struct{}) bool {
	select {
	case ch <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(BudgetWait)
	defer t.Stop()
	select {
	case ch <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// enter takes a review slot; a nil Budget bounds nothing.
func (b *Budget) enter(ctx context.Context) error {
	if b == nil || acquire(ctx, b.slots) {
		return nil
	}
	return errBusy
}

func (b *Budget) leave() {
	if b != nil {
		<-b.slots
	}
}

// budgetReader reads a body, taking a chunk of the byte budget before each
// BudgetChunk beyond the first FreeBodyBytes.
type budgetReader struct {
	ctx     context.Context
	b       *Budget
	r       io.Reader
	allowed int64 // bytes that may be read
	read    int64
	held    int // chunks taken
}

func (b *Budget) reader(ctx context.Context, r io.Reader) *budgetReader {
	return &budgetReader{ctx: ctx, b: b, r: r, allowed: FreeBodyBytes}
}

func (br *budgetReader) Read(p []byte) (int, error) {
	if br.b != nil && br.read >= br.allowed {
		if !acquire(br.ctx, br.b.chunks) {
			return 0, errBusy
		}
		br.held++
		br.allowed += BudgetChunk
	}
	if br.b != nil && int64(len(p)) > br.allowed-br.read {
		p = p[:br.allowed-br.read]
	}
	n, err := br.r.Read(p)
	br.read += int64(n)
	return n, err
}

// release gives the chunks back.
func (br *budgetReader) release() {
	for range br.held {
		<-br.b.chunks
	}
	br.held = 0
}
