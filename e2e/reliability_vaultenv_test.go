package e2e

// Hostile and broken environments for vault-env (issue 8): whatever a pod
// spec puts into a wrapped container's environment, vault-env ends clearly,
// never starts the application with an unresolved reference, never prints a
// value, and does no network I/O before its configuration is valid.

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestReliabilityVaultEnvHostileEnvironment(t *testing.T) {
	t.Parallel()
	env := relSandbox(t)
	secretPath := "rel/" + randomSuffix(t, 10)
	value := "rel-hostile-" + randomSuffix(t, 16)
	vaultPut(t, secretPath, map[string]string{"key": value})
	ref := "vault:secret/data/" + secretPath + "#key"

	many := func(n int, v string) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("REL_%05d=%s", i, v))
		}
		return out
	}
	// Linux caps one environment string at 128 KiB (MAX_ARG_STRLEN).
	big := strings.Repeat("x", 120<<10)

	tests := []struct {
		name        string
		environ     []string
		wantStart   bool
		wantInErr   []string // stderr must name these
		noNetwork   bool     // refused before any connection to Vault
		checkOutput func(t *testing.T, out string)
	}{
		{
			name:      "invalid client timeout",
			environ:   []string{"VAULT_CLIENT_TIMEOUT=soon", "REL=" + ref},
			wantInErr: []string{"VAULT_CLIENT_TIMEOUT"},
			noNetwork: true,
		},
		{
			name:      "invalid daemon flag",
			environ:   []string{"VAULT_ENV_DAEMON=perhaps", "REL=" + ref},
			wantInErr: []string{"VAULT_ENV_DAEMON"},
			noNetwork: true,
		},
		{
			name:      "missing key",
			environ:   []string{"REL_MISSING=vault:secret/data/" + secretPath + "#nokey"},
			wantInErr: []string{"REL_MISSING", secretPath},
		},
		{
			name:      "missing path",
			environ:   []string{"REL_MISSING=vault:secret/data/rel/does-not-exist-" + randomSuffix(t, 6) + "#key"},
			wantInErr: []string{"REL_MISSING"},
		},
		{
			name:      "reference without a key",
			environ:   []string{"REL_NOKEY=vault:secret/data/" + secretPath},
			wantInErr: []string{"REL_NOKEY"},
		},
		{
			name:      "5000 references to one path",
			environ:   many(5000, ref),
			wantStart: true,
			checkOutput: func(t *testing.T, out string) {
				if n := strings.Count(out, "="+value+"\n"); n != 5000 {
					t.Errorf("%d variables resolved, want 5000", n)
				}
			},
		},
		{
			name:      "a 120 KiB plain value passes through",
			environ:   []string{"REL_BIG=" + big, "REL=" + ref},
			wantStart: true,
			checkOutput: func(t *testing.T, out string) {
				if !strings.Contains(out, "REL_BIG="+big+"\n") {
					t.Errorf("the 120 KiB value was not passed through unchanged")
				}
			},
		},
		{
			name:      "inline references in a long value",
			environ:   []string{"REL_INLINE=" + strings.Repeat("a${"+ref+"}b", 200)},
			wantStart: true,
			checkOutput: func(t *testing.T, out string) {
				if !strings.Contains(out, "REL_INLINE="+strings.Repeat("a"+value+"b", 200)+"\n") {
					t.Errorf("inline references not resolved")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy := relProxy(t, env.VaultAddr)
			environ := append([]string{
				"PATH=/usr/bin:/bin",
				"VAULT_ADDR=http://" + proxy.Addr(),
				"VAULT_TOKEN=" + env.VaultToken,
			}, tt.environ...)
			r := relRunVaultEnv(t, 60*time.Second, environ, env.Bin.TestApp)
			started := strings.Contains(r.Stdout, "ARG[0]=")
			t.Logf("exit %d after %v, %d connections to vault", r.Code, r.Took.Round(time.Millisecond), proxy.Stats().Accepted)
			if strings.Contains(r.Stderr, value) || (len(env.VaultToken) >= 8 && strings.Contains(r.Stderr, env.VaultToken)) {
				t.Errorf("vault-env's log holds the secret value or the token")
			}
			if strings.Contains(r.Stdout, "VAULT_TOKEN=") {
				t.Errorf("the application received VAULT_TOKEN")
			}
			if tt.wantStart {
				if r.Code != 0 || !started {
					t.Fatalf("exit %d, app started %v; stderr:\n%.2000s", r.Code, started, r.Stderr)
				}
				if tt.checkOutput != nil {
					tt.checkOutput(t, r.Stdout)
				}
				return
			}
			if started || r.Code == 0 {
				t.Fatalf("exit %d, app started %v: want a failure before the app", r.Code, started)
			}
			for _, w := range tt.wantInErr {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr does not name %q:\n%.2000s", w, r.Stderr)
				}
			}
			if tt.noNetwork && proxy.Stats().Accepted > 0 {
				t.Errorf("vault-env contacted Vault before its configuration was valid")
			}
		})
	}
}
