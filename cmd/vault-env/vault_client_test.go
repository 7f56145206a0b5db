package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/testcert"
)

// testPKI writes a CA, a server certificate for dnsName only (no IP SAN) and
// a client certificate, as PEM files in dir.
type testPKI struct {
	dir                                                  string
	caFile, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool
	client                                               tls.Certificate
}

func newTestPKI(t *testing.T, dnsName string) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{dir: dir, caFile: filepath.Join(dir, "ca.pem"),
		serverCert: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server-key.pem"),
		clientCert: filepath.Join(dir, "client.pem"), clientKey: filepath.Join(dir, "client-key.pem")}
	ca, err := testcert.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p.caFile, ca.PEM)
	p.pool = ca.Pool
	server, err := ca.Issue(testcert.Leaf{CommonName: dnsName, DNSNames: []string{dnsName}})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p.serverCert, server.CertPEM)
	writeFile(t, p.serverKey, server.KeyPEM)
	client, err := ca.Issue(testcert.Leaf{CommonName: "vault-env", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p.clientCert, client.CertPEM)
	writeFile(t, p.clientKey, client.KeyPEM)
	if p.client, err = client.TLS(); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, file string, data []byte) {
	t.Helper()
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// mtlsVault starts a Vault dev server whose extra listener requires and
// verifies client certificates (tls_require_and_verify_client_cert), with a
// server certificate valid for "vault.test" only. It returns the admin
// client (over the plain dev listener) and the mTLS address.
func mtlsVault(t *testing.T, sb *sandbox.Env, pki *testPKI) (*vaultAdmin, string) {
	t.Helper()
	port := freePorts(t, 3) // dev listener, its cluster port, the mTLS listener
	tok := randHex(t)
	mport := port + 2
	cfg := filepath.Join(t.TempDir(), "mtls.hcl")
	hcl := `listener "tcp" {
  address = "127.0.0.1:` + strconv.Itoa(mport) + `"
  cluster_address = "127.0.0.1:` + strconv.Itoa(freePorts(t, 1)) + `"
  tls_cert_file = "` + pki.serverCert + `"
  tls_key_file = "` + pki.serverKey + `"
  tls_client_ca_file = "` + pki.caFile + `"
  tls_require_and_verify_client_cert = true
}
`
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "vault-mtls.log", sb.Bin.Vault, "server", "-dev", "-dev-root-token-id="+tok,
		"-dev-listen-address=127.0.0.1:"+strconv.Itoa(port), "-dev-no-store-token", "-config="+cfg)
	v := &vaultAdmin{addr: "http://127.0.0.1:" + strconv.Itoa(port), token: tok, hc: http.DefaultClient}
	poll(t, 30*time.Second, "vault dev server", func() bool {
		resp, err := v.hc.Get(v.addr + "/v1/sys/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return v, "https://127.0.0.1:" + strconv.Itoa(mport)
}

// TestVaultMTLSAndTLSSettings: a listener that requires client certificates
// is reached with VAULT_CLIENT_CERT/KEY; the CA comes from VAULT_CACERT or
// VAULT_CAPATH; the certificate names only vault.test, so
// VAULT_TLS_SERVER_NAME is needed. Each missing piece fails with a TLS
// error and the app is not started; none of these settings reach the app.
func TestVaultMTLSAndTLSSettings(t *testing.T) {
	sb := sandbox.Get(t)
	pki := newTestPKI(t, "vault.test")
	v, addr := mtlsVault(t, sb, pki)
	v.must(t, "POST", "secret/data/mtls", map[string]any{"data": map[string]any{"k": "over-mtls"}})
	capath := t.TempDir()
	b, _ := os.ReadFile(pki.caFile)
	if err := os.WriteFile(filepath.Join(capath, "ca.pem"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"VAULT_ADDR=" + addr, "VAULT_TOKEN=" + v.token, "A=vault:secret/data/mtls#k"}
	cert := []string{"VAULT_CLIENT_CERT=" + pki.clientCert, "VAULT_CLIENT_KEY=" + pki.clientKey}
	name := []string{"VAULT_TLS_SERVER_NAME=vault.test"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name string
		env  []string
		ok   bool
	}{
		{"client cert, VAULT_CACERT, server name", cat(cert, name, []string{"VAULT_CACERT=" + pki.caFile}), true},
		{"client cert, VAULT_CAPATH, server name", cat(cert, name, []string{"VAULT_CAPATH=" + capath}), true},
		{"no client cert", cat(name, []string{"VAULT_CACERT=" + pki.caFile}), false},
		{"no server name", cat(cert, []string{"VAULT_CACERT=" + pki.caFile}), false},
		{"no CA", cat(cert, name), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runApp(t, cat(base, tt.env))
			if !tt.ok {
				if code != 1 || strings.Contains(out, "ARGV=") || !strings.Contains(strings.ToLower(out), "tls") && !strings.Contains(out, "certificate") {
					t.Fatalf("exit %d, want a TLS failure:\n%s", code, out)
				}
				return
			}
			if code != 0 || !hasLine(out, "A=over-mtls") {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "VAULT_") {
					t.Errorf("setting reached the app: %s", strings.SplitN(l, "=", 2)[0])
				}
			}
		})
	}
}

// dropListener accepts TCP connections on loopback, counts them and closes
// them at once (a Vault that is down, or a hostile endpoint that must
// receive nothing).
func dropListener(t *testing.T) (addr string, hits *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	hits = &atomic.Int32{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()
	return l.Addr().String(), hits
}

// TestVaultMaxRetries: VAULT_MAX_RETRIES is vault/api's: N retries after the
// first attempt on a connection error.
func TestVaultMaxRetries(t *testing.T) {
	for _, n := range []int{0, 2} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			addr, hits := dropListener(t)
			code, out := runApp(t, []string{"VAULT_ADDR=http://" + addr, "VAULT_TOKEN=t", "VAULT_MAX_RETRIES=" + strconv.Itoa(n), "A=vault:kv/x#k"})
			if code != 1 || strings.Contains(out, "ARGV=") {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			if got := hits.Load(); got != int32(n+1) {
				t.Fatalf("%d connections, want %d:\n%s", got, n+1, out)
			}
		})
	}
}

// The 13 vault/api variables of issue 14 that once reached the app.
var clientVars13 = []string{"VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY", "VAULT_CAPATH", "VAULT_TLS_SERVER_NAME",
	"VAULT_MAX_RETRIES", "VAULT_AGENT_ADDR", "VAULT_SRV_LOOKUP", "VAULT_WRAP_TTL", "VAULT_MFA",
	"VAULT_CLUSTER_ADDR", "VAULT_REDIRECT_ADDR", "VAULT_CLI_NO_COLOR", "VAULT_RATE_LIMIT"}

// TestChildEnvironHasNoClientVars reads the running app's
// /proc/PID/environ: none of the 13 is there, VAULT_TOKEN_FILE is.
func TestChildEnvironHasNoClientVars(t *testing.T) {
	sb := sandbox.Get(t)
	v := devVault(t, sb)
	v.must(t, "POST", "secret/data/app", map[string]any{"data": map[string]any{"password": "environ-13"}})
	// Named outside VAULT_ENV_SPEC_VARS, so that vault-env does not use
	// these junk values; they are removed all the same.
	env := append(vaultEnvBase(), "VAULT_ENV_SPEC_VARS=VAULT_ADDR,VAULT_TOKEN", "VAULT_ADDR="+v.addr, "VAULT_TOKEN="+v.token,
		"VAULT_TOKEN_FILE=/nonexistent/kept", "SECRET=vault:secret/data/app#password")
	for _, n := range clientVars13 {
		env = append(env, n+"=junk")
	}
	p := start(t, env, self(t), "testapp", "wait")
	ready := p.waitLine(t, "READY ", 30*time.Second)
	pid, _ := strconv.Atoi(strings.TrimPrefix(ready, "READY "))
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00") {
		k, val, _ := strings.Cut(kv, "=")
		got[k] = val
	}
	for _, n := range append(clientVars13, "VAULT_ADDR", "VAULT_TOKEN", "VAULT_ENV_SPEC_VARS") {
		if _, ok := got[n]; ok {
			t.Errorf("%s is in the app's environment", n)
		}
	}
	if got["SECRET"] != "environ-13" || got["VAULT_TOKEN_FILE"] != "/nonexistent/kept" {
		t.Errorf("app's environment: SECRET set=%t VAULT_TOKEN_FILE=%q", got["SECRET"] != "", got["VAULT_TOKEN_FILE"])
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 10*time.Second)
}

