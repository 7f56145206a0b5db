package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// TestPushSandboxRegistry pushes a single-platform image and a two-platform
// index to the sandbox's real registry and reads them back.
func TestPushSandboxRegistry(t *testing.T) {
	env := sandbox.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	arm64, _ := ParsePlatform("linux/arm64")
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	p := &Pusher{Client: &http.Client{Timeout: 30 * time.Second}, Registry: env.RegistryAddr}
	for _, tt := range []struct {
		name   string
		images []*Image
	}{
		{"single", []*Image{testImage(t, amd64)}},
		{"index", []*Image{testImage(t, amd64), testImage(t, arm64)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			names := []string{"ghcr.io/oci-test-" + suffix + "/" + tt.name + ":v1", "oci-test-" + suffix + "-" + tt.name + ":latest"}
			l, err := NewLayout(names, tt.images...)
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the second push finds every blob already there.
			for range 2 {
				d, err := p.Push(ctx, l)
				if err != nil {
					t.Fatal(err)
				}
				if d != l.Root.Digest {
					t.Errorf("Push returned %s, want %s", d, l.Root.Digest)
				}
			}
			for repo, tag := range map[string]string{"oci-test-" + suffix + "/" + tt.name: "v1", "library/oci-test-" + suffix + "-" + tt.name: "latest"} {
				got, err := p.ManifestDigest(ctx, repo, tag, l.Root.MediaType)
				if err != nil {
					t.Fatal(err)
				}
				if got != l.Root.Digest {
					t.Errorf("%s:%s is %s, want %s", repo, tag, got, l.Root.Digest)
				}
				if l.Root.MediaType == MediaTypeIndex {
					descs, _, _ := l.Manifests()
					for _, d := range descs {
						if got, err := p.ManifestDigest(ctx, repo, d.Digest, d.MediaType); err != nil || got != d.Digest {
							t.Errorf("%s@%s: %s, %v", repo, d.Digest, got, err)
						}
					}
				}
			}
		})
	}
}

// TestPushRegistryErrors: the refusals a registry can give end the push with
// ErrRegistry (a fake registry: the real one does not misbehave on demand).
func TestPushRegistryErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"upload refused", func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			http.Error(w, "denied", http.StatusForbidden)
		}},
		{"no location", func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		}},
		{"manifest rewritten", func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodHead:
				w.WriteHeader(http.StatusOK)
			case r.Method == http.MethodPut:
				w.WriteHeader(http.StatusCreated)
			case strings.Contains(r.URL.Path, "/manifests/"):
				w.Write([]byte(`{"schemaVersion":2}`))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			l, err := NewLayout([]string{"x/app:v1"}, testImage(t, amd64))
			if err != nil {
				t.Fatal(err)
			}
			p := &Pusher{Client: srv.Client(), Registry: strings.TrimPrefix(srv.URL, "http://")}
			if _, err := p.Push(context.Background(), l); !errors.Is(err, ErrRegistry) {
				t.Errorf("got %v, want ErrRegistry", err)
			}
		})
	}
}
