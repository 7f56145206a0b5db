package vaultclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// response is a finished attempt: the status and the whole body (owned by
// the caller, who zeroes it when done).
type response struct {
	status   int
	body     []byte
	location *url.URL // set for 301, 302 and 307 with a valid Location
	locErr   error
}

// do sends one logical request: attempts with retries, then one redirect.
func (c *Client) do(ctx context.Context, method, p string, query url.Values, body []byte) (*response, error) {
	token, err := c.tokenHeader()
	if err != nil {
		return nil, err
	}
	u := *c.base
	u.Path = path.Join(c.base.Path, "/v1/"+p)
	u.RawQuery = query.Encode()
	for redirected := false; ; redirected = true {
		resp, err := c.attempts(ctx, method, &u, token, body)
		if err != nil {
			return nil, err
		}
		switch resp.status {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect:
			if redirected {
				return resp, nil
			}
		default:
			return resp, nil
		}
		clear(resp.body)
		if resp.locErr != nil {
			return nil, fmt.Errorf("failed to follow vault redirect: %w", resp.locErr)
		}
		if u.Scheme == "https" && resp.location.Scheme != "https" {
			return nil, ErrRedirectDowngrade
		}
		next := *resp.location
		next.RawQuery = u.RawQuery // vault/api re-applies its parameters
		u = next
	}
}

// attempts makes the first attempt and up to maxRetries more.
func (c *Client) attempts(ctx context.Context, method string, u *url.URL, token string, body []byte) (*response, error) {
	for i := 0; ; i++ {
		resp, err := c.once(ctx, method, u, token, body)
		if !c.retryable(ctx, resp, err) || i >= c.maxRetries {
			if err != nil {
				if i > 0 {
					return nil, fmt.Errorf("failed to send vault request (%d attempts): %w", i+1, err)
				}
				return nil, fmt.Errorf("failed to send vault request: %w", err)
			}
			return resp, nil
		}
		if resp != nil {
			clear(resp.body)
		}
		t := time.NewTimer(c.backoff(i))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("failed to send vault request: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}

// once is one attempt, bounded by the configured timeout, response body
// included.
func (c *Client) once(ctx context.Context, method string, u *url.URL, token string, body []byte) (*response, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Request", "true")
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if c.namespace != "" {
		req.Header.Set("X-Vault-Namespace", c.namespace)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hr, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer hr.Body.Close()
	b, err := readBody(hr.Body, hr.ContentLength, c.maxBody)
	if err != nil {
		return nil, err
	}
	resp := &response{status: hr.StatusCode, body: b}
	switch hr.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect:
		resp.location, resp.locErr = hr.Location()
	}
	return resp, nil
}

// retryable is vault/api's DefaultRetryPolicy: connection errors (not
// certificate errors, not the caller's cancellation), 412, 429 and 5xx but
// 501.
func (c *Client) retryable(ctx context.Context, resp *response, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		return !errors.Is(err, ErrResponseTooLarge) && !isCertError(err)
	}
	s := resp.status
	return s == http.StatusPreconditionFailed || s == http.StatusTooManyRequests ||
		(s >= 500 && s != http.StatusNotImplemented)
}

func isCertError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &invalid) ||
		errors.As(err, &hostname) || errors.As(err, &verify)
}

// backoff is go-retryablehttp's LinearJitterBackoff (vault/api's default):
// the i-th retry (from 0) waits (i+1) × a random duration in [min, max].
func (c *Client) backoff(i int) time.Duration {
	d := c.minWait
	if c.maxWait > c.minWait {
		d += rand.N(c.maxWait - c.minWait + 1)
	}
	return d * time.Duration(i+1)
}

// readBody reads r whole, failing beyond limit bytes. Buffers outgrown on
// the way are zeroed: the body may hold a token or secrets.
func readBody(r io.Reader, contentLength, limit int64) ([]byte, error) {
	if contentLength > limit {
		return nil, ErrResponseTooLarge
	}
	size := int64(512)
	if contentLength >= 0 {
		size = contentLength + 1 // +1: room to see EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			next := make([]byte, len(buf), min(2*int64(cap(buf)), limit+1))
			copy(next, buf)
			clear(buf)
			buf = next
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			clear(buf)
			return nil, ErrResponseTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			clear(buf)
			return nil, fmt.Errorf("failed to read vault response: %w", err)
		}
	}
}

// marshalBody is vault/api's SetJSONBody: json.Marshal of the map (nil is
// `null`).
func marshalBody(data map[string]any) ([]byte, error) {
	return json.Marshal(data)
}

// maxRawError bounds the raw body kept as the message of a non-JSON error.
const maxRawError = 1024

// statusError returns the *envinject.StatusError of an error status (>= 400),
// or nil. The messages are Vault's "errors" array, or the raw body when it
// is not JSON (vault/api's rule; the raw body is cut at 1 KiB here).
func (r *response) statusError() error {
	if r.status < 400 {
		return nil
	}
	var e struct {
		Errors []string
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		raw := r.body
		if len(raw) > maxRawError {
			raw = raw[:maxRawError]
		}
		return &envinject.StatusError{Code: r.status, Messages: []string{string(raw)}}
	}
	return &envinject.StatusError{Code: r.status, Messages: e.Errors}
}

// printable is vault/api's validateToken rule: every rune printable
// (invalid UTF-8 decodes to U+FFFD, which is).
func printable(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if !unicode.IsPrint(r) {
			return false
		}
		b = b[n:]
	}
	return true
}
