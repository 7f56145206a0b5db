package registry_test

// Server-side request forgery through the registry client: an attacker's
// registry names a token realm or a redirect that points at an internal
// service (here a local "metadata" listener standing in for
// 169.254.169.254). Real servers on loopback; the guard's loopback rule is
// what stands in for the metadata rule (netguard's tests cover the address
// forms).

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/registry"
)

// ssrfListener is the internal service: it counts connections and requests
// and answers like a metadata service (a capitalised "Token").
type ssrfListener struct {
	srv      *httptest.Server
	conns    atomic.Int32
	requests atomic.Int32
	mu       sync.Mutex
	authz    []string
}

func startSSRFListener(t *testing.T, useTLS bool, status int, body string) *ssrfListener {
	t.Helper()
	l := &ssrfListener{}
	l.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.requests.Add(1)
		l.mu.Lock()
		l.authz = append(l.authz, r.Header.Get("Authorization"))
		l.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	l.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			l.conns.Add(1)
		}
	}
	if useTLS {
		l.srv.StartTLS()
	} else {
		l.srv.Start()
	}
	t.Cleanup(l.srv.Close)
	return l
}

func (l *ssrfListener) host() string { return l.srv.Listener.Addr().String() }

// attackerRegistry asks for a bearer token from realm, or redirects every
// request to redirect, and records the Authorization headers it receives.
type attackerRegistry struct {
	srv   *httptest.Server
	mu    sync.Mutex
	authz []string
}

