package vaultclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/netguard"
)

// MetadataAddressError is a connection refused because its address is a
// cloud metadata address (see the package doc).
type MetadataAddressError struct {
	Addr netip.Addr
}

func (e *MetadataAddressError) Error() string {
	return fmt.Sprintf("refusing to connect to %s: a cloud metadata address", e.Addr)
}

// RedirectError is a redirect to another scheme or host, refused so that the
// token and the request body are not sent there.
type RedirectError struct {
	From, To string // scheme://host of the request and of the Location
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("refusing vault redirect from %s to %s: another host would receive the token", e.From, e.To)
}

// refuseMetadata is the dial guard: as net.Dialer.ControlContext it sees the
// resolved address of every connection attempt before connect(2). It asks
// the webhook's own classifier (package netguard: a metadata address in any
// IPv6 spelling of an IPv4 one), so vault-env and the webhook refuse the
// same addresses.
func refuseMetadata(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("failed to check dial address %q: %w", address, err)
	}
	if netguard.Classify(ap.Addr()) == netguard.Metadata {
		return &MetadataAddressError{Addr: ap.Addr().Unmap()}
	}
	return nil
}

// guardedDialer is cleanhttp's dialer (30s timeout and keep-alive) with the
// dial guard.
func guardedDialer() *net.Dialer {
	return &net.Dialer{
		Timeout:        30 * time.Second,
		KeepAlive:      30 * time.Second,
		ControlContext: refuseMetadata,
	}
}

// redirectGuard refuses redirect responses that point at another origin.
type redirectGuard struct {
	next http.RoundTripper
}

func (g *redirectGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		loc, lerr := resp.Location()
		if lerr == nil && !sameOrigin(req.URL, loc) {
			resp.Body.Close()
			return nil, &RedirectError{From: origin(req.URL), To: origin(loc)}
		}
	}
	return resp, nil
}

// checkRedirect is the http.Client's: net/http never follows a redirect
// itself (vault/api does, through the guard above).
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > 0 && !sameOrigin(via[0].URL, req.URL) {
		return &RedirectError{From: origin(via[0].URL), To: origin(req.URL)}
	}
	return http.ErrUseLastResponse
}

// checkRetry is vault/api's DefaultRetryPolicy, except that a refusal of a
// guard is final.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	var (
		re *RedirectError
		me *MetadataAddressError
	)
	if errors.As(err, &re) || errors.As(err, &me) {
		return false, err
	}
	return api.DefaultRetryPolicy(ctx, resp, err)
}

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && a.Host == b.Host
}

func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }
