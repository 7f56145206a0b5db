// Package vaultclient is vault-env's Vault client: HashiCorp's own
// github.com/hashicorp/vault/api behind the small interface the vault-env
// runtime talks through (vault.Client: reads, writes and the token).
// Authentication, KV version detection, transit, renewal, lookups and
// revocation are built on those calls in vaultenv.
//
// # Configuration
//
// [New] is api.DefaultConfig() followed by api.NewClient, so every variable
// vault/api reads from the process environment (api.Config.ReadEnvironment
// and NewClient: the settings vaultenv.Settings marks Client, VAULT_WRAP_TTL
// at request time) works exactly as it does in vault/api v1.22.0, as do
// HTTPS_PROXY, HTTP_PROXY and NO_PROXY. vault-env's runtime
// decides which of them the process environment holds before New is called
// (vaultenv.Config.ClientEnv); VAULT_TOKEN is never read from it: the token
// comes through SetToken.
//
// # What is added to vault/api
//
//   - Dial guard: every TCP connection the client opens (to Vault or to a
//     proxy) is checked after name resolution, before connect(2): an address
//     in 169.254.0.0/16 (link-local, where cloud metadata services live),
//     fd00:ec2::254 or fd20:ce::254, also written as an IPv4-mapped,
//     IPv4-compatible or NAT64 (64:ff9b::/96) IPv6 address, is refused with
//     *MetadataAddressError, whatever spelling or name led to it.
//   - Redirect guard: vault/api follows one 301, 302 or 307 itself and sends
//     the token (and the request body, e.g. a login JWT) again. A redirect
//     whose Location has another scheme or host than the request is refused
//     with *RedirectError before vault/api sees it, so the token and JWT only
//     ever go to the configured address; it is not retried. The http.Client's
//     CheckRedirect does the same for net/http's own redirect handling.
//   - Paths with "." or ".." segments (also percent-encoded) are refused with
//     ErrDotSegment: vault/api cleans the joined URL path, so such a path
//     would leave /v1/ and any path prefix of the address.
//   - Retry waits: 100 ms to 1 s (vault/api: 1 s to 1.5 s), so that a
//     container start recovers quickly; the retry policy and
//     VAULT_MAX_RETRIES are vault/api's.
//   - Errors: an error status is returned as *vault.StatusError (code and
//     Vault's messages), which the runtime branches on.
//
// # Memory
//
// vault/api keeps the token, the login body and every response in Go strings
// and buffers of its own, which cannot be zeroed (SECURITY.md, section
// vault-env-memory). ClearToken drops the client's reference and closes idle
// connections; execve then discards the whole address space.
package vaultclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject/ref"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

// Retry backoff bounds: retry n waits n times a random duration in
// [min, max] (vault/api's linear jitter); the package doc says why they are
// shorter than vault/api's.
const (
	minRetryWait = 100 * time.Millisecond
	maxRetryWait = time.Second
)

// ErrDotSegment is a request path with a "." or ".." segment.
var ErrDotSegment = errors.New(`vault path must not contain "." or ".." segments`)

// Client implements vault.Client on vault/api. It is safe for concurrent
// use.
type Client struct {
	api *api.Client
	tr  *http.Transport
}

var _ vault.Client = (*Client)(nil)

// New returns a client configured by api.DefaultConfig() from the process
// environment, with the guards of the package doc. It makes no request, and
// it holds no token until SetToken.
func New() (*Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("failed to read vault client settings: %w", cfg.Error)
	}
	tr, ok := cfg.HttpClient.Transport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("failed to configure vault client: unexpected transport %T", cfg.HttpClient.Transport)
	}
	tr.DialContext = guardedDialer().DialContext
	cfg.HttpClient.CheckRedirect = checkRedirect
	cfg.CheckRetry = checkRetry
	cfg.MinRetryWait, cfg.MaxRetryWait = minRetryWait, maxRetryWait
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to create vault client: %w", err)
	}
	c.ClearToken() // NewClient takes VAULT_TOKEN from the environment; ours comes through SetToken
	// Wrapped after NewClient: it needs the *http.Transport itself for unix://
	// addresses (and sets its own dialer then).
	cfg.HttpClient.Transport = &redirectGuard{next: tr}
	return &Client{api: c, tr: tr}, nil
}

// Read reads path with optional query parameters. A 404 without data or
// warnings is (nil, nil), as in vault/api.
func (c *Client) Read(ctx context.Context, path string, query url.Values) (*vault.Secret, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	s, err := c.api.Logical().ReadWithDataWithContext(ctx, path, query)
	if err != nil {
		return nil, convertError(err)
	}
	return convert(s), nil
}

// Write writes data (nil: the body `null`) to path.
func (c *Client) Write(ctx context.Context, path string, data map[string]any) (*vault.Secret, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	s, err := c.api.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, convertError(err)
	}
	return convert(s), nil
}

// SetToken gives the client token (vault/api keeps it as a string; the
// caller may clear its slice).
func (c *Client) SetToken(token []byte) { c.api.SetToken(string(token)) }

// ClearToken makes the client forget its token and closes idle connections
// (whose HTTP/2 header tables may hold it).
func (c *Client) ClearToken() {
	c.api.ClearToken()
	c.tr.CloseIdleConnections()
}

// checkPath refuses "." and ".." segments, as written or percent-encoded.
func checkPath(p string) error {
	u, err := url.Parse("/v1/" + p)
	if err != nil {
		return fmt.Errorf("failed to parse vault path: %w", err)
	}
	if ref.HasDotSegment(p) || ref.HasDotSegment(u.Path) {
		return ErrDotSegment
	}
	return nil
}

// convertError maps vault/api's *api.ResponseError to
// *vault.StatusError (keeping the original in the chain).
func convertError(err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return &vault.StatusError{Code: re.StatusCode, Messages: re.Errors}
	}
	return err
}

func convert(s *api.Secret) *vault.Secret {
	if s == nil {
		return nil
	}
	out := &vault.Secret{
		Data:          s.Data,
		LeaseID:       s.LeaseID,
		LeaseDuration: time.Duration(s.LeaseDuration) * time.Second,
		Renewable:     s.Renewable,
	}
	if s.Auth != nil {
		out.Auth = &vault.Auth{
			ClientToken:   []byte(s.Auth.ClientToken),
			LeaseDuration: time.Duration(s.Auth.LeaseDuration) * time.Second,
			Renewable:     s.Auth.Renewable,
		}
	}
	return out
}
