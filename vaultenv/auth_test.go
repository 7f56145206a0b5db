package vaultenv

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

func fakeJWT(sub string) []byte {
	enc := base64.RawURLEncoding
	return []byte(enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString([]byte(`{"sub":"`+sub+`"}`)) + ".sig")
}

func files(m map[string][]byte) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		b, ok := m[p]
		if !ok {
			return nil, os.ErrNotExist
		}
		return append([]byte(nil), b...), nil
	}
}

func TestAuthenticate(t *testing.T) {
	jwt := fakeJWT("system:serviceaccount:ns1:app-sa")
	tests := []struct {
		name      string
		environ   []string
		files     map[string][]byte
		failures  int // login answers 500 this many times first
		loginCode int // permanent login failure status
		wantToken string
		wantRole  string
		wantErr   string
		logins    int
	}{
		{name: "literal token", environ: []string{"VAULT_TOKEN=hvs.literal"}, wantToken: "hvs.literal"},
		{name: "token file", environ: []string{"VAULT_TOKEN_FILE=/tok"}, files: map[string][]byte{"/tok": []byte("hvs.file\n")}, wantToken: "hvs.file"},
		{name: "empty token file", environ: []string{"VAULT_TOKEN_FILE=/tok"}, files: map[string][]byte{"/tok": []byte("\n")}, wantErr: "VAULT_TOKEN_FILE"},
		{name: "login, role from JWT", files: map[string][]byte{DefaultSATokenPath: jwt}, wantToken: "hvs.login", wantRole: "app-sa", logins: 1},
		{name: "login, explicit role and path", environ: []string{"VAULT_ROLE=r", "KUBERNETES_SERVICE_ACCOUNT_TOKEN=/jwt"}, files: map[string][]byte{"/jwt": jwt}, wantToken: "hvs.login", wantRole: "r", logins: 1},
		{name: "login retried", files: map[string][]byte{DefaultSATokenPath: jwt}, failures: 3, wantToken: "hvs.login", wantRole: "app-sa", logins: 4},
		{name: "login gives up at the timeout", environ: []string{"VAULT_CLIENT_TIMEOUT=700ms"}, files: map[string][]byte{DefaultSATokenPath: jwt}, failures: 1000, wantErr: "gave up"},
		{name: "bad role is not retried", files: map[string][]byte{DefaultSATokenPath: jwt}, loginCode: 400, wantErr: "400", logins: 1},
		{name: "no JWT file", wantErr: "KUBERNETES_SERVICE_ACCOUNT_TOKEN"},
		{name: "JWT without ServiceAccount", files: map[string][]byte{DefaultSATokenPath: fakeJWT("someone")}, wantErr: "VAULT_ROLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeVault()
				var gotRole string
				n := 0
				f.writes["auth/kubernetes/login"] = func(d map[string]any) (*vault.Secret, error) {
					n++
					gotRole, _ = d["role"].(string)
					if tt.loginCode != 0 {
						return nil, &vault.StatusError{Code: tt.loginCode, Messages: []string{"invalid role name"}}
					}
					if n <= tt.failures {
						return nil, &vault.StatusError{Code: 500, Messages: []string{"busy"}}
					}
					return &vault.Secret{Auth: &vault.Auth{ClientToken: []byte("hvs.login"), LeaseDuration: time.Hour, Renewable: true}}, nil
				}
				cfg, err := ParseConfig(tt.environ)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				s, err := Authenticate(context.Background(), f, cfg, files(tt.files), discardLog())
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
					}
					if time.Since(start) > 5*time.Second {
						t.Fatalf("took %s", time.Since(start))
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if err == nil && f.token != tt.wantToken {
					t.Errorf("client token = %q, want %q", f.token, tt.wantToken)
				}
				if gotRole != tt.wantRole && tt.wantRole != "" {
					t.Errorf("role = %q, want %q", gotRole, tt.wantRole)
				}
				if tt.logins != 0 && n != tt.logins {
					t.Errorf("%d logins, want %d", n, tt.logins)
				}
				if cfg.Token != nil {
					t.Error("config still holds the token")
				}
				if s != nil && s.handoff != nil {
					t.Error("session keeps a token without vault:login")
				}
			})
		})
	}
}

