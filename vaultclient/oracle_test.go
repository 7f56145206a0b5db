package vaultclient

// Oracle tests: the same requests through this package's Client and through
// the official client (apiclient_test.go) must give the same results and
// send the same requests. Test servers give exact control over answers;
// TestOracleVault does it against a real Vault dev server.

import (
	"context"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// seen is what a test server saw of one request.
type seen struct {
	Method, Path, RawQuery string
	Token, Namespace, Req  string
	HasToken, HasNS        bool
	Body                   string
}

// recorder wraps a handler and records the requests it gets.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
	h    http.HandlerFunc
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	_, hasTok := r.Header["X-Vault-Token"]
	_, hasNS := r.Header["X-Vault-Namespace"]
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, seen{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Token: r.Header.Get("X-Vault-Token"), Namespace: r.Header.Get("X-Vault-Namespace"),
		Req: r.Header.Get("X-Vault-Request"), HasToken: hasTok, HasNS: hasNS, Body: string(b),
	})
	rec.mu.Unlock()
	rec.h(w, r)
}

func (rec *recorder) take() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r := rec.reqs
	rec.reqs = nil
	return r
}

// answer is a handler with a fixed status and body (Content-Type JSON).
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// testWaits makes retries fast in tests (the real waits are 100ms-1s).
const testMinWait, testMaxWait = time.Millisecond, 2 * time.Millisecond

func newPair(t *testing.T, cfg Config) (*Client, *apiClient) {
	t.Helper()
	ours, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ours.minWait, ours.maxWait = testMinWait, testMaxWait
	oracle, err := newAPIClient(cfg, testMinWait, testMaxWait)
	if err != nil {
		t.Fatal(err)
	}
	return ours, oracle
}

type op func(ctx context.Context, v envinject.Vault) (*envinject.Secret, error)

func read(path string, q url.Values) op {
	return func(ctx context.Context, v envinject.Vault) (*envinject.Secret, error) { return v.Read(ctx, path, q) }
}

func write(path string, data map[string]any) op {
	return func(ctx context.Context, v envinject.Vault) (*envinject.Secret, error) {
		return v.Write(ctx, path, data)
	}
}

// compare runs o through both clients and fails on any difference in the
// outcome or in what the server saw.
func compare(t *testing.T, rec *recorder, ours *Client, oracle *apiClient, o op) (*envinject.Secret, error) {
	t.Helper()
	ctx := context.Background()
	rec.take()
	ws, werr := o(ctx, oracle)
	wantSeen := rec.take()
	gs, gerr := o(ctx, ours)
	gotSeen := rec.take()
	if d := diffErrors(gerr, werr); d != "" {
		t.Errorf("%s (ours: %v; vault/api: %v)", d, gerr, werr)
	}
	if d := diffSecrets(gs, ws); d != "" {
		t.Errorf("%s", d)
	}
	if !reflect.DeepEqual(gotSeen, wantSeen) {
		t.Errorf("requests differ:\nours:      %+v\nvault/api: %+v", gotSeen, wantSeen)
	}
	return gs, gerr
}

