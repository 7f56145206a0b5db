package main

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// Integration tests: vault-env (this test binary) against a real Vault. Each
// test starts a Vault dev server of its own on free ports (binary from the
// sandbox), except kubernetes auth, which uses the sandbox's Vault and
// apiserver.

// runApp runs vault-env with env around "testapp env" and returns the exit
// code and output.
func runApp(t *testing.T, env []string) (int, string) {
	t.Helper()
	p := start(t, append(vaultEnvBase(), env...), self(t), "testapp", "env")
	code := p.wait(t, 60*time.Second)
	return code, p.output()
}

func hasLine(out, line string) bool {
	for _, l := range strings.Split(out, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func TestVaultReferences(t *testing.T) {
	sb := sandbox.Get(t)
	v := devVault(t, sb)
	// KV v2 is at secret/ in dev mode. Versions: 1, 2 (deleted), 3.
	v.must(t, "POST", "secret/data/app", map[string]any{"data": map[string]any{"password": "old-pw"}})
	v.must(t, "POST", "secret/data/app", map[string]any{"data": map[string]any{"password": "deleted-pw"}})
	v.must(t, "POST", "secret/data/app", map[string]any{"data": map[string]any{"user": "app", "password": "p@ss-3", "enc": "ZGVjb2RlZA==", "port": 5432}})
	v.must(t, "POST", "secret/delete/app", map[string]any{"versions": []int{2}})
	v.must(t, "POST", "secret/data/gone", map[string]any{"data": map[string]any{"k": "destroyed-value"}})
	v.must(t, "PUT", "secret/destroy/gone", map[string]any{"versions": []int{1}})
	v.must(t, "POST", "secret/data/fromenv", map[string]any{"data": map[string]any{"FROM_A": "from-a", "EXPLICIT": "from-path-loses"}})
	v.must(t, "POST", "secret/data/fromenv", map[string]any{"data": map[string]any{"FROM_A": "from-a-2", "EXPLICIT": "from-path-loses"}})
	// KV v1 at kv1/.
	v.must(t, "POST", "sys/mounts/kv1", map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	v.must(t, "POST", "kv1/plain", map[string]any{"k": "kv1-value"})
	// Paths whose shape misleads: a KV v1 path with a data segment (read
	// early, kept as KV v1), a KV v2 short path with a deeper data segment
	// (read early, dropped, read at secret/data/team/data/x).
	v.must(t, "POST", "kv1/data/x", map[string]any{"k": "kv1-data-value"})
	v.must(t, "POST", "secret/data/team/data/x", map[string]any{"data": map[string]any{"k": "kv2-deep-value"}})
	// Transit.
	v.must(t, "POST", "sys/mounts/transit", map[string]any{"type": "transit"})
	v.must(t, "POST", "transit/keys/app", nil)
	var cts []string
	for _, pt := range []string{"transit-one", "transit-two", "transit-three"} {
		d := v.data(t, "POST", "transit/encrypt/app", map[string]any{"plaintext": b64(pt)})
		cts = append(cts, d["ciphertext"].(string))
	}
	// PKI.
	v.must(t, "POST", "sys/mounts/pki", map[string]any{"type": "pki", "config": map[string]any{"max_lease_ttl": "24h"}})
	v.must(t, "POST", "pki/root/generate/internal", map[string]any{"common_name": "test-root", "ttl": "24h"})
	v.must(t, "POST", "pki/roles/web", map[string]any{"allowed_domains": "example.com", "allow_subdomains": true, "max_ttl": "1h"})

	base := []string{"VAULT_ADDR=" + v.addr, "VAULT_TOKEN=" + v.token}
	tests := []struct {
		name     string
		env      []string
		want     []string // lines in the app's environment
		absent   []string // prefixes that must not appear
		wantFail []string // vault-env fails; output holds these
	}{
		{name: "kv v2 latest, both spellings", env: []string{"A=vault:secret/data/app#password", "B=vault:secret/app#user"}, want: []string{"A=p@ss-3", "B=app"}},
		{name: "kv v2 version", env: []string{"A=vault:secret/data/app#password#1"}, want: []string{"A=old-pw"}},
		{name: "kv v2 deleted version", env: []string{"A=vault:secret/data/app#password#2"}, wantFail: []string{"A:", "secret/data/app", "version 2 was deleted"}},
		{name: "kv v2 destroyed version", env: []string{"A=vault:secret/data/gone#k"}, wantFail: []string{"A:", "secret/data/gone", "destroyed"}},
		{name: "kv v1", env: []string{"A=vault:kv1/plain#k"}, want: []string{"A=kv1-value"}},
		{name: "kv v1 path with a data segment", env: []string{"A=vault:kv1/data/x#k"}, want: []string{"A=kv1-data-value"}},
		{name: "kv v2 short path with a deeper data segment", env: []string{"A=vault:secret/team/data/x#k", "B=vault:secret/data/team/data/x#k"}, want: []string{"A=kv2-deep-value", "B=kv2-deep-value"}},
		{name: "numbers render as written", env: []string{"P=vault:secret/data/app#port"}, want: []string{"P=5432"}},
		{name: "template", env: []string{"DSN=vault:secret/data/app#${.user}:${.password}@db", "D=vault:secret/data/app#${.enc | b64dec | upper}"}, want: []string{"DSN=app:p@ss-3@db", "D=DECODED"}},
		{name: "inline", env: []string{"URL=pg://${vault:secret/data/app#user}:${vault:secret/data/app#password}@h/${vault:kv1/plain#k}?x=${}"}, want: []string{"URL=pg://app:p@ss-3@h/kv1-value?x=${}"}},
		{name: "transit, batched", env: []string{"VAULT_TRANSIT_KEY_ID=app", "VAULT_TRANSIT_BATCH_SIZE=2", "T1=" + cts[0], "T2=" + cts[1], "T3=x-${" + cts[2] + "}"},
			want: []string{"T1=transit-one", "T2=transit-two", "T3=x-transit-three"}},
		{name: "from-path, explicit wins", env: []string{"VAULT_ENV_FROM_PATH=secret/data/fromenv", "EXPLICIT=mine"}, want: []string{"FROM_A=from-a-2", "EXPLICIT=mine"}},
		{name: "from-path with a version", env: []string{"VAULT_ENV_FROM_PATH=secret/data/fromenv#1"}, want: []string{"FROM_A=from-a"}},
		{name: "urlquery in an inline nested template", env: []string{"DSN=postgres://${vault:secret/data/app#${.user}:${.password | urlquery}}@db/app"}, want: []string{"DSN=postgres://app:p%40ss-3@db/app"}},
		{name: "template execution error withholds the detail", env: []string{"A=vault:secret/data/app#${index .password 99}"}, wantFail: []string{"A:", "secret/data/app", "not shown"}},
		{name: "dot segments refused", env: []string{"A=vault:secret/../sys/mounts#k"}, wantFail: []string{"A:", "segments"}},
		{name: "missing path fails and names it", env: []string{"SECRET_A=vault:secret/data/nope#k", "B=vault:secret/data/app#password"}, wantFail: []string{"SECRET_A:", "secret/data/nope", "not found"}},
		{name: "missing key fails", env: []string{"SECRET_A=vault:secret/data/app#nokey"}, wantFail: []string{"SECRET_A:", "secret/data/app", `nokey`, "not found"}},
		{name: "ignore missing paths", env: []string{"VAULT_IGNORE_MISSING_SECRETS=true", "A=vault:secret/data/nope#k", "B=vault:secret/data/app#password#2", "C=vault:secret/data/app#user", "VAULT_ENV_FROM_PATH=secret/data/nope2"}, want: []string{"C=app"}, absent: []string{"A=", "B="}},
		{name: "ignore missing: a missing key still fails", env: []string{"VAULT_IGNORE_MISSING_SECRETS=true", "B=vault:secret/data/app#nokey"}, wantFail: []string{"B:", "nokey", "not found"}},
		{name: "passthrough", env: []string{"VAULT_ENV_PASSTHROUGH=VAULT_ADDR", "A=vault:secret/data/app#user"}, want: []string{"A=app", "VAULT_ADDR=" + v.addr}, absent: []string{"VAULT_TOKEN="}},
		{name: "settings dropped", env: []string{"VAULT_LOG_LEVEL=debug", "A=vault:secret/data/app#user"}, want: []string{"A=app"}, absent: []string{"VAULT_ADDR=", "VAULT_TOKEN=", "VAULT_LOG_LEVEL="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runApp(t, append(append([]string{}, base...), tt.env...))
			if tt.wantFail != nil {
				if code != 1 || strings.Contains(out, "ARGV=") {
					t.Fatalf("exit %d, want 1 without starting the app:\n%s", code, out)
				}
				for _, s := range tt.wantFail {
					if !strings.Contains(out, s) {
						t.Errorf("output lacks %q:\n%s", s, out)
					}
				}
				for _, secret := range []string{"p@ss-3", "old-pw", "deleted-pw", "destroyed-value", v.token} {
					if strings.Contains(out, secret) {
						t.Errorf("output leaks %q:\n%s", secret, out)
					}
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			for _, w := range tt.want {
				if !hasLine(out, w) {
					t.Errorf("environment lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(out, "\n"+a) {
					t.Errorf("environment has %q:\n%s", a, out)
				}
			}
		})
	}

	t.Run("pki issue shared by certificate and key", func(t *testing.T) {
		body := `{"common_name":"app.example.com","ttl":"10m"}`
		code, out := runApp(t, append(append([]string{}, base...),
			"CERT=>>vault:pki/issue/web#certificate#"+body, "KEY=>>vault:pki/issue/web#private_key#"+body))
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if !strings.Contains(out, "\nCERT=-----BEGIN CERTIFICATE-----") || !strings.Contains(out, "\nKEY=-----BEGIN") {
			t.Fatalf("CERT or KEY is not PEM:\n%s", out)
		}
		cert, key := pemBlocks(out)
		if cert == nil || key == nil {
			t.Fatalf("no certificate or key in output:\n%s", out)
		}
		c, err := x509.ParseCertificate(cert.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject.CommonName != "app.example.com" {
			t.Errorf("CN = %q", c.Subject.CommonName)
		}
		priv, err := parseKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if !priv.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(c.PublicKey) {
			t.Fatal("key and certificate come from different issue calls")
		}
		// One issue call for both references: pki/certs holds the root and
		// one issued certificate.
		certs := v.must(t, "LIST", "pki/certs", nil)["data"].(map[string]any)["keys"].([]any)
		if len(certs) != 2 { // the root and one issued certificate
			t.Errorf("%d certificates in pki/certs, want root + 1", len(certs))
		}
	})

	t.Run("token file and revoke", func(t *testing.T) {
		tok, acc := v.newToken(t, "1h")
		f := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out := runApp(t, []string{"VAULT_ADDR=" + v.addr, "VAULT_TOKEN_FILE=" + f, "VAULT_REVOKE_TOKEN=true", "A=vault:secret/data/app#user"})
		if code != 0 || !hasLine(out, "A=app") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if strings.Contains(out, tok) || !hasLine(out, "VAULT_TOKEN_FILE="+f) {
			t.Fatalf("token reached the app, or VAULT_TOKEN_FILE did not (kept, as in Bank-Vaults):\n%s", out)
		}
		if _, status := v.call(t, "POST", "auth/token/lookup-accessor", map[string]any{"accessor": acc}); status != 400 && status != 403 {
			t.Fatalf("token still exists after VAULT_REVOKE_TOKEN (lookup status %d)", status)
		}
	})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// pemBlocks finds the certificate and private key PEM blocks in the app's
// printed environment (values with newlines continue on following lines).
func pemBlocks(out string) (cert, key *pem.Block) {
	rest := []byte(out)
	for {
		i := strings.Index(string(rest), "-----BEGIN")
		if i < 0 {
			return cert, key
		}
		var b *pem.Block
		b, rest = pem.Decode(rest[i:])
		if b == nil {
			return cert, key
		}
		switch {
		case b.Type == "CERTIFICATE" && cert == nil:
			cert = b
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			key = b
		}
	}
}

func parseKey(b *pem.Block) (crypto.Signer, error) {
	switch b.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(b.Bytes)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer), nil
}
