package kube_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// fakeAPI is an httptest TLS server whose handler a test sets; it records
// the last request.
type fakeAPI struct {
	srv     *httptest.Server
	caFile  string
	mu      sync.Mutex
	handler http.HandlerFunc
	last    *http.Request
	body    []byte
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.last, f.body = r, b
		h := f.handler
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	f.caFile = filepath.Join(t.TempDir(), "ca.crt")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(f.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeAPI) set(h http.HandlerFunc) {
	f.mu.Lock()
	f.handler = h
	f.mu.Unlock()
}

func (f *fakeAPI) lastRequest() (*http.Request, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last, f.body
}

func writeToken(t *testing.T, path, tok string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newClient(t *testing.T, f *fakeAPI, tokenFile string) *kube.Client {
	t.Helper()
	c, err := kube.New(kube.Config{Server: f.srv.URL, CAFile: f.caFile, TokenFile: tokenFile, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStatusErrors(t *testing.T) {
	f := newFakeAPI(t)
	c := newClient(t, f, "")
	tests := []struct {
		name        string
		code        int
		body        string
		wantReason  string
		wantMessage string
		notFound    bool
		forbidden   bool
		unauth      bool
	}{
		{
			name:        "not found status",
			code:        404,
			body:        `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"secrets \"db\" not found","reason":"NotFound","details":{"name":"db","kind":"secrets"},"code":404}`,
			wantReason:  "NotFound",
			wantMessage: `secrets "db" not found`,
			notFound:    true,
		},
		{
			name:        "already exists",
			code:        409,
			body:        `{"kind":"Status","status":"Failure","message":"exists","reason":"AlreadyExists","code":409}`,
			wantReason:  "AlreadyExists",
			wantMessage: "exists",
		},
		{
			name:        "conflict",
			code:        409,
			body:        `{"kind":"Status","status":"Failure","message":"stale","reason":"Conflict","code":409}`,
			wantReason:  "Conflict",
			wantMessage: "stale",
		},
		{
			name:        "forbidden",
			code:        403,
			body:        `{"kind":"Status","status":"Failure","message":"no","reason":"Forbidden","code":403}`,
			wantReason:  "Forbidden",
			wantMessage: "no",
			forbidden:   true,
		},
		{
			name:        "unauthorized",
			code:        401,
			body:        `{"kind":"Status","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`,
			wantReason:  "Unauthorized",
			wantMessage: "Unauthorized",
			unauth:      true,
		},
		{
			name:        "404 without a status body",
			code:        404,
			body:        `<html>404 page not found</html>`,
			wantMessage: "Not Found",
			notFound:    true,
		},
		{
			name:        "json that is not a status",
			code:        500,
			body:        `{"kind":"Secret","data":{"k":"c2VjcmV0"}}`,
			wantMessage: "Internal Server Error",
		},
		{
			name:        "empty body",
			code:        503,
			wantMessage: "Service Unavailable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.set(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.code)
				_, _ = io.WriteString(w, tt.body)
			})
			_, err := c.GetSecret(context.Background(), "ns", "db")
			var se *kube.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *StatusError", err)
			}
			if se.Code != tt.code || se.Reason != tt.wantReason || se.Message != tt.wantMessage {
				t.Errorf("got %+v, want code %d reason %q message %q", se, tt.code, tt.wantReason, tt.wantMessage)
			}
			checks := []struct {
				name string
				got  bool
				want bool
			}{
				{"IsNotFound", kube.IsNotFound(err), tt.notFound},
				{"IsForbidden", kube.IsForbidden(err), tt.forbidden},
				{"IsUnauthorized", kube.IsUnauthorized(err), tt.unauth},
			}
			for _, ch := range checks {
				if ch.got != ch.want {
					t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
				}
			}
			if strings.Contains(err.Error(), "c2VjcmV0") {
				t.Errorf("error text leaks the body: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "failed to get secret ns/db: ") {
				t.Errorf("error text = %q", err)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	f := newFakeAPI(t)
	tokFile := filepath.Join(t.TempDir(), "token")
	writeToken(t, tokFile, "tok-1")
	c := newClient(t, f, tokFile)
	f.set(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"kind":"ConfigMap","metadata":{"name":"x"}}`)
	})
	ctx := context.Background()
	tests := []struct {
		name       string
		call       func() error
		wantMethod string
		wantPath   string // escaped
		wantQuery  string
		wantType   string
		wantBody   string
	}{
		{
			name:       "get with escaped name",
			call:       func() error { _, err := c.GetConfigMap(ctx, "ns", "a b/c"); return err },
			wantMethod: "GET",
			wantPath:   "/api/v1/namespaces/ns/configmaps/a%20b%2Fc",
		},
		{
			name:       "get with query",
			call:       func() error { return c.Get(ctx, "/api/v1/namespaces/ns/pods?labelSelector=a%3Db", nil) },
			wantMethod: "GET",
			wantPath:   "/api/v1/namespaces/ns/pods",
			wantQuery:  "labelSelector=a%3Db",
		},
		{
			name: "create",
			call: func() error {
				return c.Create(ctx, kube.CorePath("ns", "configmaps", ""), &corev1.ConfigMap{Data: map[string]string{"k": "v"}}, nil)
			},
			wantMethod: "POST",
			wantPath:   "/api/v1/namespaces/ns/configmaps",
			wantType:   "application/json",
			wantBody:   `"data":{"k":"v"}`,
		},
		{
			name: "json patch",
			call: func() error {
				return c.Patch(ctx, kube.CorePath("ns", "configmaps", "x"), kube.PatchJSON, []byte(`[{"op":"add","path":"/data/k","value":"v"}]`), nil)
			},
			wantMethod: "PATCH",
			wantPath:   "/api/v1/namespaces/ns/configmaps/x",
			wantType:   "application/json-patch+json",
			wantBody:   `"op":"add"`,
		},
		{
			name: "merge patch",
			call: func() error {
				return c.Patch(ctx, kube.CorePath("ns", "configmaps", "x"), kube.PatchMerge, []byte(`{"data":{"k":"v"}}`), nil)
			},
			wantMethod: "PATCH",
			wantPath:   "/api/v1/namespaces/ns/configmaps/x",
			wantType:   "application/merge-patch+json",
		},
		{
			name: "strategic merge patch",
			call: func() error {
				return c.Patch(ctx, kube.GroupPath("admissionregistration.k8s.io", "v1", "", "mutatingwebhookconfigurations", "w"), kube.PatchStrategicMerge, []byte(`{}`), nil)
			},
			wantMethod: "PATCH",
			wantPath:   "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/w",
			wantType:   "application/strategic-merge-patch+json",
		},
		{
			name:       "delete",
			call:       func() error { return c.Delete(ctx, kube.CorePath("ns", "secrets", "x")) },
			wantMethod: "DELETE",
			wantPath:   "/api/v1/namespaces/ns/secrets/x",
		},
		{
			name:       "ready",
			call:       func() error { return c.Ready(ctx) },
			wantMethod: "GET",
			wantPath:   "/readyz",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			r, body := f.lastRequest()
			if r.Method != tt.wantMethod {
				t.Errorf("method = %s, want %s", r.Method, tt.wantMethod)
			}
			if got := r.URL.EscapedPath(); got != tt.wantPath {
				t.Errorf("path = %s, want %s", got, tt.wantPath)
			}
			if r.URL.RawQuery != tt.wantQuery {
				t.Errorf("query = %s, want %s", r.URL.RawQuery, tt.wantQuery)
			}
			if got := r.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("content type = %q, want %q", got, tt.wantType)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer tok-1" {
				t.Errorf("authorization = %q", got)
			}
			if got := r.Header.Get("Accept"); got != "application/json" {
				t.Errorf("accept = %q", got)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body = %s, want it to contain %s", body, tt.wantBody)
			}
		})
	}
}

func TestPatchRejectsUnknownType(t *testing.T) {
	f := newFakeAPI(t)
	c := newClient(t, f, "")
	f.set(func(w http.ResponseWriter, r *http.Request) { t.Error("request sent") })
	if err := c.Patch(context.Background(), "/api/v1/namespaces/a/pods/b", "application/json", []byte(`{}`), nil); err == nil {
		t.Fatal("want error for a plain json patch type")
	}
}

func TestResponseBodyLimit(t *testing.T) {
	if kube.MaxResponseBytes != 16<<20 {
		t.Errorf("MaxResponseBytes = %d, want 16 MiB", kube.MaxResponseBytes)
	}
	f := newFakeAPI(t)
	c := newClient(t, f, "")
	kube.SetMaxResponseBytes(c, 1<<20)
	f.set(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		_, _ = w.Write([]byte(`{"kind":"ConfigMap","data":{"k":"`))
		for range 17 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = w.Write([]byte(`"}}`))
	})
	_, err := c.GetConfigMap(context.Background(), "ns", "big")
	if !errors.Is(err, kube.ErrResponseTooLarge) {
		t.Fatalf("err = %v, want ErrResponseTooLarge", err)
	}
}

func TestTokenRotation(t *testing.T) {
	f := newFakeAPI(t)
	tokFile := filepath.Join(t.TempDir(), "token")
	writeToken(t, tokFile, "tok-1")
	c := newClient(t, f, tokFile)
	now := time.Now().Add(time.Hour) // after the read New did
	kube.SetTokenClock(c, func() time.Time { return now })
	var seen []string
	f.set(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		_, _ = io.WriteString(w, `{}`)
	})
	get := func() {
		t.Helper()
		if err := c.Get(context.Background(), "/api", nil); err != nil {
			t.Fatal(err)
		}
	}
	get()
	// A new token with a new mtime: seen once the check interval passed.
	writeToken(t, tokFile, "tok-2-longer")
	if err := os.Chtimes(tokFile, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	get() // still cached: checked less than a second ago
	now = now.Add(2 * time.Second)
	get()
	// Same size, same mtime: only the max age forces a re-read.
	fi, _ := os.Stat(tokFile)
	writeToken(t, tokFile, "tok-3-longer")
	if err := os.Chtimes(tokFile, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	get()
	now = now.Add(2 * time.Minute)
	get()
	want := []string{"tok-1", "tok-1", "tok-2-longer", "tok-2-longer", "tok-3-longer"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("tokens sent = %v, want %v", seen, want)
	}
}

func TestUnauthorizedDropsToken(t *testing.T) {
	f := newFakeAPI(t)
	tokFile := filepath.Join(t.TempDir(), "token")
	writeToken(t, tokFile, "old")
	c := newClient(t, f, tokFile)
	frozen := time.Now()
	kube.SetTokenClock(c, func() time.Time { return frozen }) // no stat-based refresh
	f.set(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer new" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"kind":"Status","reason":"Unauthorized","code":401}`)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	})
	if err := c.Get(context.Background(), "/api", nil); !kube.IsUnauthorized(err) {
		t.Fatalf("err = %v, want unauthorized", err)
	}
	writeToken(t, tokFile, "new")
	if err := c.Get(context.Background(), "/api", nil); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	writeToken(t, tok, "t")
	notPEM := filepath.Join(dir, "bad.crt")
	if err := os.WriteFile(notPEM, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  kube.Config
		ok   bool
	}{
		{"empty server", kube.Config{}, false},
		{"no scheme", kube.Config{Server: "127.0.0.1:6443"}, false},
		{"ftp", kube.Config{Server: "ftp://127.0.0.1"}, false},
		{"token over http", kube.Config{Server: "http://127.0.0.1:8080", TokenFile: tok}, false},
		{"http without token", kube.Config{Server: "http://127.0.0.1:8080"}, true},
		{"missing token file", kube.Config{Server: "https://127.0.0.1", TokenFile: filepath.Join(dir, "nope")}, false},
		{"missing CA", kube.Config{Server: "https://127.0.0.1", CAFile: filepath.Join(dir, "nope")}, false},
		{"CA without PEM", kube.Config{Server: "https://127.0.0.1", CAFile: notPEM}, false},
		{"query in server", kube.Config{Server: "https://127.0.0.1/?a=b"}, false},
		{"good", kube.Config{Server: "https://127.0.0.1:6443/", TokenFile: tok}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kube.New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("New(%+v) err = %v, want ok=%v", tt.cfg, err, tt.ok)
			}
		})
	}
}

func TestInClusterConfig(t *testing.T) {
	saDir := t.TempDir()
	writeToken(t, filepath.Join(saDir, "token"), "t")
	if err := os.WriteFile(filepath.Join(saDir, "ca.crt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		dir     string
		want    string
		wantErr error
	}{
		{"ipv4", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}, saDir, "https://10.0.0.1:443", nil},
		{"ipv6", map[string]string{"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, saDir, "https://[fd00::1]:443", nil},
		{"no host", map[string]string{"KUBERNETES_SERVICE_PORT": "443"}, saDir, "", kube.ErrNotInCluster},
		{"no port", map[string]string{"KUBERNETES_SERVICE_HOST": "h"}, saDir, "", kube.ErrNotInCluster},
		{"no token", map[string]string{"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "1"}, t.TempDir(), "", os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := kube.InClusterConfigFrom(func(k string) string { return tt.env[k] }, tt.dir)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Server != tt.want || cfg.TokenFile != filepath.Join(tt.dir, "token") || cfg.CAFile != filepath.Join(tt.dir, "ca.crt") {
				t.Errorf("cfg = %+v", cfg)
			}
		})
	}
}

func TestCreateTokenSetsTypeMeta(t *testing.T) {
	f := newFakeAPI(t)
	c := newClient(t, f, "")
	f.set(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"kind":"TokenRequest","status":{"token":"jwt","expirationTimestamp":"2030-01-01T00:00:00Z"}}`)
	})
	out, err := c.CreateToken(context.Background(), "ns", "sa", &authnTokenRequest)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status.Token != "jwt" {
		t.Errorf("token = %q", out.Status.Token)
	}
	r, body := f.lastRequest()
	if r.URL.Path != "/api/v1/namespaces/ns/serviceaccounts/sa/token" || r.Method != "POST" {
		t.Errorf("request = %s %s", r.Method, r.URL.Path)
	}
	var sent map[string]any
	if err := json.Unmarshal(body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent["apiVersion"] != "authentication.k8s.io/v1" || sent["kind"] != "TokenRequest" {
		t.Errorf("sent = %s", body)
	}
}

var authnTokenRequest = authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}}}
