package registry

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

const (
	maxTokenBytes     = 1 << 20
	defaultTokenLife  = 60 * time.Second // the distribution token spec's default expires_in
	tokenSafetyMargin = 5 * time.Second
	maxTokens         = 4096
)

// scope is the token scope this lookup needs.
func (l *lookup) scope() string { return "repository:" + l.ref.Repository + ":pull" }

// tokenKey identifies a cached token: registry, scope, TLS mode and the
// identity of the credential it was issued for. Must be called with l.mu held.
func (l *lookup) tokenKey(scope string) string {
	var creds []credential
	if l.cred != nil {
		creds = []credential{*l.cred}
	}
	return fmt.Sprintf("%s|%s|%t|%s", l.ref.APIHost(), scope, l.skipVerify, identity(l.client.idKey, creds))
}

// fetchToken runs the bearer token flow of the distribution token spec:
// GET realm?service=…&scope=…, with basic auth when there is a credential
// and the realm may receive it. The realm is named by the registry, so it
// is guarded (see guard.go): https unless trusted, credentials only on the
// registry's own domain, every address checked when dialed.
func (l *lookup) fetchToken(ctx context.Context, ch challenge) (string, error) {
	registryHost := l.ref.APIHost()
	u, err := url.Parse(ch.Params["realm"])
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", l.fail(ErrUnauthorized, errors.New("the registry's bearer challenge has no usable realm"))
	}
	if u.Scheme == "http" && !l.client.trusted(u.Host) && !(u.Host == registryHost && l.client.usesPlainHTTP(registryHost)) {
		return "", l.refuse("the registry's token realm is plain HTTP (list its host in --registry-insecure-hosts to allow it)",
			fmt.Errorf("plain-HTTP token realm %s", u.Host))
	}
	l.mu.Lock()
	cred := l.cred
	l.mu.Unlock()
	if cred != nil && !mayGetCredentials(u.Host, registryHost) {
		cred = nil // asked anonymously: the credentials are meant for registryHost
	}
	scope := cmp.Or(ch.Params["scope"], l.scope())
	q := u.Query()
	if s := ch.Params["service"]; s != "" {
		q.Set("service", s)
	}
	q.Set("scope", scope)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(withRegistryHost(ctx, registryHost), http.MethodGet, u.String(), nil)
	if err != nil {
		return "", l.fail(ErrUnauthorized, errors.New("failed to build the token request"))
	}
	req.Header.Set("User-Agent", "vault-secrets-webhook")
	if cred != nil {
		req.SetBasicAuth(cred.Username, cred.Password)
	}
	resp, err := l.httpClient().Do(req)
	if err != nil {
		return "", l.classify(ctx, fmt.Errorf("failed to get a token from %s: %w", u.Host, err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", l.fail(ErrUnauthorized, fmt.Errorf("token server %s: HTTP %d", u.Host, resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return "", l.fail(ErrUnavailable, fmt.Errorf("token server %s: HTTP %d", u.Host, resp.StatusCode))
	}
	tok, life, err := parseToken(io.LimitReader(resp.Body, maxTokenBytes))
	if err != nil {
		return "", l.fail(ErrUnauthorized, fmt.Errorf("token server %s: %w", u.Host, err))
	}
	l.mu.Lock()
	key := l.tokenKey(l.scope())
	l.mu.Unlock()
	if scope == l.scope() {
		// Kept until shortly before it expires, so a repeated lookup skips
		// the 401 round trip and the token request.
		l.client.tokens.Put(key, tok, life-tokenSafetyMargin)
	}
	return tok, nil
}

// parseToken reads a token answer: the token from "token", else
// "access_token", and its lifetime from "expires_in". The names are matched
// exactly (encoding/json would also take "Token" or "TOKEN", which a
// metadata service answering in the realm's place may send).
func parseToken(r io.Reader) (string, time.Duration, error) {
	var doc map[string]json.RawMessage
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return "", 0, errors.New("malformed answer")
	}
	var tok string
	for _, name := range []string{"token", "access_token"} {
		if raw, ok := doc[name]; ok && tok == "" {
			if err := json.Unmarshal(raw, &tok); err != nil {
				return "", 0, fmt.Errorf("%s is not a string", name)
			}
		}
	}
	if tok == "" {
		return "", 0, errors.New("answer holds no token")
	}
	life := defaultTokenLife
	var expiresIn int
	if raw, ok := doc["expires_in"]; ok && json.Unmarshal(raw, &expiresIn) == nil && expiresIn > 0 {
		life = time.Duration(expiresIn) * time.Second
	}
	return tok, life, nil
}
