package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Client is the part of a Vault client the runtime needs: the logical API and
// the token the client sends. vaultclient.Client implements it on
// github.com/hashicorp/vault/api; unit tests use a fake.
//
// Read returns (nil, nil) when Vault answers 404 without a body, like the
// official client. Errors from Vault are returned as *StatusError (wrapped).
type Client interface {
	Read(ctx context.Context, path string, query url.Values) (*Secret, error)
	Write(ctx context.Context, path string, data map[string]any) (*Secret, error)
	// SetToken copies token into the client; the caller may clear its slice.
	SetToken(token []byte)
}

// Secret is a Vault response. Data values are what JSON decoding gives
// (string, json.Number, bool, map[string]any, []any, nil).
type Secret struct {
	Data          map[string]any
	LeaseID       string
	LeaseDuration time.Duration
	Renewable     bool
	Auth          *Auth
}

// String redacts: a Secret never prints its data.
func (s *Secret) String() string { return "vault.Secret{REDACTED}" }

// LogValue redacts in logs too (slog.LogValuer).
func (s *Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// Auth is the auth block of a login or token renewal.
type Auth struct {
	// ClientToken is a credential: the receiver must clear() it when done.
	ClientToken   []byte
	LeaseDuration time.Duration
	Renewable     bool
}

// String redacts the token.
func (a *Auth) String() string { return "vault.Auth{REDACTED}" }

// LogValue redacts in logs too (slog.LogValuer).
func (a *Auth) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// StatusError is an error status from Vault. Messages are Vault's error
// strings, which do not carry secret values.
type StatusError struct {
	Code     int
	Messages []string
}

func (e *StatusError) Error() string {
	if len(e.Messages) == 0 {
		return fmt.Sprintf("vault answered %d", e.Code)
	}
	return fmt.Sprintf("vault answered %d: %s", e.Code, strings.Join(e.Messages, "; "))
}

// StatusCode returns the Vault status of err, or 0.
func StatusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}
