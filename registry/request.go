package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// get fetches /v2/<repository>/<path>, answering auth challenges once, and
// returns the body (at most limit bytes) of a 200 response.
func (l *lookup) get(ctx context.Context, path, accept string, limit int64) ([]byte, http.Header, error) {
	authTried := false
	for {
		resp, err := l.send(ctx, "/v2/"+l.ref.Repository+"/"+path, accept)
		if err != nil {
			return nil, nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized && !authTried {
			challenges := parseChallenges(resp.Header.Values("Www-Authenticate"))
			drain(resp)
			authTried = true
			if err := l.answer(ctx, challenges); err != nil {
				return nil, nil, err
			}
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, nil, l.statusError(resp, path)
		}
		if resp.ContentLength > limit {
			return nil, nil, l.fail(ErrInvalid, fmt.Errorf("%s: response of %d bytes exceeds the limit of %d", path, resp.ContentLength, limit))
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return nil, nil, l.classify(ctx, fmt.Errorf("failed to read %s: %w", path, err))
		}
		if int64(len(body)) > limit {
			return nil, nil, l.fail(ErrInvalid, fmt.Errorf("%s: response exceeds the limit of %d bytes", path, limit))
		}
		return body, resp.Header, nil
	}
}

// answer prepares the credentials a 401's challenges ask for.
func (l *lookup) answer(ctx context.Context, challenges []challenge) error {
	for _, ch := range challenges {
		if ch.Scheme == "bearer" {
			tok, err := l.fetchToken(ctx, ch)
			if err != nil {
				return err
			}
			l.mu.Lock()
			l.bearer = tok
			l.mu.Unlock()
			return nil
		}
	}
	for _, ch := range challenges {
		if ch.Scheme == "basic" {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.cred == nil {
				return l.fail(ErrUnauthorized, errors.New("the registry requires credentials and no pull secret matches it"))
			}
			l.useBasic = true
			return nil
		}
	}
	return l.fail(ErrUnauthorized, errors.New("the registry sent no usable auth challenge"))
}

// send makes one request, choosing the scheme (HTTPS, or plain HTTP for an
// allowed host that answered in HTTP) and the current credentials.
func (l *lookup) send(ctx context.Context, path, accept string) (*http.Response, error) {
	host := l.ref.APIHost()
	for {
		scheme := "https"
		if l.client.usesPlainHTTP(host) {
			scheme = "http"
		}
		req, err := http.NewRequestWithContext(withRegistryHost(ctx, host), http.MethodGet, scheme+"://"+host+path, nil)
		if err != nil {
			return nil, l.fail(ErrInvalid, err)
		}
		req.Header.Set("Accept", accept)
		req.Header.Set("User-Agent", "vault-secrets-webhook")
		l.mu.Lock()
		switch {
		case l.bearer != "":
			req.Header.Set("Authorization", "Bearer "+l.bearer)
		case l.useBasic && l.cred != nil:
			req.SetBasicAuth(l.cred.Username, l.cred.Password)
		}
		l.mu.Unlock()
		resp, err := l.httpClient().Do(req)
		if err != nil && scheme == "https" && errors.Is(err, http.ErrSchemeMismatch) && l.client.plainHTTPAllowed(host) {
			l.client.rememberPlainHTTP(host)
			continue
		}
		if err != nil {
			return nil, l.classify(ctx, fmt.Errorf("failed to get %s: %w", path, err))
		}
		return resp, nil
	}
}

// httpClient skips TLS verification when the lookup asks for it, unless
// the credential being tried is the operator's (PullSecret.AlwaysVerifyTLS).
func (l *lookup) httpClient() *http.Client {
	l.mu.Lock()
	skip := l.skipVerify && (l.cred == nil || !l.cred.alwaysVerify)
	l.mu.Unlock()
	rt := l.client.verified
	if skip {
		rt = l.client.unverified
	}
	return &http.Client{Transport: rt, CheckRedirect: l.client.checkRedirect}
}

// statusError maps a non-200 answer to a typed error, quoting the
// registry's error codes (never its headers).
func (l *lookup) statusError(resp *http.Response, path string) error {
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	detail := fmt.Sprintf("%s: HTTP %d", path, resp.StatusCode)
	if json.Unmarshal(raw, &doc) == nil {
		for i, e := range doc.Errors {
			if i == 3 {
				break
			}
			msg := e.Message
			if len(msg) > 200 {
				msg = msg[:200]
			}
			detail += fmt.Sprintf(" %s (%s)", e.Code, msg)
		}
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return l.fail(ErrNotFound, errors.New(detail))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return l.fail(ErrUnauthorized, errors.New(detail))
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return l.fail(ErrUnavailable, errors.New(detail))
	default:
		return l.fail(ErrInvalid, errors.New(detail))
	}
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
	resp.Body.Close()
}