func startAttacker(t *testing.T, useTLS bool, realm, redirect string) *attackerRegistry {
	t.Helper()
	a := &attackerRegistry{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.authz = append(a.authz, r.Header.Get("Authorization"))
		a.mu.Unlock()
		if redirect != "" {
			http.Redirect(w, r, redirect, http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="evil"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	if useTLS {
		a.srv = httptest.NewTLSServer(h)
	} else {
		a.srv = httptest.NewServer(h)
	}
	t.Cleanup(a.srv.Close)
	return a
}

func (a *attackerRegistry) host() string { return a.srv.Listener.Addr().String() }

func (a *attackerRegistry) sawAuthorization(s string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range a.authz {
		if s != "" && strings.Contains(v, s) || s == "" && v != "" {
			return true
		}
	}
	return false
}

const metaSecret = "meta-secret-token"

func TestSSRFThroughTokenRealm(t *testing.T) {
	metaBody := `{"Token":"` + metaSecret + `","AccessToken":"` + metaSecret + `"}`
	tests := []struct {
		name     string
		tls      bool                       // the metadata listener speaks TLS
		realm    func(meta string) string   // the realm the attacker names
		insecure func(meta string) []string // Options.InsecureHosts
		wantErr  error
		wantHits int32 // connections reaching the metadata listener
	}{
		{
			name:    "plain-HTTP realm on loopback",
			realm:   func(m string) string { return "http://" + m + "/latest/api/token" },
			wantErr: registry.ErrRefused,
		},
		{
			name:    "https realm on a loopback address",
			tls:     true,
			realm:   func(m string) string { return "https://" + m + "/latest/api/token" },
			wantErr: registry.ErrRefused,
		},
		{
			name:    "https realm whose name resolves to loopback",
			tls:     true,
			realm:   func(m string) string { return "https://" + strings.Replace(m, "127.0.0.1", "localhost", 1) + "/token" },
			wantErr: registry.ErrRefused,
		},
		{
			// The legit path of a listed host: reached, and the test could
			// fail. Its capitalised "Token" is still not a token.
			name:     "listed realm is reached but a Token field is not a token",
			realm:    func(m string) string { return "http://" + m + "/latest/api/token" },
			insecure: func(m string) []string { return []string{m} },
			wantErr:  registry.ErrUnauthorized,
			wantHits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := startSSRFListener(t, tt.tls, http.StatusOK, metaBody)
			att := startAttacker(t, false, tt.realm(meta.host()), "")
			var opts registry.Options
			if tt.insecure != nil {
				opts.InsecureHosts = tt.insecure(meta.host())
			}
			c := registry.New(opts)
			_, err := c.ImageConfig(regCtx(t), registry.Request{Image: att.host() + "/app:v1"})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if n := meta.conns.Load(); n != tt.wantHits {
				t.Fatalf("metadata listener got %d connections, want %d", n, tt.wantHits)
			}
			if att.sawAuthorization(metaSecret) {
				t.Fatal("the metadata answer reached the attacker's registry")
			}
			var re *registry.Error
			if !errors.As(err, &re) || !strings.Contains(re.Public(), att.host()) || strings.Contains(re.Public(), metaSecret) {
				t.Fatalf("public message %q: want the registry named and nothing of the answer", re.Public())
			}
		})
	}
}

// TestSSRFThroughRedirect: an https registry redirects to a plain-HTTP
// internal address; and to an https one on loopback.
func TestSSRFThroughRedirect(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := map[bool]string{false: "https to http", true: "https to https on loopback"}[tls]
		t.Run(name, func(t *testing.T) {
			meta := startSSRFListener(t, tls, http.StatusOK, `{}`)
			att := startAttacker(t, true, "", meta.srv.URL+"/latest/meta-data")
			c := registry.New(registry.Options{})
			_, err := c.ImageConfig(regCtx(t), registry.Request{Image: att.host() + "/app:v1", InsecureSkipVerify: true})
			if !errors.Is(err, registry.ErrRefused) {
				t.Fatalf("err = %v, want %v", err, registry.ErrRefused)
			}
			if n := meta.conns.Load(); n != 0 {
				t.Fatalf("metadata listener got %d connections", n)
			}
		})
	}
}

// TestSSRFStatusNotShown: an internal service's status and body stay out of
// the public message (they go to the log through Error()).
func TestSSRFStatusNotShown(t *testing.T) {
	meta := startSSRFListener(t, false, http.StatusTeapot, `internal-body-text`)
	att := startAttacker(t, false, meta.srv.URL+"/token", "")
	c := registry.New(registry.Options{InsecureHosts: []string{meta.host()}})
	_, err := c.ImageConfig(regCtx(t), registry.Request{Image: att.host() + "/app:v1"})
	var re *registry.Error
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *registry.Error", err)
	}
	if meta.requests.Load() != 1 {
		t.Fatalf("the listed realm got %d requests, want 1", meta.requests.Load())
	}
	if p := re.Public(); strings.Contains(p, "418") || strings.Contains(p, "internal-body") || strings.Contains(p, meta.host()) {
		t.Fatalf("public message %q shows the internal service's answer", p)
	}
}

// TestRealmOnAnotherHostGetsNoCredentials: the registry's pull-secret
// credentials are not sent to a realm on another host, even a listed one.
func TestRealmOnAnotherHostGetsNoCredentials(t *testing.T) {
	tokenSrv := startSSRFListener(t, false, http.StatusOK, `{"token":"issued"}`)
	realmHost := strings.Replace(tokenSrv.host(), "127.0.0.1", "localhost", 1)
	att := startAttacker(t, false, "http://"+realmHost+"/token", "")
	auth, _ := json.Marshal(map[string]any{"auths": map[string]any{att.host(): map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("user:s3cret"))}}})
	c := registry.New(registry.Options{InsecureHosts: []string{realmHost}})
	_, err := c.ImageConfig(regCtx(t), registry.Request{
		Image:       att.host() + "/app:v1",
		PullSecrets: []registry.PullSecret{{Type: registry.SecretTypeDockerConfigJSON, Data: auth}},
	})
	if err == nil {
		t.Fatal("lookup succeeded against a registry that never serves a manifest")
	}
	if tokenSrv.requests.Load() != 1 {
		t.Fatalf("token server got %d requests, want 1 (anonymous)", tokenSrv.requests.Load())
	}
	tokenSrv.mu.Lock()
	defer tokenSrv.mu.Unlock()
	if tokenSrv.authz[0] != "" {
		t.Fatalf("token server on another host got Authorization %q", tokenSrv.authz[0])
	}
}
