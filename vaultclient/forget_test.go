package vaultclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestForgetToken: after ForgetToken the client sends no token, and the
// connection it had stays open (execve closes it), where ClearToken closes it.
func TestForgetToken(t *testing.T) {
	var mu sync.Mutex
	var tokens []string
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens = append(tokens, r.Header.Get("X-Vault-Token"))
		conns[r.RemoteAddr] = true
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"data":{"k":"v"}}`))
	}))
	defer srv.Close()
	t.Setenv("VAULT_ADDR", srv.URL)
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	read := func() {
		t.Helper()
		if _, err := c.Read(ctx, "secret/x", nil); err != nil {
			t.Fatal(err)
		}
	}
	c.SetToken([]byte("tok"))
	read()
	c.ForgetToken()
	read()
	c.ClearToken()
	read()
	mu.Lock()
	defer mu.Unlock()
	if len(tokens) != 3 || tokens[0] != "tok" || tokens[1] != "" || tokens[2] != "" {
		t.Errorf("tokens sent = %q, want [tok, none, none]", tokens)
	}
	if len(conns) != 2 {
		t.Errorf("%d connections, want 2: ForgetToken keeps the first, ClearToken closes it", len(conns))
	}
}
