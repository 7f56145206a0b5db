package vaultenv

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

// Session is the token vault-env works with after [Authenticate].
type Session struct {
	// Source says where the token came from: "VAULT_TOKEN", "VAULT_TOKEN_FILE"
	// or "login".
	Source string
	// TTL and Renewable describe the token when known (after a login, or
	// after [LookupToken]).
	TTL       time.Duration
	Renewable bool
	// handoff is the token kept for the application (VAULT_TOKEN=vault:login).
	handoff []byte
}

// String redacts.
func (s *Session) String() string { return "vaultenv.Session{" + s.Source + "}" }

// LogValue is String (slog.LogValuer).
func (s *Session) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Clear zeroes the token bytes the session still holds.
func (s *Session) Clear() {
	clear(s.handoff)
	s.handoff = nil
}

// Backoff bounds for login retries; the total is bounded by the context.
const (
	loginBackoffMin = 100 * time.Millisecond
	loginBackoffMax = 2 * time.Second
)

// Authenticate gives v a token: VAULT_TOKEN, else VAULT_TOKEN_FILE, else a
// login with the ServiceAccount JWT (kubernetes or jwt method), retried with
// exponential backoff until c.ClientTimeout has passed. readFile reads the
// token and JWT files (os.ReadFile). Credential buffers are cleared before it
// returns; c.Token is cleared.
func Authenticate(ctx context.Context, v vault.Client, c *Config, readFile func(string) ([]byte, error), log *slog.Logger) (*Session, error) {
	defer c.Clear()
	switch {
	case len(c.Token) > 0:
		v.SetToken(c.Token)
		return &Session{Source: EnvToken}, nil
	case c.TokenFile != "":
		b, err := readFile(c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", EnvTokenFile, err)
		}
		defer clear(b)
		tok := bytes.TrimSpace(b)
		if len(tok) == 0 {
			return nil, &VarError{Var: EnvTokenFile, Err: errors.New("token file is empty")}
		}
		v.SetToken(tok)
		return &Session{Source: EnvTokenFile}, nil
	}
	jwt, err := readFile(c.SATokenPath)
	if err != nil {
		return nil, fmt.Errorf("failed to read the ServiceAccount token (%s): %w", EnvSATokenPath, err)
	}
	defer clear(jwt)
	jwt = bytes.TrimSpace(jwt)
	role := c.Role
	if role == "" {
		if role, err = serviceAccountName(jwt); err != nil {
			return nil, &VarError{Var: EnvRole, Err: fmt.Errorf("not set, and the ServiceAccount name cannot be read from the token: %w", err)}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.ClientTimeout)
	defer cancel()
	path := "auth/" + c.AuthPath + "/login"
	auth, err := loginWithRetry(ctx, v, path, role, jwt, log)
	if err != nil {
		return nil, fmt.Errorf("failed to log in to vault at %s as role %q: %w", path, role, err)
	}
	v.SetToken(auth.ClientToken)
	s := &Session{Source: "login", TTL: auth.LeaseDuration, Renewable: auth.Renewable}
	if c.Login {
		s.handoff = auth.ClientToken
	} else {
		clear(auth.ClientToken)
	}
	return s, nil
}

func loginWithRetry(ctx context.Context, v vault.Client, path, role string, jwt []byte, log *slog.Logger) (*vault.Auth, error) {
	wait := loginBackoffMin
	for attempt := 1; ; attempt++ {
		// The vault client API takes the JWT as a string: that copy cannot
		// be zeroed (SECURITY.md, section vault-env-memory).
		sec, err := v.Write(ctx, path, map[string]any{"role": role, "jwt": string(jwt)})
		if err == nil && (sec == nil || sec.Auth == nil || len(sec.Auth.ClientToken) == 0) {
			err = errors.New("login response has no token")
		}
		if err == nil {
			return sec.Auth, nil
		}
		if code := vault.StatusCode(err); code == http.StatusBadRequest || code == http.StatusNotFound {
			return nil, err // a wrong role or mount does not heal by retrying
		}
		log.Warn("vault login failed, retrying", "attempt", attempt, "in", wait, "error", err)
		if !sleepCtx(ctx, wait) {
			return nil, fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		wait = min(2*wait, loginBackoffMax)
	}
}

// serviceAccountName reads the ServiceAccount name from a Kubernetes JWT's
// "sub" claim (system:serviceaccount:NAMESPACE:NAME). The signature is not
// checked: Vault does that; this only picks the default role name.
func serviceAccountName(jwt []byte) (string, error) {
	parts := bytes.Split(jwt, []byte("."))
	if len(parts) != 3 {
		return "", errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(string(parts[1]), "="))
	if err != nil {
		return "", errors.New("JWT payload is not base64url")
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", errors.New("JWT payload is not JSON")
	}
	const prefix = "system:serviceaccount:"
	ns, name, ok := strings.Cut(strings.TrimPrefix(claims.Sub, prefix), ":")
	if !strings.HasPrefix(claims.Sub, prefix) || !ok || ns == "" || name == "" {
		return "", errors.New("JWT subject is not a ServiceAccount")
	}
	return name, nil
}

// LookupToken fills s.TTL and s.Renewable for a token vault-env did not get
// from a login (daemon mode needs them to renew it).
func LookupToken(ctx context.Context, v vault.Client, s *Session) error {
	sec, err := v.Read(ctx, "auth/token/lookup-self", nil)
	if err := checked(err, sec == nil, "look up the vault token"); err != nil {
		return err
	}
	s.TTL = seconds(sec.Data["ttl"])
	s.Renewable, _ = sec.Data["renewable"].(bool)
	return nil
}

// RevokeToken revokes the client's own token.
func RevokeToken(ctx context.Context, v vault.Client) error {
	if _, err := v.Write(ctx, "auth/token/revoke-self", nil); err != nil {
		return fmt.Errorf("failed to revoke the vault token: %w", err)
	}
	return nil
}

// seconds converts a JSON number of seconds (vault/api decodes numbers as
// json.Number) to a duration; anything else is 0.
func seconds(x any) time.Duration {
	n, _ := x.(json.Number)
	i, _ := n.Int64()
	return time.Duration(i) * time.Second
}
