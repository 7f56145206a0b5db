package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// TestVaultTLS: a Vault with its own CA is reached with VAULT_CACERT, or
// with VAULT_SKIP_VERIFY, and refused otherwise.
func TestVaultTLS(t *testing.T) {
	sb := sandbox.Get(t)
	v, caFile := devVaultTLS(t, sb)
	v.must(t, "POST", "secret/data/tls", map[string]any{"data": map[string]any{"k": "over-tls"}})
	base := []string{"VAULT_ADDR=" + v.addr, "VAULT_TOKEN=" + v.token, "A=vault:secret/data/tls#k"}
	tests := []struct {
		name string
		env  []string
		ok   bool
	}{
		{name: "VAULT_CACERT", env: []string{"VAULT_CACERT=" + caFile}, ok: true},
		{name: "VAULT_SKIP_VERIFY", env: []string{"VAULT_SKIP_VERIFY=true"}, ok: true},
		{name: "unknown CA refused", env: nil, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runApp(t, append(append([]string{}, base...), tt.env...))
			if tt.ok {
				if code != 0 || !hasLine(out, "A=over-tls") {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				return
			}
			if code != 1 || !strings.Contains(out, "certificate") || strings.Contains(out, "ARGV=") {
				t.Fatalf("exit %d, want a certificate error:\n%s", code, out)
			}
		})
	}
}

// TestJWTAuth: VAULT_AUTH_METHOD=jwt with a ServiceAccount JWT, against a
// Vault of the test's own whose jwt auth trusts the sandbox apiserver's
// signing keys.
func TestJWTAuth(t *testing.T) {
	sb := sandbox.Get(t)
	k := newKubeAdmin(t, sb)
	v := devVault(t, sb)
	keys, issuer := k.signingKeysPEM(t)
	id := randHex(t)[:8]
	ns, sa := "h2-jwt-"+id, "jwtapp"
	jwt := k.serviceAccountJWT(t, ns, sa, "vault-h2")
	jwtFile := filepath.Join(t.TempDir(), "jwt")
	if err := os.WriteFile(jwtFile, []byte(jwt), 0o600); err != nil {
		t.Fatal(err)
	}
	v.must(t, "POST", "sys/auth/k8s-jwt", map[string]any{"type": "jwt"})
	v.must(t, "POST", "auth/k8s-jwt/config", map[string]any{"jwt_validation_pubkeys": keys, "bound_issuer": issuer})
	v.must(t, "POST", "sys/policies/acl/read-app", map[string]any{"policy": `path "secret/*" { capabilities = ["read"] }`})
	v.must(t, "POST", "auth/k8s-jwt/role/jwtapp", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"vault-h2"},
		"bound_subject": "system:serviceaccount:" + ns + ":" + sa, "token_policies": []string{"read-app"}, "token_ttl": "5m",
	})
	v.must(t, "POST", "secret/data/jwt", map[string]any{"data": map[string]any{"k": "via-jwt"}})

	// Role defaults to the ServiceAccount name ("jwtapp"); the policy allows
	// only reads under secret/, so this also covers a token that may not be
	// granted much else.
	code, out := runApp(t, []string{"VAULT_ADDR=" + v.addr, "VAULT_AUTH_METHOD=jwt", "VAULT_PATH=k8s-jwt",
		"KUBERNETES_SERVICE_ACCOUNT_TOKEN=" + jwtFile, "A=vault:secret/data/jwt#k", "B=vault:secret/jwt#k"})
	if code != 0 || !hasLine(out, "A=via-jwt") || !hasLine(out, "B=via-jwt") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
