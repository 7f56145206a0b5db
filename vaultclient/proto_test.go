package vaultclient

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestProtocol: HTTP/2 is negotiated over TLS; a plain-http address speaks
// HTTP/1.1 (no HTTP/2 attempt).
func TestProtocol(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"proto": r.Proto}})
	})
	tests := []struct {
		name string
		tls  bool
		want string
	}{
		{name: "https", tls: true, want: "HTTP/2.0"},
		{name: "http", tls: false, want: "HTTP/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(handler)
			srv.EnableHTTP2 = true
			cfg := Config{Timeout: 5 * time.Second}
			if tt.tls {
				srv.StartTLS()
				ca := filepath.Join(t.TempDir(), "ca.pem")
				if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg.CACert = ca
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			cfg.Addr = srv.URL
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			sec, err := c.Read(context.Background(), "secret/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := sec.Data["proto"]; got != tt.want {
				t.Fatalf("protocol %v, want %s", got, tt.want)
			}
		})
	}
}
