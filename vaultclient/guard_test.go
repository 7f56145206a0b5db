package vaultclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
)

func TestRefuseMetadataAddresses(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"169.254.169.254", true},
		{"169.254.0.1", true},
		{"169.254.255.255", true},
		{"::ffff:169.254.169.254", true}, // IPv4-mapped
		{"::169.254.169.254", true},      // IPv4-compatible
		{"64:ff9b::a9fe:a9fe", true},     // NAT64 of 169.254.169.254
		{"fd00:ec2::254", true},          // AWS IPv6
		{"fd20:ce::254", true},           // GCP IPv6
		{"fd00:ec2::254%eth0", true},
		{"169.253.255.255", false},
		{"169.255.0.0", false},
		{"127.0.0.1", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"fd00:ec2::253", false},
		{"10.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ap := netip.AddrPortFrom(netip.MustParseAddr(tt.addr), 443)
			var me *MetadataAddressError
			if got := errors.As(refuseMetadata(context.Background(), "tcp", ap.String(), nil), &me); got != tt.want {
				t.Fatalf("refuseMetadata(%s) refused = %t, want %t", ap, got, tt.want)
			}
		})
	}
}

// TestRefuseMetadata checks the dial guard on the resolved addresses the
// dialer gives it (never dialing one: only loopback may be targeted here).
func TestRefuseMetadata(t *testing.T) {
	for _, a := range []string{"169.254.169.254:80", "[::ffff:169.254.169.254]:443", "[fd00:ec2::254]:80", "[fd20:ce::254]:8200"} {
		var me *MetadataAddressError
		if err := refuseMetadata(context.Background(), "tcp", a, nil); !errors.As(err, &me) {
			t.Errorf("%s: got %v, want *MetadataAddressError", a, err)
		}
	}
	if err := refuseMetadata(context.Background(), "tcp", "127.0.0.1:8200", nil); err != nil {
		t.Errorf("loopback refused: %v", err)
	}
}

// TestDialGuardSeesResolvedAddress: the guard runs on the address after
// name resolution ("localhost" arrives as an IP), so no spelling of a host
// name can hide a metadata address from it.
func TestDialGuardSeesResolvedAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var seen []string
	d := guardedDialer()
	guard := d.ControlContext
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		seen = append(seen, address)
		return guard(ctx, network, address, c)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	c, err := d.DialContext(context.Background(), "tcp4", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(seen) != 1 || seen[0] != "127.0.0.1:"+port {
		t.Fatalf("guard saw %q, want the resolved 127.0.0.1:%s", seen, port)
	}
}

// TestRedirectToOtherHostRefused: a Vault address that answers a login with
// a 307 to another listener: the other listener receives nothing (no JWT,
// no token), and the error says why. A same-host redirect is followed, as
// vault/api does.
func TestRedirectToOtherHostRefused(t *testing.T) {
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer other.Close()
	vault := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/auth/kubernetes/login", "/v1/secret/away":
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
		case "/v1/secret/here":
			http.Redirect(w, r, "/v1/secret/moved", http.StatusTemporaryRedirect)
		case "/v1/secret/moved":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"data":{"k":"v"}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer vault.Close()
	t.Setenv("VAULT_ADDR", vault.URL)
	t.Setenv("VAULT_MAX_RETRIES", "3")
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken([]byte("tok"))
	_, err = c.Write(context.Background(), "auth/kubernetes/login", map[string]any{"jwt": "the-jwt"})
	var re *RedirectError
	if !errors.As(err, &re) {
		t.Fatalf("login: got %v, want *RedirectError", err)
	}
	if _, err := c.Read(context.Background(), "secret/away", nil); !errors.As(err, &re) {
		t.Fatalf("read: got %v, want *RedirectError", err)
	}
	if n := otherHits.Load(); n != 0 {
		t.Fatalf("the other host received %d requests", n)
	}
	s, err := c.Read(context.Background(), "secret/here", nil)
	if err != nil || s == nil || s.Data["k"] != "v" {
		t.Fatalf("same-host redirect: %v %v", s, err)
	}
}

func TestDotSegmentsRefused(t *testing.T) {
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"secret/../sys/mounts", "./x", "secret/%2e%2e/sys", "a/%2E%2e%2fb"} {
		if _, err := c.Read(context.Background(), p, nil); !errors.Is(err, ErrDotSegment) {
			t.Errorf("Read(%q): got %v, want ErrDotSegment", p, err)
		}
		if _, err := c.Write(context.Background(), p, nil); !errors.Is(err, ErrDotSegment) {
			t.Errorf("Write(%q): got %v, want ErrDotSegment", p, err)
		}
	}
}
