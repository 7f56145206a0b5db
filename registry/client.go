package registry

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/ttlcache"
)

// Cache lifetimes and size, and the default of Options.Timeout.
const (
	tagTTL         = 10 * time.Minute
	digestTTL      = 24 * time.Hour
	cacheSize      = 1024
	DefaultTimeout = 5 * time.Second
)

// PullSecret is the payload of one image pull secret: Type is
// kubernetes.io/dockerconfigjson (Data = the .dockerconfigjson value) or
// kubernetes.io/dockercfg (Data = the .dockercfg value).
type PullSecret struct {
	Type string
	Data []byte
	// AlwaysVerifyTLS marks the operator's own secret (the webhook's
	// default pull secret): requests that carry its credentials verify the
	// registry's certificate even when Request.InsecureSkipVerify is set,
	// so a pod's registry-skip-verify cannot hand them to an impostor.
	AlwaysVerifyTLS bool
}

func (PullSecret) String() string   { return "PullSecret{REDACTED}" }
func (PullSecret) GoString() string { return "PullSecret{REDACTED}" }

// Request is one lookup.
type Request struct {
	Image     string // as written in the pod spec
	Namespace string // for the caller's logs only; not part of the cache key
	// PullSecrets in priority order: the pod's imagePullSecrets, then its
	// ServiceAccount's, then the operator default. Credentials that match the
	// image's registry are tried in that order until one is accepted.
	PullSecrets []PullSecret
	// Platform the pod will run on (see PodPlatform); empty fields are
	// filled from Options.DefaultPlatform. When the architecture was not
	// given, a warning is added if the image's platforms disagree on
	// ENTRYPOINT/CMD.
	Platform           Platform
	InsecureSkipVerify bool // do not verify the registry's TLS certificate (or Options.InsecureSkipVerify), except with AlwaysVerifyTLS credentials
}

// ImageConfig is what a lookup learns. Each call returns a fresh copy that
// the caller may modify.
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Warnings   []string // for AdmissionResponse.warnings; never hold secrets
	Digest     string   // digest of the image manifest that was read
	Platform   Platform // platform of that manifest (zero for a single-platform image without one)
}

func (c *ImageConfig) clone() *ImageConfig {
	return &ImageConfig{
		Entrypoint: slices.Clone(c.Entrypoint),
		Cmd:        slices.Clone(c.Cmd),
		Warnings:   slices.Clone(c.Warnings),
		Digest:     c.Digest,
		Platform:   c.Platform,
	}
}

// Options configure a Client. Zero values choose the documented defaults.
type Options struct {
	DefaultPlatform    Platform      // default linux/amd64
	CABundle           []byte        // PEM certificates trusted in addition to the system roots
	InsecureSkipVerify bool          // skip TLS verification for every registry
	InsecureHosts      []string      // host[:port] trusted: may answer (or serve a token realm) in plain HTTP, may resolve to any address (loopback hosts may always answer in plain HTTP); see guard.go
	Timeout            time.Duration // bound on one lookup, keep it below the admission timeout; default DefaultTimeout
}

// Client looks up image configs. It is safe for concurrent use.
type Client struct {
	defaultPlatform Platform
	timeout         time.Duration
	skipVerify      bool
	insecureHosts   map[string]bool
	verified        http.RoundTripper
	unverified      http.RoundTripper
	idKey           []byte // HMAC key for credential identities in cache keys
	cache           *ttlcache.Cache[*ImageConfig]
	tokens          *ttlcache.Cache[string] // bearer tokens by tokenKey
	metrics         metrics
	now             func() time.Time
	configErr       error // from Options.Validate

	plainMu sync.Mutex
	plain   map[string]bool // hosts seen answering in plain HTTP
}

// Validate reports configuration errors New cannot: a CABundle without any
// PEM certificate. Call it at startup, before any lookup.
func (o Options) Validate() error {
	if len(o.CABundle) > 0 && !x509.NewCertPool().AppendCertsFromPEM(o.CABundle) {
		return errors.New("failed to load registry CA bundle: no PEM certificate found")
	}
	return nil
}

// New builds a Client. With options that fail Validate, every lookup fails
// with ErrInvalid naming the problem.
func New(opts Options) *Client {
	c := &Client{
		defaultPlatform: opts.DefaultPlatform,
		timeout:         opts.Timeout,
		skipVerify:      opts.InsecureSkipVerify,
		insecureHosts:   map[string]bool{},
		idKey:           make([]byte, 32),
		now:             time.Now,
		plain:           map[string]bool{},
	}
	if c.defaultPlatform == (Platform{}) {
		c.defaultPlatform = Platform{OS: "linux", Architecture: "amd64"}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	for _, h := range opts.InsecureHosts {
		c.insecureHosts[strings.ToLower(h)] = true
	}
	rand.Read(c.idKey)
	c.cache = ttlcache.New[*ImageConfig](cacheSize, c.timeout, func() time.Time { return c.now() })
	c.tokens = ttlcache.New[string](maxTokens, c.timeout, func() time.Time { return c.now() })
	if err := opts.Validate(); err != nil {
		c.configErr = err
		return c
	}
	caBundle := slices.Clone(opts.CABundle)
	c.verified = &lazyTLSTransport{
		plain: newTransport(nil, c.dial),
		build: func() http.RoundTripper {
			// The system roots are parsed here, on the first TLS request,
			// not in New: a webhook that never asks a registry over TLS
			// (or has not yet) does not pay for them at start-up or in
			// idle memory.
			roots, err := x509.SystemCertPool()
			if err != nil || roots == nil {
				roots = x509.NewCertPool()
			}
			roots.AppendCertsFromPEM(caBundle)
			return newTransport(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}, c.dial)
		},
	}
	c.unverified = newTransport(&tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}, c.dial)
	return c
}

