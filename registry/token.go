package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
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
// GET realm?service=…&scope=…, with basic auth when there is a credential.
func (l *lookup) fetchToken(ctx context.Context, ch challenge) (string, error) {
	realm := ch.Params["realm"]
	u, err := url.Parse(realm)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", l.fail(ErrUnauthorized, errors.New("the registry's bearer challenge has no usable realm"))
	}
	l.mu.Lock()
	cred := l.cred
	l.mu.Unlock()
	if cred != nil && u.Scheme == "http" && !l.client.plainHTTPAllowed(u.Host) {
		return "", l.fail(ErrUnauthorized, fmt.Errorf("refusing to send credentials to the plain-HTTP token realm %s", u.Host))
	}
	scope := ch.Params["scope"]
	if scope == "" {
		scope = l.scope()
	}
	q := u.Query()
	if s := ch.Params["service"]; s != "" {
		q.Set("service", s)
	}
	q.Set("scope", scope)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
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
	var doc struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxTokenBytes)).Decode(&doc); err != nil {
		return "", l.fail(ErrUnauthorized, fmt.Errorf("token server %s: malformed answer", u.Host))
	}
	tok := doc.Token
	if tok == "" {
		tok = doc.AccessToken
	}
	if tok == "" {
		return "", l.fail(ErrUnauthorized, fmt.Errorf("token server %s: answer holds no token", u.Host))
	}
	life := defaultTokenLife
	if doc.ExpiresIn > 0 {
		life = time.Duration(doc.ExpiresIn) * time.Second
	}
	l.mu.Lock()
	key := l.tokenKey(l.scope())
	l.mu.Unlock()
	if scope == l.scope() {
		l.client.tokens.put(key, tok, life)
	}
	return tok, nil
}

// tokenCache keeps bearer tokens until shortly before they expire, so a
// repeated lookup skips the 401 round trip and the token request.
type tokenCache struct {
	mu     sync.Mutex
	now    func() time.Time
	tokens map[string]cachedToken
}

type cachedToken struct {
	token   string
	expires time.Time
}

func newTokenCache(now func() time.Time) *tokenCache {
	return &tokenCache{now: now, tokens: map[string]cachedToken{}}
}

func (t *tokenCache) get(key string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	tok, ok := t.tokens[key]
	if !ok || !t.now().Before(tok.expires) {
		delete(t.tokens, key)
		return ""
	}
	return tok.token
}

func (t *tokenCache) put(key, token string, life time.Duration) {
	if life <= tokenSafetyMargin {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.tokens) >= maxTokens {
		for k, v := range t.tokens {
			if !now.Before(v.expires) {
				delete(t.tokens, k)
			}
		}
		if len(t.tokens) >= maxTokens {
			clear(t.tokens)
		}
	}
	t.tokens[key] = cachedToken{token: token, expires: now.Add(life - tokenSafetyMargin)}
}
