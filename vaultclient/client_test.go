package vaultclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "missing CA file", cfg: Config{Addr: "https://127.0.0.1:8200", CACert: "/nonexistent/ca.pem"}},
		{name: "bad address", cfg: Config{Addr: "://x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Fatal("New succeeded, want error")
			}
		})
	}
}

// devVault starts a Vault dev server on a free port (binary from the
// sandbox) and returns its address and root token.
func devVault(t *testing.T) (addr, root string) {
	t.Helper()
	sb := sandbox.Get(t)
	var port int
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1)); err == nil { // cluster port
			l2.Close()
			break
		}
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	root = hex.EncodeToString(b)
	logf, err := os.Create(filepath.Join(t.TempDir(), "vault.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sb.Bin.Vault, "server", "-dev", "-dev-root-token-id="+root, "-dev-listen-address=127.0.0.1:"+strconv.Itoa(port), "-dev-no-store-token")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logf.Close()
	})
	addr = "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return addr, root
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("vault dev server did not become healthy")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAgainstVault exercises the adapter on a real Vault: reads with query
// parameters, writes, 404 handling, status errors and token handling.
func TestAgainstVault(t *testing.T) {
	addr, root := devVault(t)
	// The official client reads VAULT_TOKEN and VAULT_NAMESPACE from the
	// process environment; ours must not.
	t.Setenv("VAULT_TOKEN", root)
	t.Setenv("VAULT_NAMESPACE", "should-be-ignored")
	c, err := New(Config{Addr: addr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Read(ctx, "auth/token/lookup-self", nil); statusOf(err) != 403 {
		t.Fatalf("without SetToken: err = %v, want 403 (the environment's VAULT_TOKEN must be ignored)", err)
	}
	c.SetToken([]byte(root))

	for i, pw := range []string{"v1", "v2"} {
		if _, err := c.Write(ctx, "secret/data/x", map[string]any{"data": map[string]any{"pw": pw}}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	tests := []struct {
		name    string
		path    string
		query   url.Values
		wantPW  string
		wantNil bool
	}{
		{name: "latest", path: "secret/data/x", wantPW: "v2"},
		{name: "version", path: "secret/data/x", query: url.Values{"version": {"1"}}, wantPW: "v1"},
		{name: "missing is nil, nil", path: "secret/data/nope", wantNil: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := c.Read(ctx, tt.path, tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNil {
				if s != nil {
					t.Fatalf("got %v, want nil", s)
				}
				return
			}
			inner, _ := s.Data["data"].(map[string]any)
			if inner["pw"] != tt.wantPW {
				t.Fatalf("pw = %v, want %s", inner["pw"], tt.wantPW)
			}
		})
	}

	m, err := c.Read(ctx, "sys/internal/ui/mounts/secret/data/x", nil)
	if err != nil || m.Data["path"] != "secret/" || m.Data["options"].(map[string]any)["version"] != "2" {
		t.Fatalf("mount lookup = %v, %v", m, err)
	}

	tok, err := c.Write(ctx, "auth/token/create", map[string]any{"ttl": "1h"})
	if err != nil || tok.Auth == nil || len(tok.Auth.ClientToken) == 0 || tok.Auth.LeaseDuration != time.Hour || !tok.Auth.Renewable {
		t.Fatalf("token create: %+v %v", tok, err)
	}

	_, err = c.Write(ctx, "auth/kubernetes-nope/login", map[string]any{"role": "x"})
	var se *envinject.StatusError
	if !errors.As(err, &se) || (se.Code != 400 && se.Code != 404 && se.Code != 405) {
		t.Fatalf("login on a missing mount: %v", err)
	}

	c.ClearToken()
	if _, err := c.Read(ctx, "secret/data/x", nil); statusOf(err) != 403 {
		t.Fatalf("after ClearToken: err = %v, want 403", err)
	}
}

func statusOf(err error) int {
	var se *envinject.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}
