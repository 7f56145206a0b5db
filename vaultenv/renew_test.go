package vaultenv

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

func TestWatch(t *testing.T) {
	tests := []struct {
		name    string
		ttl     time.Duration
		answers []time.Duration // successive renewal TTLs; an answer < 0 is an error
		wantEnd bool
		minRuns int
	}{
		{name: "capped by max TTL ends", ttl: 150 * time.Millisecond, answers: []time.Duration{150 * time.Millisecond, 60 * time.Millisecond}, wantEnd: true, minRuns: 2},
		{name: "failing renewals end at expiry", ttl: 150 * time.Millisecond, answers: []time.Duration{-1}, wantEnd: true, minRuns: 2},
		{name: "transient failure recovers", ttl: 300 * time.Millisecond, answers: []time.Duration{-1, 300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}, wantEnd: false, minRuns: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				renew := func(ctx context.Context, inc time.Duration) (time.Duration, error) {
					i := int(calls.Add(1)) - 1
					a := tt.answers[min(i, len(tt.answers)-1)]
					if a < 0 {
						return 0, errors.New("renewal refused")
					}
					return a, nil
				}
				ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
				defer cancel()
				err := watch(ctx, watched{name: "x", ttl: tt.ttl, renew: renew, fatal: true}, discardLog())
				if got := errors.Is(err, ErrLeaseEnded); got != tt.wantEnd {
					t.Fatalf("err = %v, want ended=%t", err, tt.wantEnd)
				}
				if int(calls.Load()) < tt.minRuns {
					t.Fatalf("%d renewals, want at least %d", calls.Load(), tt.minRuns)
				}
			})
		})
	}
}

func TestWatchAllTokenAndLeases(t *testing.T) { synctest.Test(t, testWatchAllTokenAndLeases) }

func testWatchAllTokenAndLeases(t *testing.T) {
	f := newFakeVault()
	var tokenRenewals, leaseRenewals atomic.Int32
	f.writes["auth/token/renew-self"] = func(d map[string]any) (*vault.Secret, error) {
		tokenRenewals.Add(1)
		return &vault.Secret{Auth: &vault.Auth{ClientToken: []byte("t"), LeaseDuration: time.Second, Renewable: true}}, nil
	}
	f.writes["sys/leases/renew"] = func(d map[string]any) (*vault.Secret, error) {
		if d["lease_id"] != "db/creds/L" {
			t.Errorf("lease_id = %v", d["lease_id"])
		}
		n := leaseRenewals.Add(1)
		if n >= 2 {
			return &vault.Secret{LeaseDuration: 0}, nil // at max TTL
		}
		return &vault.Secret{LeaseDuration: 300 * time.Millisecond}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := &Session{TTL: time.Second, Renewable: true}
	leases := []Lease{{ID: "db/creds/L", TTL: 300 * time.Millisecond, Renewable: true}, {ID: "pki/not-renewable", TTL: time.Millisecond}}
	err := watchAll(ctx, f, s, leases, discardLog())
	if !errors.Is(err, ErrLeaseEnded) {
		t.Fatalf("err = %v, want ErrLeaseEnded", err)
	}
	if leaseRenewals.Load() != 2 {
		t.Fatalf("%d lease renewals, want 2", leaseRenewals.Load())
	}
	if f.count("write sys/leases/renew") != 2 {
		t.Fatalf("calls: %q", f.calls)
	}
}

// TestWatchRevokedEndsNow: a renewal refused because the lease was revoked
// ends the watch at once, not at the lease's old expiry; a lease that still
// exists is retried until the TTL its lookup reports.
func TestWatchRevokedEndsNow(t *testing.T) {
	tests := []struct {
		name    string
		lookup  lookupFunc
		minTime time.Duration
		maxTime time.Duration
	}{
		{name: "revoked", lookup: func(context.Context) (time.Duration, error) {
			return 0, &vault.StatusError{Code: 400, Messages: []string{"invalid lease"}}
		}, maxTime: 0},
		{name: "still valid, but not renewable", lookup: func(context.Context) (time.Duration, error) {
			return 500 * time.Millisecond, nil
		}, minTime: 500 * time.Millisecond, maxTime: 500 * time.Millisecond},
		{name: "lookup cannot extend the known expiry", lookup: func(context.Context) (time.Duration, error) {
			return time.Hour, nil
		}, minTime: time.Second, maxTime: time.Second},
		{name: "lookup unavailable", lookup: func(context.Context) (time.Duration, error) {
			return 0, &vault.StatusError{Code: 503}
		}, minTime: time.Second, maxTime: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				renew := func(context.Context, time.Duration) (time.Duration, error) {
					return 0, &vault.StatusError{Code: 400, Messages: []string{"lease not found"}}
				}
				began := time.Now()
				err := watch(context.Background(), watched{name: "x", ttl: 3 * time.Second, renew: renew, lookup: tt.lookup, fatal: true}, discardLog())
				el := time.Since(began)
				if !errors.Is(err, ErrLeaseEnded) {
					t.Fatalf("err = %v", err)
				}
				// The first renewal is at 2/3 of 3 s = 2 s (the bubble's clock:
				// no real waiting, and no slack for a busy machine).
				if el < 2*time.Second+tt.minTime || el > 2*time.Second+tt.maxTime {
					t.Errorf("ended after %s, want %s to %s", el, 2*time.Second+tt.minTime, 2*time.Second+tt.maxTime)
				}
			})
		})
	}
}