func TestOracleHTTP(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "from-env")
	t.Setenv("VAULT_NAMESPACE", "from-env")
	kv2 := `{"request_id":"r1","lease_id":"","renewable":false,"lease_duration":0,` +
		`"data":{"data":{"pw":"x","n":5,"f":1.5,"big":12345678901234567890,"b":true,"l":[1,"a"],"nil":null},"metadata":{"version":2}},"warnings":null}` + "\n"
	login := `{"request_id":"r","auth":{"client_token":"hvs.\u0041BC\/x","accessor":"acc","policies":["default"],` +
		`"token_policies":["default"],"metadata":{"role":"r"},"lease_duration":3600,"renewable":true,"entity_id":"e","orphan":true},"data":null}`
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		op        op
		token     string
		namespace string
		wantErr   bool // a sanity check on the oracle itself
	}{
		{name: "read kv2 with query and trailing slash", handler: answer(200, kv2), token: "tok",
			op: read("secret/data/app/", url.Values{"version": {"2"}, "a b": {"c&d", "e"}})},
		{name: "read without token", handler: answer(200, kv2), op: read("secret/data/app", nil)},
		{name: "read raw body", handler: answer(200, `{"keys":["a","b"]}`), token: "t", op: read("sys/x", nil)},
		{name: "read raw body with errors", handler: answer(200, `{"errors":["e1","e2"],"x":1}`), token: "t", op: read("sys/x", nil), wantErr: true},
		{name: "read only errors on 200", handler: answer(200, `{"errors":["e1"]}`), token: "t", op: read("sys/x", nil)},
		{name: "read empty body", handler: answer(200, ""), token: "t", op: read("sys/x", nil)},
		{name: "read white space", handler: answer(200, " \n"), token: "t", op: read("sys/x", nil), wantErr: true},
		{name: "read null", handler: answer(200, "null"), token: "t", op: read("sys/x", nil)},
		{name: "read not JSON", handler: answer(200, "<html>"), token: "t", op: read("sys/x", nil), wantErr: true},
		{name: "read wrong type", handler: answer(200, `{"lease_duration":"x"}`), token: "t", op: read("sys/x", nil), wantErr: true},
		{name: "read 404 empty", handler: answer(404, ""), token: "t", op: read("secret/data/nope", nil)},
		{name: "read 404 white space", handler: answer(404, "\n"), token: "t", op: read("secret/data/nope", nil)},
		{name: "read 404 errors", handler: answer(404, `{"errors":[]}`), token: "t", op: read("secret/data/nope", nil)},
		{name: "read 404 warnings", handler: answer(404, `{"warnings":["Invalid path for a versioned K/V secrets engine"]}`), token: "t", op: read("secret/nope", nil)},
		{name: "read 404 data", handler: answer(404, `{"data":{"data":null,"metadata":{"deletion_time":"x"}}}`), token: "t", op: read("secret/data/deleted", nil)},
		{name: "read 404 not JSON", handler: answer(404, "<html>"), token: "t", op: read("x", nil), wantErr: true},
		{name: "write 404 empty", handler: answer(404, ""), token: "t", op: write("x", nil), wantErr: true},
		{name: "write 404 white space", handler: answer(404, " "), token: "t", op: write("x", nil)},
		{name: "write 404 errors", handler: answer(404, `{"errors":["no handler for route"]}`), token: "t", op: write("x", nil), wantErr: true},
		{name: "write 404 warnings", handler: answer(404, `{"warnings":["w"]}`), token: "t", op: write("x", nil), wantErr: true},
		{name: "write 404 data", handler: answer(404, `{"data":{"a":1}}`), token: "t", op: write("x", nil), wantErr: true},
		{name: "write 404 not JSON", handler: answer(404, "<"), token: "t", op: write("x", nil), wantErr: true},
		{name: "403", handler: answer(403, `{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`), token: "t", op: read("secret/data/x", nil), wantErr: true},
		{name: "400 two errors", handler: answer(400, `{"errors":["a","b"]}`), token: "t", op: write("auth/kubernetes/login", map[string]any{"role": "r"}), wantErr: true},
		{name: "405 empty", handler: answer(405, ""), token: "t", op: read("x", nil), wantErr: true},
		{name: "500 not JSON", handler: answer(500, "oops"), token: "t", op: read("x", nil), wantErr: true},
		{name: "write nil data", handler: answer(204, ""), token: "t", op: write("auth/token/revoke-self", nil)},
		{name: "write body", handler: answer(200, `{"data":{"ok":true}}`), token: "t",
			op: write("transit/decrypt/k", map[string]any{"role": "r", "jwt": "a.b<c>&'", "n": 1, "l": []any{"x"}, "m": map[string]any{"k": nil}})},
		{name: "login", handler: answer(200, login), op: write("auth/kubernetes/login", map[string]any{"role": "r", "jwt": "j"})},
		{name: "namespace", handler: answer(200, kv2), token: "t", namespace: "team/a", op: read("secret/data/app", nil)},
		{name: "non-printable token", handler: answer(200, kv2), token: "a\x01b", op: read("secret/data/app", nil), wantErr: true},
		{name: "invalid UTF-8 token", handler: answer(200, kv2), token: "a\xffb", op: read("secret/data/app", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{h: tt.handler}
			srv := httptest.NewServer(rec)
			t.Cleanup(srv.Close)
			ours, oracle := newPair(t, Config{Addr: srv.URL, Namespace: tt.namespace, Timeout: 5 * time.Second, MaxRetries: 1})
			if tt.token != "" {
				ours.SetToken([]byte(tt.token))
				oracle.SetToken([]byte(tt.token))
			}
			_, err := compare(t, rec, ours, oracle, tt.op)
			if (err != nil) != tt.wantErr {
				t.Errorf("error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// TestOracleRetries counts attempts for each status and for dropped
// connections, MaxRetries 2.
func TestOracleRetries(t *testing.T) {
	hangUp := func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		attempts int
	}{
		{name: "500", handler: answer(500, `{"errors":["internal"]}`), attempts: 3},
		{name: "502", handler: answer(502, "bad gateway"), attempts: 3},
		{name: "503 sealed", handler: answer(503, `{"errors":["Vault is sealed"]}`), attempts: 3},
		{name: "501 not retried", handler: answer(501, `{"errors":["x"]}`), attempts: 1},
		{name: "412", handler: answer(412, `{"errors":["index"]}`), attempts: 3},
		{name: "429", handler: answer(429, `{"errors":["quota"]}`), attempts: 3},
		{name: "400 not retried", handler: answer(400, `{"errors":["x"]}`), attempts: 1},
		{name: "404 not retried", handler: answer(404, ""), attempts: 1},
		{name: "connection dropped", handler: hangUp, attempts: 3},
	}
	for _, tt := range tests {
		for _, method := range []string{"read", "write"} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				rec := &recorder{h: tt.handler}
				srv := httptest.NewServer(rec)
				t.Cleanup(srv.Close)
				ours, oracle := newPair(t, Config{Addr: srv.URL, Timeout: 5 * time.Second, MaxRetries: 2})
				o := read("secret/data/x", nil)
				if method == "write" {
					o = write("secret/data/x", map[string]any{"data": map[string]any{"a": "b"}})
				}
				compare(t, rec, ours, oracle, o)
				// compare checked both saw the same requests; now the count.
				_, _ = o(context.Background(), ours)
				if n := len(rec.take()); n != tt.attempts {
					t.Errorf("attempts = %d, want %d", n, tt.attempts)
				}
			})
		}
	}
}

// TestOracleRedirects: one redirect is followed (body and token re-sent), a
// second is not, https -> http is refused.
func TestOracleRedirects(t *testing.T) {
	target := &recorder{h: answer(200, `{"data":{"where":"target"}}`)}
	tsrv := httptest.NewServer(target)
	t.Cleanup(tsrv.Close)
	redirectTo := func(u string, code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", u+r.URL.Path)
			w.WriteHeader(code)
		}
	}
	again := &recorder{h: redirectTo(tsrv.URL, 302)}
	asrv := httptest.NewServer(again)
	t.Cleanup(asrv.Close)

	tests := []struct {
		name    string
		handler http.HandlerFunc
		tls     bool
		wantErr bool
	}{
		{name: "307 followed", handler: redirectTo(tsrv.URL, 307)},
		{name: "301 followed", handler: redirectTo(tsrv.URL, 301)},
		{name: "second redirect not followed", handler: redirectTo(asrv.URL, 307)},
		{name: "relative location", handler: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/moved" {
				_, _ = io.WriteString(w, `{"data":{"where":"moved"}}`)
				return
			}
			w.Header().Set("Location", "/v1/moved")
			w.WriteHeader(307)
		}},
		{name: "https to http refused", handler: redirectTo(tsrv.URL, 307), tls: true, wantErr: true},
	}
	for _, tt := range tests {
		for _, o := range []op{read("secret/data/x", url.Values{"version": {"3"}}), write("secret/data/x", map[string]any{"data": map[string]any{"a": "b"}})} {
			t.Run(tt.name, func(t *testing.T) {
				rec := &recorder{h: tt.handler}
				srv := httptest.NewUnstartedServer(rec)
				cfg := Config{Timeout: 5 * time.Second}
				if tt.tls {
					srv.StartTLS()
					cfg.CACert = writeCA(t, srv)
				} else {
					srv.Start()
				}
				t.Cleanup(srv.Close)
				cfg.Addr = srv.URL
				ours, oracle := newPair(t, cfg)
				ours.SetToken([]byte("tok"))
				oracle.SetToken([]byte("tok"))
				// Both servers' records must match too.
				target.take()
				again.take()
				ws, werr := o(context.Background(), oracle)
				wantT, wantA, wantR := target.take(), again.take(), rec.take()
				gs, gerr := o(context.Background(), ours)
				gotT, gotA, gotR := target.take(), again.take(), rec.take()
				if d := diffErrors(gerr, werr); d != "" {
					t.Errorf("%s", d)
				}
				if (gerr != nil) != tt.wantErr {
					t.Errorf("error = %v, want error %v", gerr, tt.wantErr)
				}
				if d := diffSecrets(gs, ws); d != "" {
					t.Errorf("%s", d)
				}
				for _, p := range []struct {
					name      string
					got, want []seen
				}{{"first", gotR, wantR}, {"target", gotT, wantT}, {"second", gotA, wantA}} {
					if !reflect.DeepEqual(p.got, p.want) {
						t.Errorf("%s server saw\nours:      %+v\nvault/api: %+v", p.name, p.got, p.want)
					}
				}
			})
		}
	}
}

