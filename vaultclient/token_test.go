package vaultclient

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestTokenOwnership: SetToken copies (the caller may clear its slice),
// replacing a token zeroes the old copy, ClearToken zeroes and drops it.
func TestTokenOwnership(t *testing.T) {
	rec := &recorder{h: answer(200, `{"data":{}}`)}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := New(Config{Addr: srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mine := []byte("hvs.first")
	c.SetToken(mine)
	clear(mine)
	if _, err := c.Read(ctx, "x", nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 1 || got[0].Token != "hvs.first" {
		t.Fatalf("sent %+v, want the token as it was when set", got)
	}

	first := c.token
	c.SetToken([]byte("hvs.second"))
	if !allZero(first) {
		t.Fatal("SetToken left the previous token in memory")
	}
	if _, err := c.Read(ctx, "x", nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); got[0].Token != "hvs.second" {
		t.Fatalf("sent %q, want the new token", got[0].Token)
	}

	second := c.token
	c.ClearToken()
	if !allZero(second) || c.token != nil {
		t.Fatal("ClearToken did not zero and drop the token")
	}
	if _, err := c.Read(ctx, "x", nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); got[0].HasToken {
		t.Fatalf("sent a token header after ClearToken: %+v", got[0])
	}
}

func TestTokenNotPrintable(t *testing.T) {
	rec := &recorder{h: answer(200, `{}`)}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := New(Config{Addr: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"a\nb", "a\x00", "\u200b"} {
		c.SetToken([]byte(tok))
		if _, err := c.Read(context.Background(), "x", nil); !errors.Is(err, ErrTokenNotPrintable) {
			t.Errorf("token %q: err = %v, want ErrTokenNotPrintable", tok, err)
		}
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("requests were sent: %+v", got)
	}
}

// TestLoginTokenBytes: auth.client_token comes back as bytes equal to the
// JSON string's value, escapes decoded.
func TestLoginTokenBytes(t *testing.T) {
	tests := []struct {
		name, body string
		want       []byte
	}{
		{name: "plain", body: `{"auth":{"client_token":"hvs.CAESIabc"}}`, want: []byte("hvs.CAESIabc")},
		{name: "escapes", body: `{"auth":{"client_token":"a\/b\u0041\n"}}`, want: []byte("a/bA\n")},
		{name: "null", body: `{"auth":{"client_token":null,"accessor":"x"}}`, want: []byte{}},
		{name: "repeated key", body: `{"auth":{"client_token":"one","client_token":"two"}}`, want: []byte("two")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			s, err := parseSecret(body)
			if err != nil {
				t.Fatal(err)
			}
			if s.Auth == nil || !bytes.Equal(s.Auth.ClientToken, tt.want) || s.Auth.ClientToken == nil {
				t.Fatalf("token = %q, want %q", s.Auth.ClientToken, tt.want)
			}
			// The token does not share memory with the response buffer,
			// which the caller zeroes.
			clear(body)
			if !bytes.Equal(s.Auth.ClientToken, tt.want) {
				t.Fatal("the token aliases the response buffer")
			}
		})
	}
	if _, err := parseSecret([]byte(`{"auth":{"client_token":5}}`)); err == nil {
		t.Fatal("a number as client_token parsed")
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

var _ http.Handler = (*recorder)(nil)