// lazyTLSTransport sends plain-HTTP requests through plain and builds the
// verifying transport (system roots + CA bundle) on the first https
// request.
type lazyTLSTransport struct {
	plain http.RoundTripper
	build func() http.RoundTripper
	once  sync.Once
	tls   http.RoundTripper
}

func (t *lazyTLSTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" {
		return t.plain.RoundTrip(req)
	}
	t.once.Do(func() { t.tls = t.build() })
	return t.tls.RoundTrip(req)
}

// newTransport builds a transport that connects through dial (Client.dial,
// the address guard).
func newTransport(cfg *tls.Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	return &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            dial,
		TLSClientConfig:        cfg,
		TLSHandshakeTimeout:    3 * time.Second,
		ResponseHeaderTimeout:  5 * time.Second,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
}

// Snapshot returns the client's metrics.
func (c *Client) Snapshot() MetricsSnapshot {
	s := c.metrics.snapshot()
	s.CacheEntries = c.cache.Len()
	return s
}

// ImageConfig returns the ENTRYPOINT and CMD of req.Image for the request's
// platform. Answers are cached per resolved reference, platform, TLS mode
// and credential identity; concurrent identical lookups share one set of
// registry requests. The lookup ends within Options.Timeout or ctx's
// deadline, whichever comes first. Errors are *Error.
func (c *Client) ImageConfig(ctx context.Context, req Request) (*ImageConfig, error) {
	start := c.now()
	cfg, cached, err := c.imageConfig(ctx, req)
	c.metrics.observe(resultOf(err), cached, c.now().Sub(start))
	if err != nil {
		return nil, err
	}
	return cfg.clone(), nil
}

func (c *Client) imageConfig(ctx context.Context, req Request) (*ImageConfig, bool, error) {
	ref, err := ParseReference(req.Image)
	if err != nil {
		return nil, false, &Error{Image: req.Image, Kind: ErrInvalid, Err: err}
	}
	if c.configErr != nil {
		return nil, false, &Error{Image: req.Image, Registry: ref.APIHost(), Kind: ErrInvalid, Err: c.configErr}
	}
	l := &lookup{
		client:     c,
		image:      req.Image,
		ref:        ref,
		skipVerify: req.InsecureSkipVerify || c.skipVerify,
	}
	var decided bool
	l.platform, decided = req.Platform.complete(c.defaultPlatform)
	l.defaulted = !decided
	var skipped int
	l.creds, skipped = credentialsFor(ref, req.PullSecrets)
	key := strings.Join([]string{
		ref.String(), l.platform.String(), fmt.Sprint(l.defaulted), fmt.Sprint(l.skipVerify), identity(c.idKey, l.creds),
	}, "|")

	// The shared fetch is bounded by Options.Timeout, not by the first
	// caller's context: a caller with a short deadline stops waiting (its
	// own ctx) without failing the others, and the result still fills the
	// cache.
	cfg, src, err := c.cache.Get(ctx, key, func(fctx context.Context) (*ImageConfig, time.Duration, error) {
		cfg, err := l.fetch(fctx)
		if err != nil {
			return nil, 0, l.classify(fctx, err)
		}
		if ref.Digest != "" {
			return cfg, digestTTL, nil
		}
		return cfg, tagTTL, nil
	})
	switch src {
	case ttlcache.Hit:
		return cfg, true, nil
	case ttlcache.Shared:
		c.metrics.coalesced()
	}
	if err != nil {
		if ctx.Err() != nil && !errors.As(err, new(*Error)) {
			err = &Error{Image: req.Image, Registry: ref.APIHost(), Kind: ErrTimeout, Err: ctx.Err()}
		}
		return nil, false, err
	}
	if skipped > 0 {
		cfg = cfg.clone()
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%d image pull secret(s) could not be parsed and were ignored", skipped))
	}
	return cfg, false, nil
}

// plainHTTPAllowed reports whether host may be spoken to in plain HTTP after
// it answered a TLS handshake in HTTP: loopback hosts (as Docker treats
// 127.0.0.0/8) and Options.InsecureHosts.
func (c *Client) plainHTTPAllowed(host string) bool {
	h := hostname(host)
	ip := net.ParseIP(h)
	return c.insecureHosts[strings.ToLower(host)] || h == "localhost" || ip != nil && ip.IsLoopback()
}

func (c *Client) usesPlainHTTP(host string) bool {
	c.plainMu.Lock()
	defer c.plainMu.Unlock()
	return c.plain[host]
}

func (c *Client) rememberPlainHTTP(host string) {
	c.plainMu.Lock()
	defer c.plainMu.Unlock()
	if len(c.plain) < 1024 {
		c.plain[host] = true
	}
}
