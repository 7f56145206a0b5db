package tls

import (
	"bytes"
	"context"
	ctls "crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

func writePair(t *testing.T, dir string, ss *SelfSigned) {
	t.Helper()
	c := ss.Source.cert.Load()
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
	srv := &http.Server{Handler: http.NotFoundHandler(), TLSConfig: ServerConfig(&src.Source), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(first.CAPEM)
	roots.AppendCertsFromPEM(second.CAPEM)
	addr := ln.Addr().String()
	before := servedSerial(t, addr, roots)
	if want := first.Source.cert.Load().Leaf.SerialNumber.String(); before != want {
		t.Fatalf("serving %s, want first cert %s", before, want)
	}

	// Rotate the files under the running server; only the poller reloads.
	writePair(t, dir, second)

	want := second.Source.cert.Load().Leaf.SerialNumber.String()
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
	if got.Leaf.SerialNumber.Cmp(a.Source.cert.Load().Leaf.SerialNumber) != 0 {
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
	leaf := ss.Source.cert.Load().Leaf
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

// fakeAPI is a MutatingWebhookConfiguration store that applies the
// subset of JSON patch PublishCABundle sends (test and add), with the
// apiserver's answer to a failed test (422) and a resourceVersion that
// changes on every write.
type fakeAPI struct {
	mu        sync.Mutex
	webhooks  []string
	bundles   map[int][]byte
	rv        int
	getErr    error
	patchErr  error
	patches   int
	patchType string
	patch     []byte
	// beforePatch, when set, runs inside Patch before the patch is
	// applied (to simulate another writer).
	beforePatch func(f *fakeAPI)
}

func (f *fakeAPI) Get(_ context.Context, path string, out any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return f.getErr
	}
	type cc struct {
		CABundle []byte `json:"caBundle,omitempty"`
	}
	type wh struct {
		Name         string `json:"name"`
		ClientConfig cc     `json:"clientConfig"`
	}
	var cfg struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Webhooks []wh `json:"webhooks"`
	}
	cfg.Metadata.ResourceVersion = strconv.Itoa(f.rv)
	for i, w := range f.webhooks {
		cfg.Webhooks = append(cfg.Webhooks, wh{Name: w, ClientConfig: cc{CABundle: f.bundles[i]}})
	}
	b, _ := json.Marshal(cfg)
	return json.Unmarshal(b, out)
}

func (f *fakeAPI) Patch(_ context.Context, path, patchType string, patch []byte, out any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.beforePatch != nil {
		hook := f.beforePatch
		f.beforePatch = nil
		hook(f)
	}
	f.patches++
	f.patchType, f.patch = patchType, patch
	if f.patchErr != nil {
		return f.patchErr
	}
	var ops []struct{ Op, Path, Value string }
	if err := json.Unmarshal(patch, &ops); err != nil {
		return &kube.StatusError{Code: http.StatusBadRequest}
	}
	bundles := maps.Clone(f.bundles)
	if bundles == nil {
		bundles = map[int][]byte{}
	}
	for _, o := range ops {
		switch {
		case o.Op == "test" && o.Path == "/metadata/resourceVersion":
			if o.Value != strconv.Itoa(f.rv) {
				return &kube.StatusError{Code: http.StatusUnprocessableEntity, Reason: "Invalid"}
			}
		case o.Op == "test":
			var i int
			if _, err := fmt.Sscanf(o.Path, "/webhooks/%d/name", &i); err != nil || i >= len(f.webhooks) || f.webhooks[i] != o.Value {
				return &kube.StatusError{Code: http.StatusUnprocessableEntity, Reason: "Invalid"}
			}
		case o.Op == "add":
			var i int
			if _, err := fmt.Sscanf(o.Path, "/webhooks/%d/clientConfig/caBundle", &i); err != nil {
				return &kube.StatusError{Code: http.StatusUnprocessableEntity}
			}
			b, err := base64.StdEncoding.DecodeString(o.Value)
			if err != nil {
				return &kube.StatusError{Code: http.StatusUnprocessableEntity}
			}
			bundles[i] = b
		default:
			return &kube.StatusError{Code: http.StatusUnprocessableEntity}
		}
	}
	f.bundles = bundles
	f.rv++
	return nil
}

// trusts reports whether bundle verifies a certificate of ss.
func trusts(t *testing.T, bundle []byte, ss *SelfSigned) bool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		return false
	}
	leaf := ss.Source.cert.Load().Leaf
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: leaf.DNSNames[0]})
	return err == nil
}

func certCount(bundle []byte) int { return strings.Count(string(bundle), "BEGIN CERTIFICATE") }

