// Package vaultclient is vault-env's Vault client: Vault's HTTP API over
// net/http, with nothing but the standard library. It implements the small
// interface the vault-env runtime talks through (envinject.Vault): reads,
// writes and the token the client sends. Authentication, KV version
// detection, transit and renewal are built on those two calls in envinject.
//
// Why not github.com/hashicorp/vault/api: vault-env only needs two HTTP
// calls, and linking the official client costs every wrapped container about
// 1.6 ms of start-up (its package init compiles regular expressions; it pulls
// in 17 modules) and keeps the token as a Go string that cannot be zeroed.
// The official client is still the oracle: the tests run the same requests
// through both (oracle_test.go) against a real Vault and test servers.
//
// # Behaviour (as vault/api v1.22.0 unless noted)
//
//   - Read is GET /v1/<path>?<query>; Write is PUT /v1/<path> with the JSON
//     encoding of data (nil data is the body `null`, as vault/api sends). The
//     path is joined and cleaned like vault/api does (path.Join: no trailing
//     slash, no "..").
//   - Headers: X-Vault-Request: true; X-Vault-Token when a token is set;
//     X-Vault-Namespace when Config.Namespace is set; Content-Type:
//     application/json on a body (vault/api sends none; Vault ignores it).
//   - Responses: 2xx and 3xx are parsed as a secret; an empty body is
//     (nil, nil), a whitespace-only one an error. 404 on Read: (nil, nil) unless the body has data or
//     warnings, then (secret, nil). 404 on Write: *StatusError, but a body
//     that is not JSON is a parse error and a whitespace-only body (nil, nil)
//     (vault/api's quirks, kept for equality). Any other status >= 400 is *envinject.StatusError with
//     Vault's "errors" array (or the raw body, cut at 1 KiB, when it is not
//     JSON). JSON numbers in Data are json.Number.
//   - Retries: up to Config.MaxRetries more attempts on connection errors,
//     412, 429 and 5xx other than 501, never on certificate errors or when
//     the caller's context is done. Between attempts a linear jittered
//     backoff: attempt n waits n × a random duration in [100ms, 1s].
//   - Timeout: Config.Timeout bounds each attempt (connect, request, whole
//     response body); a timed-out attempt is retried. vault/api instead
//     bounds the whole call with it. The caller's ctx bounds everything.
//   - Redirects: one 301, 302 or 307 is followed (the body and token are sent
//     to the new location, which is how Vault standbys redirect to the
//     active node); an https -> http redirect is refused with
//     ErrRedirectDowngrade; a second redirect is not followed.
//   - Addresses: http://, https:// and unix:///path/to/socket (HTTP over a
//     Unix socket, e.g. a Vault Agent listener). HTTP/2 only over https
//     (ALPN); TLS 1.2 minimum; Config.CACert is a PEM file (an error when it
//     cannot be read or holds no certificate); Config.SkipVerify disables
//     verification.
//   - Responses are read into memory up to 32 MiB; a larger one fails with
//     ErrResponseTooLarge.
//   - Not done (vault/api features vault-env does not use): response
//     wrapping (VAULT_WRAP_TTL), MFA headers, SRV lookup, rate limiting,
//     read-your-writes, policy override, curl output.
//
// # Environment
//
// The package reads no VAULT_* variable itself: vault-env parses them
// (envinject.Config) and passes a Config. The only variables that apply are
// the standard proxy ones, through http.ProxyFromEnvironment: HTTPS_PROXY,
// HTTP_PROXY and NO_PROXY (and their lower-case forms); not used for
// unix:// addresses.
//
// # Memory
//
// The token is a []byte the client owns: SetToken copies it in, ClearToken
// zeroes that copy (clear) and drops it. That is not the only copy, and this
// package does not pretend otherwise: each request converts the token to a
// string for the X-Vault-Token header (net/http headers are strings), which
// is garbage but not zeroed; over HTTP/2 the HPACK encoder may keep that
// string in the connection's header table (ClearToken closes idle
// connections, which drops it). A login or renewal response's
// auth.client_token is decoded straight from the response buffer into a
// fresh []byte (never a string), and the response buffer is zeroed after
// decoding; request bodies (the login JWT) are zeroed after the request.
// What is not ours stays unzeroed: encoding/json's and net/http's internal
// buffers (bufio, TLS records, HTTP/2 frames) and every decoded Data value
// (Go strings).
package vaultclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// Config is what the client needs; see envinject.Config for the variables.
type Config struct {
	Addr       string
	CACert     string // PEM file; "" for the system roots
	SkipVerify bool
	Namespace  string
	// Timeout bounds each attempt of a request (0: no bound but ctx).
	Timeout time.Duration
	// MaxRetries is how often a request is retried on a connection error,
	// 5xx (not 501), 412 or 429; 0 for none.
	MaxRetries int
}

const (
	// maxResponseBytes bounds a response body read into memory.
	maxResponseBytes = 32 << 20
	minRetryWait     = 100 * time.Millisecond
	maxRetryWait     = time.Second
)

// Errors a caller (or a test) can branch on.
var (
	ErrResponseTooLarge  = errors.New("vault response is larger than 32 MiB")
	ErrRedirectDowngrade = errors.New("vault redirect from https to http refused")
	ErrTokenNotPrintable = errors.New("vault token contains non-printable characters")
)

