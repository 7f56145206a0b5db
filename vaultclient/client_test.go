package vaultclient

import (
	"context"
	"errors"
	"testing"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

// TestSandboxVault: reads, writes and errors against the sandbox's real
// Vault: a KV v2 read, a 404 as (nil, nil), an error status as
// *vault.StatusError, a token cleared by ClearToken.
func TestSandboxVault(t *testing.T) {
	sb := sandbox.Get(t)
	t.Setenv("VAULT_ADDR", sb.VaultAddr)
	t.Setenv("VAULT_TOKEN", "ignored-from-env")
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var se *vault.StatusError
	if _, err := c.Read(ctx, "auth/token/lookup-self", nil); !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("without SetToken (VAULT_TOKEN is not read): got %v, want a 403 StatusError", err)
	}
	c.SetToken([]byte(sb.VaultToken))
	if _, err := c.Write(ctx, "secret/data/vaultclient-test", map[string]any{"data": map[string]any{"k": "v1"}}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Read(ctx, "secret/data/vaultclient-test", map[string][]string{"version": {"1"}})
	if err != nil || s == nil {
		t.Fatalf("read: %v %v", s, err)
	}
	if d, _ := s.Data["data"].(map[string]any); d["k"] != "v1" {
		t.Fatalf("data = %v", s.Data)
	}
	if s, err := c.Read(ctx, "secret/data/vaultclient-nope", nil); s != nil || err != nil {
		t.Fatalf("missing path: %v %v, want nil, nil", s, err)
	}
	if _, err := c.Write(ctx, "sys/no-such-endpoint", nil); !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("got %v, want a 404 StatusError", err)
	}
	c.ClearToken()
	if _, err := c.Read(ctx, "secret/data/vaultclient-test", nil); !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("after ClearToken: got %v, want 403", err)
	}
}