func newCA(t *testing.T, notBefore time.Time, validity time.Duration) *SelfSigned {
	t.Helper()
	ss, err := GenerateSelfSigned([]string{"webhook.example"}, validity, notBefore)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

func TestMergeCABundle(t *testing.T) {
	now := time.Now()
	own := newCA(t, now, time.Hour)
	other := newCA(t, now, time.Hour)
	expired := newCA(t, now.Add(-3*time.Hour), time.Hour)
	var many [][]byte
	for i := range MaxCABundleCerts + 2 {
		many = append(many, newCA(t, now.Add(time.Duration(i)*time.Minute), time.Hour).CAPEM)
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name        string
		bundle      []byte
		wantChanged bool
		wantCount   int
		trusted     []*SelfSigned
		untrusted   []*SelfSigned
	}{
		{name: "empty", bundle: nil, wantChanged: true, wantCount: 1, trusted: []*SelfSigned{own}},
		{name: "other replica kept", bundle: other.CAPEM, wantChanged: true, wantCount: 2, trusted: []*SelfSigned{own, other}},
		{name: "already present", bundle: join(other.CAPEM, own.CAPEM), wantChanged: false, wantCount: 2, trusted: []*SelfSigned{own, other}},
		{name: "expired dropped", bundle: join(expired.CAPEM, other.CAPEM), wantChanged: true, wantCount: 2, trusted: []*SelfSigned{own, other}},
		{name: "duplicates dropped", bundle: join(other.CAPEM, other.CAPEM, own.CAPEM), wantChanged: true, wantCount: 2, trusted: []*SelfSigned{own, other}},
		{name: "garbage dropped", bundle: join([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("not pem at all\n"), other.CAPEM), wantChanged: true, wantCount: 2, trusted: []*SelfSigned{own, other}},
		{name: "capped, oldest go", bundle: join(many...), wantChanged: true, wantCount: MaxCABundleCerts, trusted: []*SelfSigned{own}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, err := MergeCABundle(tc.bundle, own.CAPEM, now)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			if n := certCount(got); n != tc.wantCount {
				t.Errorf("%d certificates, want %d", n, tc.wantCount)
			}
			for _, ss := range tc.trusted {
				if !trusts(t, got, ss) {
					t.Errorf("merged bundle does not trust a CA it should")
				}
			}
			if trusts(t, got, expired) {
				t.Errorf("merged bundle still holds the expired CA")
			}
			if tc.name == "capped, oldest go" {
				if bytes.Contains(got, many[0]) || bytes.Contains(got, many[1]) || !bytes.Contains(got, many[len(many)-1]) {
					t.Errorf("cap did not drop the oldest certificates")
				}
			}
		})
	}
	if _, _, err := MergeCABundle(nil, []byte("PEM"), now); err == nil {
		t.Errorf("a CA that is not PEM was accepted")
	}
}

func TestPublishCABundle(t *testing.T) {
	ca := newCA(t, time.Now(), time.Hour)
	other := newCA(t, time.Now(), time.Hour)
	tests := []struct {
		name        string
		api         *fakeAPI
		wantErr     bool
		wantPatches int
	}{
		{name: "two webhooks", api: &fakeAPI{webhooks: []string{"a.example", "b.example"}}, wantPatches: 1},
		{name: "keeps the other replica", api: &fakeAPI{webhooks: []string{"a.example"}, bundles: map[int][]byte{0: other.CAPEM}}, wantPatches: 1},
		{name: "nothing to do", api: &fakeAPI{webhooks: []string{"a.example"}, bundles: map[int][]byte{0: ca.CAPEM}}, wantPatches: 0},
		{name: "lost race is retried", api: &fakeAPI{webhooks: []string{"a.example"}, beforePatch: func(f *fakeAPI) {
			f.bundles = map[int][]byte{0: other.CAPEM}
			f.rv++
		}}, wantPatches: 2},
		{name: "none", api: &fakeAPI{}, wantErr: true},
		{name: "get fails", api: &fakeAPI{getErr: errors.New("forbidden")}, wantErr: true},
		{name: "forbidden patch not retried", api: &fakeAPI{webhooks: []string{"a.example"}, patchErr: &kube.StatusError{Code: http.StatusForbidden}}, wantErr: true, wantPatches: 1},
		{name: "conflicts give up", api: &fakeAPI{webhooks: []string{"a.example"}, patchErr: &kube.StatusError{Code: http.StatusConflict}}, wantErr: true, wantPatches: publishAttempts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := PublishCABundle(context.Background(), tc.api, "vault-secrets-webhook", ca.CAPEM)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.api.patches != tc.wantPatches {
				t.Errorf("%d patches, want %d", tc.api.patches, tc.wantPatches)
			}
			if tc.wantErr {
				return
			}
			if tc.api.patches > 0 && tc.api.patchType != "application/json-patch+json" {
				t.Errorf("patch type %q", tc.api.patchType)
			}
			for i := range tc.api.webhooks {
				if !trusts(t, tc.api.bundles[i], ca) {
					t.Errorf("webhook %d does not trust the published CA", i)
				}
				if tc.name == "keeps the other replica" || tc.name == "lost race is retried" {
					if !trusts(t, tc.api.bundles[i], other) {
						t.Errorf("webhook %d no longer trusts the other replica", i)
					}
				}
			}
		})
	}
}

// TestPublishCABundleReplicas: replicas publishing at the same time all
// end up trusted.
func TestPublishCABundleReplicas(t *testing.T) {
	api := &fakeAPI{webhooks: []string{"a.example", "b.example"}}
	const replicas = 4
	cas := make([]*SelfSigned, replicas)
	for i := range cas {
		cas[i] = newCA(t, time.Now(), time.Hour)
	}
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range cas {
		wg.Go(func() { errs[i] = PublishCABundle(context.Background(), api, "vault-secrets-webhook", cas[i].CAPEM) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	for w := range api.webhooks {
		for i, ss := range cas {
			if !trusts(t, api.bundles[w], ss) {
				t.Errorf("webhook %d does not trust replica %d", w, i)
			}
		}
	}
}