func TestLoginHandoff(t *testing.T) {
	f := newFakeVault()
	f.writes["auth/jwt/login"] = func(map[string]any) (*vault.Secret, error) {
		return &vault.Secret{Auth: &vault.Auth{ClientToken: []byte("hvs.handoff")}}, nil
	}
	environ := []string{"VAULT_TOKEN=vault:login", "VAULT_AUTH_METHOD=jwt", "VAULT_PATH=jwt", "VAULT_ROLE=r", "A=b"}
	cfg, err := ParseConfig(environ)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Authenticate(context.Background(), f, cfg, files(map[string][]byte{DefaultSATokenPath: fakeJWT("x")}), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(cfg, environ)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Resolve(context.Background(), f, p, s, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=b", "VAULT_TOKEN=hvs.handoff"}
	if strings.Join(res.Env, ",") != strings.Join(want, ",") {
		t.Fatalf("env = %q, want %q", res.Env, want)
	}
	if s.handoff != nil {
		t.Fatal("session still holds the handed-off token")
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		wantVar string // "" for success
		check   func(*Config) bool
	}{
		{name: "defaults", check: func(c *Config) bool {
			return c.Addr == DefaultAddr && c.AuthPath == "kubernetes" && c.ClientTimeout == 10*time.Second && c.TransitBatchSize == 25 && c.SATokenPath == DefaultSATokenPath
		}},
		{name: "all set", environ: []string{"VAULT_ADDR=http://127.0.0.1:1", "VAULT_CLIENT_TIMEOUT=3", "VAULT_PATH=/k8s/", "VAULT_ENV_DAEMON=true", "VAULT_ENV_DELAY=1s", "VAULT_ENV_PASSTHROUGH=VAULT_ADDR, VAULT_ROLE", "VAULT_LOG_LEVEL=debug", "VAULT_JSON_LOG=1"},
			check: func(c *Config) bool {
				return c.ClientTimeout == 3*time.Second && c.AuthPath == "k8s" && c.Daemon && c.Delay == time.Second && len(c.Passthrough) == 2 && c.JSONLog
			}},
		{name: "bad addr", environ: []string{"VAULT_ADDR=127.0.0.1:8200"}, wantVar: EnvAddr},
		{name: "bad bool", environ: []string{"VAULT_SKIP_VERIFY=yes please"}, wantVar: EnvSkipVerify},
		{name: "bad timeout", environ: []string{"VAULT_CLIENT_TIMEOUT=0"}, wantVar: EnvClientTimeout},
		{name: "bad method", environ: []string{"VAULT_AUTH_METHOD=aws-ec2"}, wantVar: EnvAuthMethod},
		{name: "bad batch", environ: []string{"VAULT_TRANSIT_BATCH_SIZE=-1"}, wantVar: EnvTransitBatchSize},
		{name: "bad level", environ: []string{"VAULT_LOG_LEVEL=loud"}, wantVar: EnvLogLevel},
		{name: "token passthrough", environ: []string{"VAULT_ENV_PASSTHROUGH=VAULT_TOKEN"}, wantVar: EnvPassthrough},
		{name: "login and token file", environ: []string{"VAULT_TOKEN=vault:login", "VAULT_TOKEN_FILE=/x"}, wantVar: EnvTokenFile},
		{name: "revoke handed-off token", environ: []string{"VAULT_TOKEN=vault:login", "VAULT_REVOKE_TOKEN=true"}, wantVar: EnvRevokeToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig(append(tt.environ, "VAULT_TOKEN_X=ignored"))
			if tt.wantVar != "" {
				var ve *VarError
				if !errors.As(err, &ve) || ve.Var != tt.wantVar {
					t.Fatalf("err = %v, want a VarError for %s", err, tt.wantVar)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("config = %+v", c)
			}
		})
	}
}

func TestRedaction(t *testing.T) {
	c, err := ParseConfig([]string{"VAULT_TOKEN=hvs.secret"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.String(), (&vault.Secret{Data: map[string]any{"k": "hvs.secret"}}).String(), (&vault.Auth{ClientToken: []byte("hvs.secret")}).String(), (&Result{Env: []string{"A=hvs.secret"}}).String()} {
		if strings.Contains(s, "hvs.secret") {
			t.Errorf("%q leaks the secret", s)
		}
	}
}

func TestLogRedaction(t *testing.T) {
	var b strings.Builder
	log := slog.New(slog.NewJSONHandler(&b, nil))
	c, _ := ParseConfig([]string{"VAULT_TOKEN=hvs.secret"})
	log.Info("x", "secret", &vault.Secret{Data: map[string]any{"k": "hvs.secret"}}, "auth", &vault.Auth{ClientToken: []byte("hvs.secret")},
		"config", c, "result", &Result{Env: []string{"A=hvs.secret"}}, "session", &Session{handoff: []byte("hvs.secret")})
	if strings.Contains(b.String(), "hvs.secret") {
		t.Fatalf("log leaks the secret: %s", b.String())
	}
}