// TestEnvFromCannotSteerLogin: the container's environment as the kubelet
// builds it for a mutated pod whose envFrom ConfigMap sets VAULT_ADDR,
// VAULT_AGENT_ADDR, HTTPS_PROXY, HTTP_PROXY and VAULT_SKIP_VERIFY: the
// webhook's explicit VAULT_ADDR and VAULT_CACERT win over envFrom's
// VAULT_ADDR, and vault-env ignores the rest (not in VAULT_ENV_SPEC_VARS).
// The test's listener receives nothing; the app gets its secret from the
// real Vault. Without VAULT_ENV_SPEC_VARS the listener is reached (the
// control case, which shows the test can fail).
func TestEnvFromCannotSteerLogin(t *testing.T) {
	sb := sandbox.Get(t)
	v, caFile := devVaultTLS(t, sb)
	v.must(t, "POST", "secret/data/steer", map[string]any{"data": map[string]any{"k": "from-real-vault"}})
	evil, hits := dropListener(t)
	fromEnvFrom := []string{"VAULT_AGENT_ADDR=http://" + evil, "VAULT_HTTP_PROXY=http://" + evil, "HTTPS_PROXY=http://" + evil, "HTTP_PROXY=http://" + evil, "VAULT_SKIP_VERIFY=true"}
	explicit := []string{"VAULT_ADDR=" + v.addr, "VAULT_CACERT=" + caFile, "VAULT_TOKEN=" + v.token, "A=vault:secret/data/steer#k"}

	code, out := runApp(t, append(append([]string{"VAULT_ENV_SPEC_VARS=VAULT_ADDR,VAULT_CACERT,VAULT_ROLE,VAULT_TOKEN"}, explicit...), fromEnvFrom...))
	if code != 0 || !hasLine(out, "A=from-real-vault") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the envFrom listener received %d connections", n)
	}
	for _, n := range []string{"VAULT_AGENT_ADDR", "VAULT_HTTP_PROXY", "VAULT_SKIP_VERIFY", "HTTPS_PROXY"} {
		if !strings.Contains(out, "name="+n) {
			t.Errorf("no warning names ignored %s:\n%s", n, out)
		}
	}
	if !hasLine(out, "HTTPS_PROXY=http://"+evil) {
		t.Errorf("the app lost its own HTTPS_PROXY:\n%s", out)
	}

	code, out = runApp(t, append(explicit, fromEnvFrom...))
	if code == 0 || hits.Load() == 0 {
		t.Fatalf("control: without VAULT_ENV_SPEC_VARS the listener got %d connections (exit %d):\n%s", hits.Load(), code, out)
	}
}

