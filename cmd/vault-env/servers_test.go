package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// vaultAdmin talks to a Vault with a privileged token over plain HTTP, to
// set up what a test needs (it is the test's tool, not the code under test).
type vaultAdmin struct {
	addr, token string
	hc          *http.Client // nil: http.DefaultClient
}

// do sends a request and decodes the JSON answer; it fails the test on a
// status >= 400 unless allowFail.
func (v *vaultAdmin) call(t *testing.T, method, path string, body any) (map[string]any, int) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, v.addr+"/v1/"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", v.token)
	hc := v.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	return out, resp.StatusCode
}

func (v *vaultAdmin) must(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	out, code := v.call(t, method, path, body)
	if code >= 400 {
		t.Fatalf("%s %s: %d %v", method, path, code, out["errors"])
	}
	return out
}

func (v *vaultAdmin) data(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	d, _ := v.must(t, method, path, body)["data"].(map[string]any)
	return d
}

// newToken creates a token with the given TTL (and policies root).
func (v *vaultAdmin) newToken(t *testing.T, ttl string) (token, accessor string) {
	t.Helper()
	out := v.must(t, "POST", "auth/token/create", map[string]any{"ttl": ttl, "renewable": true, "policies": []string{"root"}})
	auth := out["auth"].(map[string]any)
	return auth["client_token"].(string), auth["accessor"].(string)
}

// freePorts returns n consecutive free ports on 127.0.0.1.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := true
		for i := 1; i < n; i++ {
			l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				ok = false
				break
			}
			l2.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// startProcess starts a server process and stops it (by PID) in Cleanup.
func startProcess(t *testing.T, logName string, name string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), logName))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // vault -dev writes ~/.vault-token
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log (tail):\n%s", logName, tail(string(b), 2000))
		}
		logf.Close()
	})
	return cmd
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// poll calls f every 50 ms until it returns true or timeout passes.
func poll(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// devVault starts a Vault dev server of the test's own on free ports.
func devVault(t *testing.T, sb *sandbox.Env) *vaultAdmin {
	t.Helper()
	v, _ := startDevVault(t, sb, false)
	return v
}

// devVaultTLS starts a Vault dev server with a generated CA (-dev-tls) and
// returns it with the CA file's path.
func devVaultTLS(t *testing.T, sb *sandbox.Env) (*vaultAdmin, string) {
	t.Helper()
	return startDevVault(t, sb, true)
}

func startDevVault(t *testing.T, sb *sandbox.Env, withTLS bool) (*vaultAdmin, string) {
	t.Helper()
	port := freePorts(t, 2) // the listener, and the cluster port (+1)
	tok := randHex(t)
	args := []string{"server", "-dev", "-dev-root-token-id=" + tok,
		"-dev-listen-address=127.0.0.1:" + strconv.Itoa(port), "-dev-no-store-token"}
	scheme, caFile := "http", ""
	if withTLS {
		dir := t.TempDir()
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+dir)
		scheme, caFile = "https", filepath.Join(dir, "vault-ca.pem")
	}
	startProcess(t, "vault.log", sb.Bin.Vault, args...)
	v := &vaultAdmin{addr: scheme + "://127.0.0.1:" + strconv.Itoa(port), token: tok, hc: http.DefaultClient}
	if withTLS {
		poll(t, 30*time.Second, "vault CA file", func() bool { _, err := os.Stat(caFile); return err == nil })
		pem, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		v.hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	poll(t, 30*time.Second, "vault dev server", func() bool {
		resp, err := v.hc.Get(v.addr + "/v1/sys/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return v, caFile
}

func randHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// redisServer starts Debian's redis-server with an admin password.
func redisServer(t *testing.T, sb *sandbox.Env) (port int, adminPassword string) {
	t.Helper()
	bin := sb.Bin.RedisServer
	if bin == "" {
		t.Fatal("sandbox has no redis-server")
	}
	port = freePorts(t, 1)
	adminPassword = randHex(t)
	startProcess(t, "redis.log", bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--requirepass", adminPassword, "--dir", t.TempDir())
	poll(t, 15*time.Second, "redis", func() bool { return redisAuth(port, "default", adminPassword) == nil })
	return port, adminPassword
}

// redisAuth logs in to redis with a raw RESP AUTH and PING.
func redisAuth(port int, user, password string) error {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	resp := func(args ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		return b.String()
	}
	if _, err := io.WriteString(c, resp("AUTH", user, password)+resp("PING")); err != nil {
		return err
	}
	buf := make([]byte, 512)
	var got string
	for !strings.Contains(got, "PONG") && !strings.Contains(got, "-") {
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("redis: %w (got %q)", err, got)
		}
		got += string(buf[:n])
	}
	if !strings.HasPrefix(got, "+OK\r\n") {
		return fmt.Errorf("redis AUTH refused: %q", strings.TrimSpace(got))
	}
	return nil
}

// kubeAdmin is the sandbox apiserver with the admin identity, over raw HTTP.
type kubeAdmin struct {
	server, token string
	hc            *http.Client
}

func newKubeAdmin(t *testing.T, sb *sandbox.Env) *kubeAdmin {
	t.Helper()
	ca, err := os.ReadFile(sb.KubeCAFile)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(sb.KubeTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &kubeAdmin{server: sb.KubeServer, token: strings.TrimSpace(string(tok)),
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}}
}

func (k *kubeAdmin) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(context.Background(), method, k.server+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+k.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := k.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	if resp.StatusCode >= 400 && resp.StatusCode != 409 && method != "DELETE" {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// serviceAccountJWT creates namespace ns and ServiceAccount sa in it (the
// namespace is deleted in Cleanup) and returns a TokenRequest JWT for it
// (for the apiserver's audience unless audiences are given).
func (k *kubeAdmin) serviceAccountJWT(t *testing.T, ns, sa string, audiences ...string) string {
	t.Helper()
	k.call(t, "POST", "/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}, nil)
	t.Cleanup(func() { k.call(t, "DELETE", "/api/v1/namespaces/"+ns, nil, nil) })
	k.call(t, "POST", "/api/v1/namespaces/"+ns+"/serviceaccounts", map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": sa}}, nil)
	var tr struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	k.call(t, "POST", "/api/v1/namespaces/"+ns+"/serviceaccounts/"+sa+"/token",
		map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": map[string]any{"expirationSeconds": 3600, "audiences": audiences}}, &tr)
	if tr.Status.Token == "" {
		t.Fatal("TokenRequest returned no token")
	}
	return tr.Status.Token
}

// signingKeysPEM returns the apiserver's ServiceAccount token signing keys
// (from its OIDC JWKS endpoint) as PEM public keys, for Vault's jwt auth.
func (k *kubeAdmin) signingKeysPEM(t *testing.T) (keys []string, issuer string) {
	t.Helper()
	var disc struct {
		Issuer string `json:"issuer"`
	}
	k.call(t, "GET", "/.well-known/openid-configuration", nil, &disc)
	var jwks struct {
		Keys []struct {
			Kty string `json:"kty"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	k.call(t, "GET", "/openid/v1/jwks", nil, &jwks)
	for _, jk := range jwks.Keys {
		if jk.Kty != "RSA" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(jk.N)
		e, err2 := base64.RawURLEncoding.DecodeString(jk.E)
		if err1 != nil || err2 != nil {
			t.Fatal("bad JWK")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	}
	if len(keys) == 0 || disc.Issuer == "" {
		t.Fatal("apiserver publishes no RSA signing key or issuer")
	}
	return keys, disc.Issuer
}