// Client implements envinject.Vault. It is safe for concurrent use.
type Client struct {
	base       *url.URL // scheme, host and path prefix of the address
	hc         *http.Client
	tr         *http.Transport
	namespace  string
	timeout    time.Duration
	maxRetries int

	// Test hooks (export_test.go); the constants above otherwise.
	minWait, maxWait time.Duration
	maxBody          int64

	mu    sync.RWMutex
	token []byte // owned: zeroed by ClearToken and replaced by SetToken
}

var _ envinject.Vault = (*Client)(nil)

// New returns a client for cfg. It makes no request.
func New(cfg Config) (*Client, error) {
	base, socket, err := parseAddr(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("failed to parse vault address: %w", err)
	}
	tlsConf, err := tlsConfig(cfg.CACert, cfg.SkipVerify)
	if err != nil {
		return nil, fmt.Errorf("failed to configure vault TLS: %w", err)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: dialer.DialContext,
		// HTTP/2 only over TLS (ALPN); a plain-http Vault gets HTTP/1.1
		// without the HTTP/2 set-up on the first request.
		ForceAttemptHTTP2:     base.Scheme == "https",
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tlsConf,
	}
	if socket != "" {
		tr.Proxy = nil
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket)
		}
	}
	return &Client{
		base: base,
		tr:   tr,
		hc: &http.Client{
			Transport: tr,
			// Redirects are followed by do, the way vault/api does.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		namespace:  cfg.Namespace,
		timeout:    cfg.Timeout,
		maxRetries: max(cfg.MaxRetries, 0),
		minWait:    minRetryWait,
		maxWait:    maxRetryWait,
		maxBody:    maxResponseBytes,
	}, nil
}

// parseAddr returns the base URL for requests and, for unix://, the socket.
func parseAddr(addr string) (base *url.URL, socket string, err error) {
	if rest, ok := strings.CutPrefix(addr, "unix://"); ok {
		if rest == "" {
			return nil, "", errors.New("unix:// address without a socket path")
		}
		// As vault/api: HTTP to "localhost" over the socket.
		return &url.URL{Scheme: "http", Host: "localhost"}, rest, nil
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("%q is not an http(s):// or unix:// URL", addr)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, User: u.User, Path: u.Path}, "", nil
}

func tlsConfig(caFile string, skipVerify bool) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify} //nolint:gosec // VAULT_SKIP_VERIFY is the user's explicit choice
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("failed to parse CA file %s: no PEM certificate in it", caFile)
	}
	c.RootCAs = pool
	return c, nil
}

// Read reads path with optional query parameters (see the package doc for
// the 404 rules).
func (c *Client) Read(ctx context.Context, path string, query url.Values) (*envinject.Secret, error) {
	resp, err := c.do(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	defer clear(resp.body)
	if resp.status == http.StatusNotFound {
		sec, perr := parseSecret(resp.body)
		if perr != nil && !errors.Is(perr, errEmptyBody) {
			return nil, perr
		}
		if sec != nil && (len(sec.Warnings) > 0 || len(sec.Data) > 0) {
			return sec, nil
		}
		return nil, nil
	}
	if err := resp.statusError(); err != nil {
		return nil, err
	}
	return parseSecret(resp.body)
}

// Write writes the JSON encoding of data (nil: the body `null`) to path.
func (c *Client) Write(ctx context.Context, path string, data map[string]any) (*envinject.Secret, error) {
	body, err := marshalBody(data)
	if err != nil {
		return nil, fmt.Errorf("failed to encode vault request body: %w", err)
	}
	resp, err := c.do(ctx, http.MethodPut, path, nil, body)
	clear(body) // may hold a JWT
	if err != nil {
		return nil, err
	}
	defer clear(resp.body)
	if resp.status == http.StatusNotFound {
		// vault/api parses the body first: a parse error wins, and a body
		// of white space is "nothing there". (It also returns a secret with
		// data or warnings next to the error; the adapter this client
		// replaced dropped it, and so does this.)
		sec, perr := parseSecret(resp.body)
		if sec != nil && sec.Auth != nil {
			clear(sec.Auth.ClientToken)
		}
		if errors.Is(perr, errEmptyBody) {
			return nil, nil
		} else if perr != nil {
			return nil, perr
		}
	}
	if err := resp.statusError(); err != nil {
		return nil, err
	}
	return parseSecret(resp.body)
}

// SetToken copies token into the client (replacing and zeroing the old
// copy); the caller may clear its slice.
func (c *Client) SetToken(token []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.token)
	c.token = append([]byte(nil), token...)
}

// ClearToken zeroes the client's copy of the token and drops it, and closes
// idle connections (whose HTTP/2 header tables may hold the header string).
func (c *Client) ClearToken() {
	c.mu.Lock()
	clear(c.token)
	c.token = nil
	c.mu.Unlock()
	c.tr.CloseIdleConnections()
}

// tokenHeader returns the token as the header string ("" for none): the
// transient copy the package doc speaks of.
func (c *Client) tokenHeader() (string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.token) == 0 {
		return "", nil
	}
	if !printable(c.token) {
		return "", ErrTokenNotPrintable
	}
	return string(c.token), nil
}