// TestOracleUnixSocket: unix:///path speaks HTTP over the socket.
func TestOracleUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "v.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{h: answer(200, `{"data":{"via":"socket"}}`)}
	srv := httptest.NewUnstartedServer(rec)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	ours, oracle := newPair(t, Config{Addr: "unix://" + sock, Timeout: 5 * time.Second})
	ours.SetToken([]byte("t"))
	oracle.SetToken([]byte("t"))
	s, err := compare(t, rec, ours, oracle, read("secret/x", nil))
	if err != nil || s.Data["via"] != "socket" {
		t.Fatalf("got %v, %v", s, err)
	}
}

func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestOracleVault runs one sequence on a real Vault dev server through both
// clients: KV v2 write and read (latest, ?version=), KV v1, 404 with and
// without warnings and with data (a deleted version), 403, userpass login
// (good and bad password), token set and clear, a LIST through a query
// parameter.
func TestOracleVault(t *testing.T) {
	addr, root := devVault(t)
	ctx := context.Background()
	ours, oracle := newPair(t, Config{Addr: addr, Timeout: 10 * time.Second, MaxRetries: 2})
	// A passthrough recorder is not needed here: Vault is the judge.
	type step struct {
		name string
		op   op
		// fresh: the answer differs on every call (new token, timestamps),
		// so compare only its shape.
		fresh   bool
		wantErr bool
	}
	both := func(t *testing.T, s step) (got, want *envinject.Secret) {
		t.Helper()
		ws, werr := s.op(ctx, oracle)
		gs, gerr := s.op(ctx, ours)
		if d := diffErrors(gerr, werr); d != "" {
			t.Errorf("%s: %s (ours %v, vault/api %v)", s.name, d, gerr, werr)
		}
		if (gerr != nil) != s.wantErr {
			t.Errorf("%s: error = %v, want error %v", s.name, gerr, s.wantErr)
		}
		if s.fresh {
			if d := diffShape(gs, ws); d != "" {
				t.Errorf("%s: %s", s.name, d)
			}
		} else if d := diffSecrets(gs, ws); d != "" {
			t.Errorf("%s: %s", s.name, d)
		}
		return gs, ws
	}
	setToken := func(tok []byte) {
		ours.SetToken(tok)
		oracle.SetToken(tok)
	}

	both(t, step{name: "no token", op: read("auth/token/lookup-self", nil), wantErr: true})
	setToken([]byte(root))
	// Writes through the oracle first, then ours: both create a version.
	both(t, step{name: "kv2 write", op: write("secret/data/o", map[string]any{"data": map[string]any{"pw": "v", "n": 7}}), fresh: true})
	both(t, step{name: "kv2 write 2", op: write("secret/data/o", map[string]any{"data": map[string]any{"pw": "w"}}), fresh: true})
	s, _ := both(t, step{name: "kv2 read", op: read("secret/data/o", nil)})
	if s == nil || s.Data["data"].(map[string]any)["pw"] != "w" {
		t.Fatalf("kv2 read = %v", s)
	}
	both(t, step{name: "kv2 read version", op: read("secret/data/o", url.Values{"version": {"1"}})})
	both(t, step{name: "kv2 missing", op: read("secret/data/nope", nil)})
	if wr, _ := both(t, step{name: "kv2 missing path warnings (404 with warnings)", op: read("secret/nope", nil)}); wr == nil || len(wr.Warnings) == 0 {
		t.Errorf("a 404 with warnings reads as %v, want the warnings", wr)
	}
	both(t, step{name: "mount lookup", op: read("sys/internal/ui/mounts/secret/data/o", nil)})
	both(t, step{name: "list", op: read("secret/metadata/", url.Values{"list": {"true"}})})
	if _, err := ours.Write(ctx, "secret/delete/o", map[string]any{"versions": []int{1}}); err != nil {
		t.Fatal(err)
	}
	d, _ := both(t, step{name: "kv2 deleted version (404 with data)", op: read("secret/data/o", url.Values{"version": {"1"}})})
	if d == nil {
		t.Error("a deleted version reads as nil, want the 404's metadata")
	}

	if _, err := ours.Write(ctx, "sys/mounts/kv1", map[string]any{"type": "kv", "options": map[string]any{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	both(t, step{name: "kv1 write", op: write("kv1/a", map[string]any{"k": "v", "ttl": "1h"})})
	both(t, step{name: "kv1 read", op: read("kv1/a", nil)})
	both(t, step{name: "kv1 missing", op: read("kv1/nope", nil)})
	both(t, step{name: "write to a missing mount", op: write("nomount/x", map[string]any{"a": "b"}), wantErr: true})

	if _, err := ours.Write(ctx, "sys/auth/userpass", map[string]any{"type": "userpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ours.Write(ctx, "auth/userpass/users/u", map[string]any{"password": "pw", "token_policies": "default", "token_ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	both(t, step{name: "login bad password", op: write("auth/userpass/login/u", map[string]any{"password": "nope"}), wantErr: true})
	g, w := both(t, step{name: "login", op: write("auth/userpass/login/u", map[string]any{"password": "pw"}), fresh: true})
	if g == nil || g.Auth == nil || w == nil || w.Auth == nil || !strings.HasPrefix(string(g.Auth.ClientToken), "hvs.") ||
		g.Auth.LeaseDuration != time.Hour || g.Auth.LeaseDuration != w.Auth.LeaseDuration || g.Auth.Renewable != w.Auth.Renewable {
		t.Fatalf("login: ours %+v, vault/api %+v", g, w)
	}
	// The login token (policy default) may not read secrets: 403.
	setToken(g.Auth.ClientToken)
	both(t, step{name: "403", op: read("secret/data/o", nil), wantErr: true})
	ls, _ := both(t, step{name: "lookup-self", op: read("auth/token/lookup-self", nil), fresh: true})
	if ls == nil || ls.Data["id"] != string(g.Auth.ClientToken) {
		t.Error("lookup-self does not show the login token")
	}
	both(t, step{name: "renew-self", op: write("auth/token/renew-self", map[string]any{"increment": 600}), fresh: true})

	ours.ClearToken()
	oracle.ClearToken()
	both(t, step{name: "cleared token", op: read("auth/token/lookup-self", nil), wantErr: true})
}

// diffShape compares answers that differ per call (tokens, timestamps):
// presence, data keys, lease and auth fields but the token's value.
func diffShape(got, want *envinject.Secret) string {
	if (got == nil) != (want == nil) {
		return "secret presence differs"
	}
	if got == nil {
		return ""
	}
	keys := func(m map[string]any) []string {
		k := make([]string, 0, len(m))
		for x := range m {
			k = append(k, x)
		}
		slices.Sort(k)
		return k
	}
	if !slices.Equal(keys(got.Data), keys(want.Data)) {
		return "data keys differ: " + strings.Join(keys(got.Data), ",") + " vs " + strings.Join(keys(want.Data), ",")
	}
	if (got.LeaseID == "") != (want.LeaseID == "") || got.Renewable != want.Renewable || !reflect.DeepEqual(got.Warnings, want.Warnings) {
		return "lease or warnings differ"
	}
	if (got.Auth == nil) != (want.Auth == nil) {
		return "auth presence differs"
	}
	if got.Auth != nil && (len(got.Auth.ClientToken) != len(want.Auth.ClientToken) || got.Auth.Renewable != want.Auth.Renewable) {
		return "auth shape differs"
	}
	return ""
}
