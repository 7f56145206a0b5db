package vaultenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

// ErrLeaseEnded is returned (wrapped) by the renewal watcher when a lease or
// the token it depends on cannot be renewed any more.
var ErrLeaseEnded = errors.New("lease cannot be renewed any more")

// Renewal timing: renew after 2/3 of the TTL (in watch); retry a failed
// renewal after retryMin..retryMax while the lease is still valid.
const (
	retryMin = 250 * time.Millisecond
	retryMax = 5 * time.Second
)

// renewFunc renews something for increment and returns its new TTL.
type renewFunc func(ctx context.Context, increment time.Duration) (time.Duration, error)

// lookupFunc returns the remaining TTL of a token or lease.
type lookupFunc func(ctx context.Context) (time.Duration, error)

// watched is a token or lease kept alive in daemon mode.
type watched struct {
	name  string // for logs: "token" or the lease ID
	ttl   time.Duration
	renew renewFunc
	// lookup, after a failed renewal, tells whether the item still exists
	// and how long it has left (nil: assume the last known expiry).
	lookup lookupFunc
	// fatal: its end ends the application (leases, and the token when
	// leases depend on it).
	fatal bool
}

// watchAll renews the token and every renewable lease until ctx is done. It
// returns an error wrapping ErrLeaseEnded when a fatal item ends for good.
// Non-renewable leases are not watched: they end when they end.
func watchAll(ctx context.Context, v vault.Client, s *Session, leases []Lease, log *slog.Logger) error {
	var items []watched
	if s != nil && s.Renewable && s.TTL > 0 {
		items = append(items, watched{name: "token", ttl: s.TTL, renew: tokenRenewer(v), lookup: tokenLookup(v), fatal: len(leases) > 0})
	}
	for _, l := range leases {
		if l.Renewable && l.TTL > 0 {
			items = append(items, watched{name: l.ID, ttl: l.TTL, renew: leaseRenewer(v, l.ID), lookup: leaseLookup(v, l.ID), fatal: true})
		}
	}
	// Only a fatal end is sent: without one, this waits for ctx.
	ended := make(chan error, len(items))
	for _, it := range items {
		go func() {
			err := watch(ctx, it, log)
			if err != nil && it.fatal {
				ended <- err
			} else if err != nil {
				log.Warn("no longer renewed", "what", it.name, "error", err)
			}
		}()
	}
	select {
	case err := <-ended:
		return err
	case <-ctx.Done():
		return nil
	}
}

// watch keeps one item alive; it returns nil when ctx is done, or an error
// wrapping ErrLeaseEnded when the item expired for good.
func watch(ctx context.Context, it watched, log *slog.Logger) error {
	increment, ttl := it.ttl, it.ttl
	expire := time.Now().Add(ttl)
	for {
		if !sleepCtx(ctx, ttl*2/3) {
			return nil
		}
		newTTL, err := it.renew(ctx, increment)
		for wait := retryMin; err != nil; wait = min(2*wait, retryMax) {
			// Is it still there, and for how long? A revoked lease or token
			// ends the watch now rather than at its old expiry.
			if it.lookup != nil {
				left, lerr := it.lookup(ctx)
				switch c := vault.StatusCode(lerr); {
				case lerr == nil && left <= 0, c == 400 || c == 403 || c == 404:
					return fmt.Errorf("%s: %w: it is gone (%w)", it.name, ErrLeaseEnded, err)
				case lerr == nil:
					// Only ever shorten: a failed renewal extends nothing.
					if e := time.Now().Add(left); e.Before(expire) {
						expire = e
					}
				}
			}
			left := time.Until(expire)
			if left <= 0 {
				return fmt.Errorf("%s: %w: %w", it.name, ErrLeaseEnded, err)
			}
			log.Warn("renewal failed, retrying", "what", it.name, "error", err, "expires_in", left.Round(time.Second))
			if !sleepCtx(ctx, min(wait, left)) {
				return nil
			}
			newTTL, err = it.renew(ctx, increment)
		}
		log.Debug("renewed", "what", it.name, "ttl", newTTL)
		expire = time.Now().Add(newTTL)
		if newTTL <= 0 || newTTL < increment {
			// Capped by its max TTL: this was the last extension.
			log.Info("reached its maximum TTL; will end", "what", it.name, "in", newTTL)
			if !sleepCtx(ctx, time.Until(expire)) {
				return nil
			}
			return fmt.Errorf("%s: %w", it.name, ErrLeaseEnded)
		}
		ttl = newTTL
	}
}

// sleepCtx sleeps for d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func tokenRenewer(v vault.Client) renewFunc {
	return func(ctx context.Context, inc time.Duration) (time.Duration, error) {
		sec, err := v.Write(ctx, "auth/token/renew-self", map[string]any{"increment": int(inc / time.Second)})
		if err := checked(err, sec == nil || sec.Auth == nil, "renew token"); err != nil {
			return 0, err
		}
		clear(sec.Auth.ClientToken)
		return sec.Auth.LeaseDuration, nil
	}
}

func leaseRenewer(v vault.Client, id string) renewFunc {
	return func(ctx context.Context, inc time.Duration) (time.Duration, error) {
		sec, err := v.Write(ctx, "sys/leases/renew", map[string]any{"lease_id": id, "increment": int(inc / time.Second)})
		if err := checked(err, sec == nil, "renew lease"); err != nil {
			return 0, err
		}
		return sec.LeaseDuration, nil
	}
}

func tokenLookup(v vault.Client) lookupFunc {
	return func(ctx context.Context) (time.Duration, error) {
		sec, err := v.Read(ctx, "auth/token/lookup-self", nil)
		if err := checked(err, sec == nil, "look up token"); err != nil {
			return 0, err
		}
		return seconds(sec.Data["ttl"]), nil
	}
}

func leaseLookup(v vault.Client, id string) lookupFunc {
	return func(ctx context.Context) (time.Duration, error) {
		sec, err := v.Write(ctx, "sys/leases/lookup", map[string]any{"lease_id": id})
		if err := checked(err, sec == nil, "look up lease"); err != nil {
			return 0, err
		}
		return seconds(sec.Data["ttl"]), nil
	}
}

// checked is the error of a renewal or lookup request, what names it: the
// request's error, or an empty answer.
func checked(err error, empty bool, what string) error {
	switch {
	case err != nil:
		return fmt.Errorf("failed to %s: %w", what, err)
	case empty:
		return fmt.Errorf("failed to %s: empty response", what)
	}
	return nil
}
