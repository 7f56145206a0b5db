package registry_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/registry"
)

// TestSkipVerifyKeepsOperatorSecretVerified: a pod's registry-skip-verify
// turns off certificate checks for its own pull secrets, never for the
// operator's default one. The registry's certificate is self-signed
// (untrusted), so with the operator's secret the handshake fails and the
// credentials never reach it.
func TestSkipVerifyKeepsOperatorSecretVerified(t *testing.T) {
	img := newHostileImage()
	const user, pass = "op", "operator-pass"
	var sawCreds atomic.Int32
	reg := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="r"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		sawCreds.Add(1)
		if strings.Contains(r.URL.Path, "/blobs/") {
			w.Write(img.config)
			return
		}
		w.Header().Set("Content-Type", registry.MediaTypeOCIManifest)
		w.Write(img.manifest)
	}))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "https://")
	auth, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}})

	tests := []struct {
		name      string
		operator  bool
		wantErr   error
		wantCreds bool
	}{
		{"the pod's own secret with skip-verify", false, nil, true},
		{"the operator's secret with skip-verify", true, registry.ErrUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sawCreds.Store(0)
			c := registry.New(registry.Options{})
			_, err := c.ImageConfig(regCtx(t), registry.Request{
				Image:              host + "/app:v1",
				InsecureSkipVerify: true,
				PullSecrets:        []registry.PullSecret{{Type: registry.SecretTypeDockerConfigJSON, Data: auth, AlwaysVerifyTLS: tt.operator}},
			})
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := sawCreds.Load() > 0; got != tt.wantCreds {
				t.Fatalf("registry saw the credentials: %t, want %t", got, tt.wantCreds)
			}
		})
	}
}
