// Package vaultclient is the one place that imports
// github.com/hashicorp/vault/api. It adapts the official client to the small
// interface the vault-env runtime talks through (envinject.Vault): reads,
// writes and the token the client sends. Authentication, KV version
// detection, transit and renewal are built on those two calls in envinject.
//
// The client is configured only from [Config]: the official client's own
// environment reading (VAULT_TOKEN, VAULT_NAMESPACE, VAULT_AGENT_ADDR, ...)
// is overridden, so the settings vault-env documents are the ones that apply.
package vaultclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// Config is what the client needs; see envinject.Config for the variables.
type Config struct {
	Addr       string
	CACert     string // PEM file; "" for the system roots
	SkipVerify bool
	Namespace  string
	// Timeout bounds each request.
	Timeout time.Duration
	// MaxRetries is how often a request is retried on 5xx or 412; 0 for none.
	MaxRetries int
}

// Client implements envinject.Vault.
type Client struct {
	c *api.Client
}

var _ envinject.Vault = (*Client)(nil)

// New returns a client for cfg. It makes no request.
func New(cfg Config) (*Client, error) {
	tr := &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		// HTTP/2 only over TLS (ALPN); a plain-http Vault gets HTTP/1.1
		// without the HTTP/2 set-up on the first request.
		ForceAttemptHTTP2:     strings.HasPrefix(strings.ToLower(cfg.Addr), "https://"),
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	ac := &api.Config{
		Address: cfg.Addr,
		HttpClient: &http.Client{
			Transport: tr,
			// The vault client handles redirects itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Timeout:      cfg.Timeout,
		MaxRetries:   cfg.MaxRetries,
		MinRetryWait: 100 * time.Millisecond,
		MaxRetryWait: time.Second,
	}
	if err := ac.ConfigureTLS(&api.TLSConfig{CACert: cfg.CACert, Insecure: cfg.SkipVerify}); err != nil {
		return nil, fmt.Errorf("failed to configure vault TLS: %w", err)
	}
	c, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("failed to create vault client: %w", err)
	}
	// NewClient picks these up from the process environment; vault-env
	// decides them itself.
	c.ClearToken()
	c.ClearNamespace()
	if cfg.Namespace != "" {
		c.SetNamespace(cfg.Namespace)
	}
	return &Client{c: c}, nil
}

// Read reads path with optional query parameters. It returns (nil, nil) on a
// 404 without body.
func (c *Client) Read(ctx context.Context, path string, query url.Values) (*envinject.Secret, error) {
	s, err := c.c.Logical().ReadWithDataWithContext(ctx, path, query)
	if err != nil {
		return nil, convertError(err)
	}
	return convert(s), nil
}

// Write writes data (nil for an empty body) to path.
func (c *Client) Write(ctx context.Context, path string, data map[string]any) (*envinject.Secret, error) {
	s, err := c.c.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, convertError(err)
	}
	return convert(s), nil
}

// SetToken sets the token sent with each request. The official client keeps
// it as a string, a copy that cannot be zeroed; ClearToken drops it.
func (c *Client) SetToken(token []byte) { c.c.SetToken(string(token)) }

// ClearToken drops the token.
func (c *Client) ClearToken() { c.c.ClearToken() }

func convert(s *api.Secret) *envinject.Secret {
	if s == nil {
		return nil
	}
	out := &envinject.Secret{
		Data:          s.Data,
		LeaseID:       s.LeaseID,
		LeaseDuration: time.Duration(s.LeaseDuration) * time.Second,
		Renewable:     s.Renewable,
		Warnings:      s.Warnings,
	}
	if s.Auth != nil {
		out.Auth = &envinject.Auth{
			ClientToken:   []byte(s.Auth.ClientToken),
			Accessor:      s.Auth.Accessor,
			LeaseDuration: time.Duration(s.Auth.LeaseDuration) * time.Second,
			Renewable:     s.Auth.Renewable,
		}
	}
	return out
}

// convertError turns the official client's response error into an
// envinject.StatusError, so the runtime can branch on the status.
func convertError(err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return &envinject.StatusError{Code: re.StatusCode, Messages: re.Errors}
	}
	return err
}