// TestVaultLoginAppReads: with VAULT_TOKEN=vault:login over TLS, the app
// gets VAULT_TOKEN, VAULT_ADDR and VAULT_CACERT, and reads a secret with
// vault/api configured from nothing else.
func TestVaultLoginAppReads(t *testing.T) {
	sb := sandbox.Get(t)
	k := newKubeAdmin(t, sb)
	v, caFile := devVaultTLS(t, sb)
	id := randHex(t)[:8]
	ns, sa := "login-"+id, "app-"+id
	keys, issuer := k.signingKeysPEM(t)
	v.must(t, "POST", "sys/auth/k8s-jwt", map[string]any{"type": "jwt"})
	v.must(t, "POST", "auth/k8s-jwt/config", map[string]any{"jwt_validation_pubkeys": keys, "bound_issuer": issuer})
	v.must(t, "POST", "sys/policies/acl/read", map[string]any{"policy": `path "secret/*" { capabilities = ["read"] }`})
	v.must(t, "POST", "auth/k8s-jwt/role/"+sa, map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"vault-login"},
		"bound_subject": "system:serviceaccount:" + ns + ":" + sa, "token_policies": []string{"read"}, "token_ttl": "5m",
	})
	v.must(t, "POST", "secret/data/login", map[string]any{"data": map[string]any{"k": "app-read-" + id}})
	jwtFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(jwtFile, []byte(k.serviceAccountJWT(t, ns, sa, "vault-login")), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, append(vaultEnvBase(), "VAULT_ADDR="+v.addr, "VAULT_CACERT="+caFile, "VAULT_TOKEN=vault:login",
		"KUBERNETES_SERVICE_ACCOUNT_TOKEN="+jwtFile, "VAULT_AUTH_METHOD=jwt", "VAULT_PATH=k8s-jwt"), self(t), "testapp", "vaultread", "secret/data/login", "k")
	code := p.wait(t, 60*time.Second)
	if out := p.output(); code != 0 || !hasLine(out, "VAULTREAD=app-read-"+id) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
