package tls

import (
	"context"
	ctls "crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writePair(t *testing.T, dir string, ss *SelfSigned) {
	t.Helper()
	c := ss.Source.cert
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	// Write to temporary names and rename, as kubelet's atomic writer does.
	for name, b := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// servedSerial connects and returns the serial of the served certificate.
func servedSerial(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	conn, err := ctls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &ctls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: ctls.VersionTLS12})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestCertRotation serves from files, replaces the files, and checks that
// the served certificate changes without a restart.
func TestCertRotation(t *testing.T) {
	dir := t.TempDir()
	first, err := GenerateSelfSigned([]string{"localhost", "127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	second, err := GenerateSelfSigned([]string{"localhost", "127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, dir, first)
	src, err := NewFileSource(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go src.Run(ctx, 20*time.Millisecond)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), TLSConfig: ServerConfig(src), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(first.CAPEM)
	roots.AppendCertsFromPEM(second.CAPEM)
	addr := ln.Addr().String()
	before := servedSerial(t, addr, roots)
	if want := first.Source.cert.Leaf.SerialNumber.String(); before != want {
		t.Fatalf("serving %s, want first cert %s", before, want)
	}

	// Rotate the files under the running server; only the poller reloads.
	writePair(t, dir, second)

	want := second.Source.cert.Leaf.SerialNumber.String()
	deadline := time.Now().Add(10 * time.Second)
	for servedSerial(t, addr, roots) != want {
		if time.Now().After(deadline) {
			t.Fatal("served certificate did not change within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := src.Ready(); err != nil {
		t.Fatal(err)
	}
}

func TestMismatchedPairKeepsServing(t *testing.T) {
	dir := t.TempDir()
	a, _ := GenerateSelfSigned([]string{"localhost"}, time.Hour, time.Now())
	b, _ := GenerateSelfSigned([]string{"localhost"}, time.Hour, time.Now())
	writePair(t, dir, a)
	src, err := NewFileSource(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Only the certificate is replaced: the pair no longer matches.
	bDir := t.TempDir()
	writePair(t, bDir, b)
	crt, _ := os.ReadFile(filepath.Join(bDir, "tls.crt"))
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), crt, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := src.reload(); err == nil {
		t.Fatal("mismatched pair loaded")
	}
	got, _ := src.GetCertificate(nil)
	if got.Leaf.SerialNumber.Cmp(a.Source.cert.Leaf.SerialNumber) != 0 {
		t.Fatal("stopped serving the old pair")
	}
}

func TestNewFileSourceErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, cert, key string }{
		{"missing", filepath.Join(dir, "nope.crt"), filepath.Join(dir, "nope.key")},
		{"garbage", garbage, garbage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewFileSource(tc.cert, tc.key, nil); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestSelfSignedVerifies(t *testing.T) {
	ss, err := GenerateSelfSigned([]string{"vault-secrets-webhook.vault-infra.svc", "127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ss.CAPEM) {
		t.Fatal("CA PEM does not parse")
	}
	leaf := ss.Source.cert.Leaf
	for _, name := range []string{"vault-secrets-webhook.vault-infra.svc", "127.0.0.1"} {
		t.Run(name, func(t *testing.T) {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "evil.example"}); err == nil {
		t.Fatal("verifies for a name it was not issued for")
	}
	if err := ss.Source.Ready(); err != nil {
		t.Fatal(err)
	}
	expired, _ := GenerateSelfSigned([]string{"x"}, time.Hour, time.Now().Add(-3*time.Hour))
	if err := expired.Source.Ready(); err == nil {
		t.Fatal("expired certificate reported ready")
	}
}

// fakeAPI records the patch PublishCABundle sends.
type fakeAPI struct {
	webhooks  []string
	getErr    error
	patchType string
	patch     []byte
}

func (f *fakeAPI) Get(_ context.Context, path string, out any) error {
	if f.getErr != nil {
		return f.getErr
	}
	var cfg struct {
		Webhooks []map[string]string `json:"webhooks"`
	}
	for _, w := range f.webhooks {
		cfg.Webhooks = append(cfg.Webhooks, map[string]string{"name": w})
	}
	b, _ := json.Marshal(cfg)
	return json.Unmarshal(b, out)
}

func (f *fakeAPI) Patch(_ context.Context, path, patchType string, patch []byte, out any) error {
	f.patchType, f.patch = patchType, patch
	return nil
}

func TestPublishCABundle(t *testing.T) {
	tests := []struct {
		name     string
		api      *fakeAPI
		wantErr  bool
		wantOps  int
		contains string
	}{
		{name: "two webhooks", api: &fakeAPI{webhooks: []string{"a.example", "b.example"}}, wantOps: 4, contains: `"path":"/webhooks/1/clientConfig/caBundle"`},
		{name: "none", api: &fakeAPI{}, wantErr: true},
		{name: "get fails", api: &fakeAPI{getErr: errors.New("forbidden")}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := PublishCABundle(context.Background(), tc.api, "vault-secrets-webhook", []byte("PEM"))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr {
				return
			}
			var ops []map[string]string
			if err := json.Unmarshal(tc.api.patch, &ops); err != nil {
				t.Fatal(err)
			}
			if len(ops) != tc.wantOps || tc.api.patchType != "application/json-patch+json" || !strings.Contains(string(tc.api.patch), tc.contains) {
				t.Fatalf("patch %s %s", tc.api.patchType, tc.api.patch)
			}
			if ops[0]["op"] != "test" || ops[1]["value"] != "UEVN" {
				t.Fatalf("ops %v", ops)
			}
		})
	}
}
