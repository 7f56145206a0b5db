package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vswtls "github.com/vault-secrets-webhook/vault-secrets-webhook/tls"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfig(t *testing.T) {
	files := []string{"--tls-cert-file=c", "--tls-key-file=k"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(*testing.T, *config)
	}{
		{name: "defaults", args: files, check: func(t *testing.T, c *config) {
			if c.ListenAddress != ":8443" || c.VaultAddr != "https://vault:8200" || c.VaultEnvImage != "ghcr.io/vault-secrets-webhook/vault-env:latest" || c.LeastPrivilege {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "env fills flags", env: map[string]string{"TLS_CERT_FILE": "c", "TLS_KEY_FILE": "k", "VAULT_ADDR": "http://v:1", "POD_NAMESPACE": "vi", "LEAST_PRIVILEGE": "true", "ALLOWED_VAULT_ADDRS": "https://a:1, *"}, check: func(t *testing.T, c *config) {
			if c.VaultAddr != "http://v:1" || c.Namespace != "vi" || !c.LeastPrivilege || len(c.AllowedVaultAddrs) != 2 {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "flag beats env", args: append(files, "--vault-addr=https://flag:1"), env: map[string]string{"VAULT_ADDR": "https://env:1"}, check: func(t *testing.T, c *config) {
			if c.VaultAddr != "https://flag:1" {
				t.Fatal(c.VaultAddr)
			}
		}},
		{name: "bool flag without value", args: append(files, "--least-privilege", "--vault-addr", "https://x:1"), check: func(t *testing.T, c *config) {
			if !c.LeastPrivilege || c.VaultAddr != "https://x:1" {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "annotation defaults from env", args: files, env: map[string]string{"VAULT_SKIP_VERIFY": "true", "RUN_AS_USER": "1000"}, check: func(t *testing.T, c *config) {
			if c.Defaults["vault-skip-verify"] != "true" || c.Defaults["run-as-user"] != "1000" {
				t.Fatalf("%v", c.Defaults)
			}
		}},
		{name: "self-signed hosts", args: []string{"--tls-self-signed", "--namespace=vi"}, check: func(t *testing.T, c *config) {
			if c.TLSHosts[0] != "vault-secrets-webhook.vi.svc" {
				t.Fatal(c.TLSHosts)
			}
		}},
		{name: "registry defaults", args: files, check: func(t *testing.T, c *config) {
			if c.RegistryTimeout != 5*time.Second || c.RegistryPlatform.String() != "linux/amd64" || c.RegistryCAFile != "" {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "registry settings", args: append(files, "--registry-timeout=2s", "--registry-default-platform=Linux/arm/v7"), env: map[string]string{"REGISTRY_CA_FILE": "/ca.pem"}, check: func(t *testing.T, c *config) {
			if c.RegistryTimeout != 2*time.Second || c.RegistryPlatform.String() != "linux/arm/v7" || c.RegistryCAFile != "/ca.pem" {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "registry timeout above the review maximum", args: append(files, "--registry-timeout=30s"), wantErr: "--registry-timeout (REGISTRY_TIMEOUT)"},
		{name: "bad registry platform", args: append(files, "--registry-default-platform=amd64"), wantErr: "--registry-default-platform"},
		{name: "empty registry platform part", args: append(files, "--registry-default-platform=linux/"), wantErr: "--registry-default-platform"},
		{name: "no cert", wantErr: "--tls-cert-file"},
		{name: "self-signed with files", args: append(files, "--tls-self-signed"), wantErr: "--tls-self-signed"},
		{name: "self-signed without hosts", args: []string{"--tls-self-signed"}, wantErr: "--tls-hosts"},
		{name: "bad vault addr", args: append(files, "--vault-addr=ftp://x"), wantErr: "--vault-addr (VAULT_ADDR)"},
		{name: "vault addr userinfo", args: append(files, "--vault-addr=https://u:p@x"), wantErr: "--vault-addr"},
		{name: "bad bool env", args: files, env: map[string]string{"LEAST_PRIVILEGE": "sure"}, wantErr: "--least-privilege (LEAST_PRIVILEGE)"},
		{name: "bad duration", args: append(files, "--shutdown-timeout=never"), wantErr: "--shutdown-timeout"},
		{name: "bad listen", args: append(files, "--listen-address=8443"), wantErr: "--listen-address"},
		{name: "bad allow-list", args: append(files, "--allowed-vault-addrs=vault:8200"), wantErr: "--allowed-vault-addrs"},
		{name: "bad default pull secret", args: append(files, "--default-image-pull-secret=regcred"), wantErr: "--default-image-pull-secret"},
		{name: "bad log level", args: append(files, "--log-level=loud"), wantErr: "--log-level"},
		{name: "kube ca without server", args: append(files, "--kube-ca-file=x"), wantErr: "--kube-server"},
		{name: "stray argument", args: append(files, "extra"), wantErr: "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, env(tc.env), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// whServe starts run with args plus certificate files on a free port and
// returns the base URL, an HTTPS client trusting the certificate, the log
// and a stop function that waits for a graceful exit.
func whServe(t *testing.T, args ...string) (string, *http.Client, *syncBuffer, func() error) {
	t.Helper()
	dir := t.TempDir()
	ss, err := vswtls.GenerateSelfSigned([]string{"127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ss.Source.GetCertificate(nil)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	listening := make(chan string, 1)
	done := make(chan error, 1)
	all := append([]string{"--listen-address=127.0.0.1:0", "--tls-cert-file=" + certFile, "--tls-key-file=" + keyFile, "--shutdown-timeout=5s"}, args...)
	go func() { done <- run(ctx, all, env(nil), logs, listening) }()
	var addr string
	select {
	case addr = <-listening:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("not listening after 30s")
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ss.CAPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("no graceful shutdown within 10s")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return "https://" + addr, client, logs, stop
}

// TestRunReadyzFollowsAPIServer: /readyz fails while the configured
// Kubernetes API is unreachable; /healthz stays ok.
func TestRunReadyzFollowsAPIServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	base, client, _, _ := whServe(t, "--kube-server=https://"+closed, "--vault-addr=http://127.0.0.1:8200")
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestRunServes starts the real command (least-privilege, certificate
// files), exercises every endpoint over TLS, and shuts it down gracefully.
func TestRunServes(t *testing.T) {
	base, client, logs, stop := whServe(t, "--least-privilege", "--vault-addr=http://127.0.0.1:8200")
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := client.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","operation":"CREATE","object":{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"alpine","command":["sh"],"env":[{"name":"X","value":"vault:secret/data/x#y"}]}]}}}}`
	resp, err := client.Post(base+"/pods", "application/json", strings.NewReader(review))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"patchType":"JSONPatch"`) || !strings.Contains(string(body), `"uid":"u-1"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, err = client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `vsw_admission_reviews_total{outcome="allowed",reason="mutated"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}
	// TLS 1.1 is refused.
	roots := client.Transport.(*http.Transport).TLSClientConfig.RootCAs
	if c, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 accepted")
	}
	if err := stop(); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	if strings.Contains(logs.String(), "vault:secret") {
		t.Fatalf("log contains an env value:\n%s", logs.String())
	}
}

func TestRunRefusesBadConfigBeforeIO(t *testing.T) {
	err := run(context.Background(), []string{"--tls-cert-file=/nonexistent", "--tls-key-file=/nonexistent", "--vault-addr=gopher://x"}, env(nil), io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "--vault-addr") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewImagesRegistryCAFile(t *testing.T) {
	dir := t.TempDir()
	ss, err := vswtls.GenerateSelfSigned([]string{"registry.example"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "ca.pem")
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(good, ss.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    string
		wantErr string
	}{
		{name: "none", file: ""},
		{name: "pem", file: good},
		{name: "missing", file: filepath.Join(dir, "nope.pem"), wantErr: "failed to read registry CA file"},
		{name: "not pem", file: bad, wantErr: "no PEM certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig([]string{"--tls-cert-file=c", "--tls-key-file=k", "--registry-ca-file=" + tc.file}, env(nil), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			_, err = newImages(cfg, nil, nil)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestRunShutdownFinishesInFlightReviews: a review waiting on the
// Kubernetes API when shutdown begins is still answered with its real
// outcome (the signal does not cancel it), and run then exits cleanly.
func TestRunShutdownFinishesInFlightReviews(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/namespaces/default/secrets/aws" {
			http.NotFound(w, r)
			return
		}
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"aws","namespace":"default"},"data":{"K":"dmF1bHQ6c2VjcmV0L2RhdGEveCN5"}}`)
	}))
	t.Cleanup(api.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	dir := t.TempDir()
	caFile, tokenFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte("test-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, client, logs, stop := whServe(t, "--kube-server="+api.URL, "--kube-ca-file="+caFile, "--kube-token-file="+tokenFile, "--vault-addr=http://127.0.0.1:8200")

	review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-2","kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"default","operation":"CREATE","object":{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"alpine","command":["sh"],"envFrom":[{"secretRef":{"name":"aws"}}]}]}}}}`
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := client.Post(base+"/pods?timeout=10s", "application/json", strings.NewReader(review))
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the review never reached the Kubernetes API")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "shutting down") {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown after 10s:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	r := <-res
	if r.err != nil {
		t.Fatalf("in-flight review failed: %v", r.err)
	}
	if r.code != http.StatusOK || !strings.Contains(r.body, `"allowed":true`) || !strings.Contains(r.body, `"patchType":"JSONPatch"`) {
		t.Fatalf("in-flight review: HTTP %d %s", r.code, r.body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("run after shutdown: %v", err)
	}
}
