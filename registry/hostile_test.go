package registry_test

// Hostile and broken registries. The real docker-registry cannot misbehave on
// demand, so these use small handlers; the happy paths are tested against
// the real registry in registry_test.go.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/registry"
)

// hostileImage is a well-formed image a handler can serve or spoil.
type hostileImage struct {
	config, manifest []byte
	configDigest     string
	manifestDigest   string
}

func newHostileImage() hostileImage {
	config := []byte(`{"os":"linux","architecture":"amd64","config":{"Entrypoint":["/e"],"Cmd":["c"]}}`)
	h := hostileImage{config: config, configDigest: regDigest(config)}
	h.manifest = []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[]}`,
		registry.MediaTypeOCIManifest, h.configDigest, len(config)))
	h.manifestDigest = regDigest(h.manifest)
	return h
}

func TestHostileRegistries(t *testing.T) {
	img := newHostileImage()
	serveManifest := func(w http.ResponseWriter, body []byte) {
		w.Header().Set("Content-Type", registry.MediaTypeOCIManifest)
		w.Write(body)
	}
	tests := []struct {
		name    string
		handler func(srvURL string) http.HandlerFunc
		ref     string // appended to the image name; default ":v1"
		timeout time.Duration
		wantErr error
		wantMsg string
	}{
		{
			name: "manifest larger than the limit",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					serveManifest(w, []byte(`{"schemaVersion":2,"x":"`+strings.Repeat("a", 5<<20)+`"}`))
				}
			},
			wantErr: registry.ErrInvalid, wantMsg: "limit",
		},
		{
			name: "endless chunked manifest",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", registry.MediaTypeOCIManifest)
					chunk := []byte(strings.Repeat(" ", 64<<10))
					for r.Context().Err() == nil {
						if _, err := w.Write(chunk); err != nil {
							return
						}
					}
				}
			},
			wantErr: registry.ErrInvalid, wantMsg: "limit",
		},
		{
			name: "config blob does not match its digest",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if strings.Contains(r.URL.Path, "/blobs/") {
						w.Write([]byte(`{"config":{"Entrypoint":["/evil"]}}`))
						return
					}
					serveManifest(w, img.manifest)
				}
			},
			wantErr: registry.ErrInvalid, wantMsg: "does not match digest",
		},
		{
			name: "manifest by digest does not match it",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					serveManifest(w, append(img.manifest, ' '))
				}
			},
			ref:     "@" + img.manifestDigest,
			wantErr: registry.ErrInvalid, wantMsg: "does not match digest",
		},
		{
			name: "not JSON",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>hello</html>")) }
			},
			wantErr: registry.ErrInvalid,
		},
		{
			name: "schema 1 manifest",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws")
					w.Write([]byte(`{"schemaVersion":1,"name":"app","tag":"v1"}`))
				}
			},
			wantErr: registry.ErrInvalid, wantMsg: "schemaVersion 1",
		},
		{
			name: "index pointing at an index",
			handler: func(string) http.HandlerFunc {
				inner := []byte(`{"schemaVersion":2,"mediaType":"` + registry.MediaTypeOCIIndex + `","manifests":[]}`)
				outer := []byte(`{"schemaVersion":2,"mediaType":"` + registry.MediaTypeOCIIndex + `","manifests":[{"mediaType":"` + registry.MediaTypeOCIIndex + `","digest":"` + regDigest(inner) + `","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}`)
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", registry.MediaTypeOCIIndex)
					if strings.HasSuffix(r.URL.Path, regDigest(inner)) {
						w.Write(inner)
						return
					}
					w.Write(outer)
				}
			},
			wantErr: registry.ErrInvalid, wantMsg: "another index",
		},
		{
			name: "server error",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"boom"}]}`, http.StatusInternalServerError)
				}
			},
			wantErr: registry.ErrUnavailable, wantMsg: "UNKNOWN (boom)",
		},
		{
			name: "rate limited",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
				}
			},
			wantErr: registry.ErrUnavailable, wantMsg: "HTTP 429",
		},
		{
			name: "401 without a challenge",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }
			},
			wantErr: registry.ErrUnauthorized, wantMsg: "no usable auth challenge",
		},
		{
			name: "bearer realm that is not http(s)",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("WWW-Authenticate", `Bearer realm="file:///etc/passwd",service="x"`)
					w.WriteHeader(http.StatusUnauthorized)
				}
			},
			wantErr: registry.ErrUnauthorized, wantMsg: "no usable realm",
		},
		{
			name: "token server answers garbage",
			handler: func(srvURL string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/token" {
						w.Write([]byte("not json"))
						return
					}
					w.Header().Set("WWW-Authenticate", `Bearer realm="`+srvURL+`/token",service="x"`)
					w.WriteHeader(http.StatusUnauthorized)
				}
			},
			wantErr: registry.ErrUnauthorized, wantMsg: "malformed answer",
		},
		{
			name: "token rejected by the registry",
			handler: func(srvURL string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/token" {
						w.Write([]byte(`{"token":"tkn"}`))
						return
					}
					w.Header().Set("WWW-Authenticate", `Bearer realm="`+srvURL+`/token",service="x"`)
					w.WriteHeader(http.StatusUnauthorized)
				}
			},
			wantErr: registry.ErrUnauthorized, wantMsg: "HTTP 401",
		},
		{
			name: "redirect loop",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.Path, http.StatusFound) }
			},
			wantErr: registry.ErrUnavailable, wantMsg: "redirects",
		},
		{
			name: "headers, then a body that never ends",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", registry.MediaTypeOCIManifest)
					w.Write([]byte(`{"schemaVersion":`))
					w.(http.Flusher).Flush()
					<-r.Context().Done()
				}
			},
			timeout: 300 * time.Millisecond,
			wantErr: registry.ErrTimeout,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srvURL string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.handler(srvURL)(w, r)
			}))
			t.Cleanup(srv.Close)
			srvURL = srv.URL
			host := strings.TrimPrefix(srv.URL, "http://")
			ref := tt.ref
			if ref == "" {
				ref = ":v1"
			}
			image := host + "/hostile/app" + ref
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			c := registry.New(registry.Options{Timeout: timeout})
			start := time.Now()
			_, err := c.ImageConfig(regCtx(t), registry.Request{Image: image})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), image) {
				t.Fatalf("error %q does not mention %q and the image", err, tt.wantMsg)
			}
			if took := time.Since(start); took > timeout+2*time.Second {
				t.Fatalf("took %v with a %v bound", took, timeout)
			}
		})
	}
}

// TestRedirectDropsCredentials: a registry that redirects blob downloads to
// another host (a CDN) must not receive the pull secret's credentials there.
func TestRedirectDropsCredentials(t *testing.T) {
	img := newHostileImage()
	var cdnSawAuth atomic.Bool
	var cdnHits atomic.Int32
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cdnHits.Add(1)
		if r.Header.Get("Authorization") != "" {
			cdnSawAuth.Store(true)
		}
		w.Write(img.config)
	}))
	t.Cleanup(cdn.Close)
	// The CDN is reached as "localhost", the registry as 127.0.0.1: two hosts.
	cdnURL := strings.Replace(cdn.URL, "127.0.0.1", "localhost", 1)
	const user, pass = "u", "p4ss"
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="r"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if strings.Contains(r.URL.Path, "/blobs/") {
			http.Redirect(w, r, cdnURL+"/blob", http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Content-Type", registry.MediaTypeOCIManifest)
		w.Write(img.manifest)
	}))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	auth, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}})

	// The CDN is on loopback, so it must be listed to be reached at all.
	c := registry.New(registry.Options{InsecureHosts: []string{strings.TrimPrefix(cdnURL, "http://")}})
	got, err := c.ImageConfig(regCtx(t), registry.Request{
		Image:       host + "/app:v1",
		PullSecrets: []registry.PullSecret{{Type: registry.SecretTypeDockerConfigJSON, Data: auth}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entrypoint) != 1 || got.Entrypoint[0] != "/e" {
		t.Fatalf("entrypoint %q", got.Entrypoint)
	}
	if cdnHits.Load() != 1 || cdnSawAuth.Load() {
		t.Fatalf("cdn hits %d, saw credentials %v; want 1 hit without credentials", cdnHits.Load(), cdnSawAuth.Load())
	}
}

// TestShortCallerDeadlineDoesNotFailOthers: the shared fetch is bounded by
// the client's timeout, not by the first caller's deadline.
func TestShortCallerDeadlineDoesNotFailOthers(t *testing.T) {
	img := newHostileImage()
	release := make(chan struct{})
	var manifests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") {
			w.Write(img.config)
			return
		}
		manifests.Add(1)
		<-release
		w.Header().Set("Content-Type", registry.MediaTypeOCIManifest)
		w.Write(img.manifest)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	image := strings.TrimPrefix(srv.URL, "http://") + "/app:v1"
	c := registry.New(registry.Options{Timeout: 10 * time.Second})

	short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.ImageConfig(short, registry.Request{Image: image}); !errors.Is(err, registry.ErrTimeout) {
		t.Fatalf("short caller: err = %v, want ErrTimeout", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.ImageConfig(regCtx(t), registry.Request{Image: image})
		done <- err
	}()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("patient caller: %v", err)
	}
	if n := manifests.Load(); n != 1 {
		t.Fatalf("%d manifest requests, want 1 (the patient caller joins or reuses the first fetch)", n)
	}
}
