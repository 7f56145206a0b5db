package kube

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// MaxResponseBytes bounds every response body the client reads.
const MaxResponseBytes = 16 << 20

// Content types accepted by Patch.
const (
	PatchJSON           = "application/json-patch+json"            // RFC 6902
	PatchMerge          = "application/merge-patch+json"           // RFC 7386
	PatchStrategicMerge = "application/strategic-merge-patch+json" // Kubernetes' own
	PatchApply          = "application/apply-patch+yaml"           // server-side apply (needs ?fieldManager=)
)

const userAgent = "vault-secrets-webhook"

// drainBytes is how much of an unread response body is drained for
// connection reuse.
const drainBytes = 64 << 10

// ErrResponseTooLarge is returned when a response body exceeds
// MaxResponseBytes.
var ErrResponseTooLarge = errors.New("response body too large")

// Client talks to one API server. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	token   *tokenFile // nil: no Authorization header
	timeout time.Duration
	maxBody int64 // MaxResponseBytes; smaller in tests
}

// New validates cfg and returns a client. It loads the CA bundle and checks
// that the token file is readable, so a bad configuration fails at start.
func New(cfg Config) (*Client, error) {
	if cfg.Server == "" {
		return nil, errors.New("failed to configure kubernetes client: server URL is empty")
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.Server, "/"))
	if err != nil {
		return nil, fmt.Errorf("failed to parse kubernetes server URL: %w", err)
	}
	if base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("failed to parse kubernetes server URL %q: want https://HOST[:PORT]", cfg.Server)
	}
	if base.Scheme == "http" && cfg.TokenFile != "" {
		return nil, fmt.Errorf("failed to configure kubernetes client: refusing to send a bearer token over plain http to %s", base.Host)
	}
	if base.RawQuery != "" || base.Fragment != "" || base.User != nil {
		return nil, fmt.Errorf("failed to parse kubernetes server URL %q: no query, fragment or user info allowed", cfg.Server)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read kubernetes CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("failed to load kubernetes CA file %s: no PEM certificate found", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 nil, // always dial the API server directly
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     true,
	}
	c := &Client{
		base:    base,
		http:    &http.Client{Transport: transport, Timeout: timeout},
		timeout: timeout,
		maxBody: MaxResponseBytes,
	}
	if cfg.TokenFile != "" {
		c.token = newTokenFile(cfg.TokenFile)
		if _, err := c.token.get(); err != nil {
			return nil, fmt.Errorf("failed to configure kubernetes client: %w", err)
		}
	}
	return c, nil
}

// Get GETs an API path (e.g. "/api/v1/namespaces/default/pods/x", optionally
// with a query) and decodes the JSON answer into out (nil: discard).
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, "", nil, out)
}

// Create POSTs in as JSON to an API path and decodes the answer into out.
func (c *Client) Create(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("failed to encode request body: %w", err)
	}
	return c.do(ctx, http.MethodPost, path, "application/json", body, out)
}

// Patch PATCHes an API path. patchType is one of PatchJSON, PatchMerge,
// PatchStrategicMerge or PatchApply; patch is sent as is.
func (c *Client) Patch(ctx context.Context, path, patchType string, patch []byte, out any) error {
	switch patchType {
	case PatchJSON, PatchMerge, PatchStrategicMerge, PatchApply:
	default:
		return fmt.Errorf("failed to patch %s: unsupported patch type %q", path, patchType)
	}
	return c.do(ctx, http.MethodPatch, path, patchType, patch, out)
}

// Delete DELETEs an API path. The answer (the deleted object or a Status)
// is discarded.
func (c *Client) Delete(ctx context.Context, path string) error {
	return c.do(ctx, http.MethodDelete, path, "", nil, nil)
}

// Ready returns nil when the API server's /readyz answers 200.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", "", nil, nil)
}

// do performs one request. A 401 drops the cached token so the next call
// re-reads the token file (projected tokens rotate).
func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	u, err := c.resolve(path)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("failed to build %s request: %w", method, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != nil {
		tok, err := c.token.get()
		if err != nil {
			return fmt.Errorf("failed to authenticate %s %s: %w", method, path, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("failed to call %s %s: %w", method, pathOnly(path), scrubURLError(err))
	}
	defer func() {
		// Drain a little of what is left so the connection can be reused;
		// beyond that, closing drops the connection, which is cheaper.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
		_ = resp.Body.Close()
	}()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return fmt.Errorf("failed to read response of %s %s: %w", method, pathOnly(path), err)
	}
	if int64(len(data)) > c.maxBody {
		return fmt.Errorf("failed to read response of %s %s: %w", method, pathOnly(path), ErrResponseTooLarge)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if resp.StatusCode == http.StatusUnauthorized && c.token != nil {
			c.token.invalidate()
		}
		return statusError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("failed to decode response of %s %s: %w", method, pathOnly(path), err)
	}
	return nil
}

// resolve joins an API path (with an optional query) onto the server URL.
func (c *Client) resolve(path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("failed to build request URL: path %q does not start with /", path)
	}
	u, err := url.Parse(c.base.String() + path)
	if err != nil {
		return "", fmt.Errorf("failed to build request URL: %w", err)
	}
	if u.Host != c.base.Host || u.Fragment != "" {
		return "", fmt.Errorf("failed to build request URL: %q is not an API path", pathOnly(path))
	}
	return u.String(), nil
}

// pathOnly strips the query from a path for error texts.
func pathOnly(path string) string {
	p, _, _ := strings.Cut(path, "?")
	return p
}

// scrubURLError unwraps a *url.Error, whose text repeats the full URL, and
// keeps the cause.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
