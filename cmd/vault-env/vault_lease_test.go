package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// redisVault is a dev Vault with the database engine managing a real
// redis-server (redis-database-plugin), a role "app" with the TTLs given and
// a role "short" whose lease cannot outlive 2 s.
func redisVault(t *testing.T, sb *sandbox.Env, defaultTTL, maxTTL string) (*vaultAdmin, int) {
	t.Helper()
	v := devVault(t, sb)
	port, adminPW := redisServer(t, sb)
	v.must(t, "POST", "sys/mounts/database", map[string]any{"type": "database"})
	v.must(t, "POST", "database/config/redis", map[string]any{
		"plugin_name": "redis-database-plugin", "host": "127.0.0.1", "port": port,
		"username": "default", "password": adminPW, "allowed_roles": "app,short", "tls": false,
	})
	v.must(t, "POST", "database/roles/short", map[string]any{
		"db_name": "redis", "creation_statements": `["+@read"]`, "default_ttl": "2s", "max_ttl": "2s",
	})
	v.must(t, "POST", "database/roles/app", map[string]any{
		"db_name": "redis", "creation_statements": `["+@read"]`,
		"default_ttl": defaultTTL, "max_ttl": maxTTL,
	})
	return v, port
}

func envValue(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestVaultDatabaseCredentials: username and password come from one read
// (one lease) and really log in to redis.
func TestVaultDatabaseCredentials(t *testing.T) {
	sb := sandbox.Get(t)
	v, port := redisVault(t, sb, "1h", "2h")
	code, out := runApp(t, []string{"VAULT_ADDR=" + v.addr, "VAULT_TOKEN=" + v.token,
		"REDIS_USER=vault:database/creds/app#username", "REDIS_PASSWORD=vault:database/creds/app#password",
		"REDIS_URL=redis://${vault:database/creds/app#username}:${vault:database/creds/app#password}@127.0.0.1"})
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	user, pw := envValue(out, "REDIS_USER"), envValue(out, "REDIS_PASSWORD")
	if user == "" || pw == "" {
		t.Fatalf("no credentials:\n%s", out)
	}
	if got := envValue(out, "REDIS_URL"); got != "redis://"+user+":"+pw+"@127.0.0.1" {
		t.Errorf("inline credentials %q come from another read than %s", got, user)
	}
	if err := redisAuth(port, user, pw); err != nil {
		t.Fatalf("issued credentials do not log in: %v", err)
	}
	leases := v.must(t, "LIST", "sys/leases/lookup/database/creds/app", nil)["data"].(map[string]any)["keys"].([]any)
	if len(leases) != 1 {
		t.Fatalf("%d leases for database/creds/app, want 1 (one read for all references)", len(leases))
	}
}

// TestDaemonRenewsAndEndsWithLease: daemon mode with a short-TTL token and
// lease. Renewals are seen in Vault; when the lease reaches its max TTL the
// app gets SIGTERM and vault-env exits with the app's status. A second run
// whose app ignores SIGTERM is killed after the grace period.
func TestDaemonRenewsAndEndsWithLease(t *testing.T) {
	sb := sandbox.Get(t)
	v, port := redisVault(t, sb, "3s", "9s")

	tok, acc := v.newToken(t, "5s")
	began := time.Now()
	p := start(t, append(vaultEnvBase(), "VAULT_ADDR="+v.addr, "VAULT_TOKEN="+tok, "VAULT_ENV_DAEMON=true",
		"VAULT_LOG_LEVEL=debug", "REDIS_USER=vault:database/creds/app#username", "REDIS_PASSWORD=vault:database/creds/app#password"),
		self(t), "testapp", "wait")
	p.waitLine(t, "READY ", 30*time.Second)

	// Renewals observed in Vault: the lease has a last_renewal time and the
	// token outlives its 5 s TTL with a last_renewal_time.
	var leaseID string
	poll(t, 30*time.Second, "lease renewal", func() bool {
		keys, _ := v.must(t, "LIST", "sys/leases/lookup/database/creds/app", nil)["data"].(map[string]any)["keys"].([]any)
		if len(keys) != 1 {
			return false
		}
		leaseID = "database/creds/app/" + keys[0].(string)
		d := v.data(t, "PUT", "sys/leases/lookup", map[string]any{"lease_id": leaseID})
		return d["last_renewal"] != nil
	})
	poll(t, 30*time.Second, "token renewal", func() bool {
		d := v.data(t, "POST", "auth/token/lookup-accessor", map[string]any{"accessor": acc})
		lr, _ := d["last_renewal_time"].(float64)
		return lr > 0 && time.Since(began) > 6*time.Second // outlived its first 5 s TTL
	})
	_ = port

	// The lease ends for good at ~9 s: SIGTERM, the app exits 42.
	code := p.wait(t, 30*time.Second)
	if code != 42 {
		t.Fatalf("exit %d, want the app's 42:\n%s", code, p.output())
	}
	if !strings.Contains(p.output(), "SIGNAL terminated") {
		t.Fatalf("app did not get SIGTERM:\n%s", p.output())
	}
	if el := time.Since(began); el < 8*time.Second {
		t.Fatalf("app stopped after %s, before the lease's max TTL", el)
	}
	if strings.Contains(p.output(), tok) {
		t.Fatal("the token appears in vault-env's log")
	}
	// The end shows either as a capped renewal ("maximum TTL") or, when
	// Vault's answer was not yet capped, as a refused renewal; both end in
	// the same stop.
	for _, want := range []string{"renewed", "cannot be renewed any more", "stopping the application"} {
		if !strings.Contains(p.output(), want) {
			t.Errorf("log lacks %q:\n%s", want, p.output())
		}
	}

	// An app that ignores SIGTERM is killed after the grace period.
	tok2, _ := v.newToken(t, "1h")
	p = start(t, append(vaultEnvBase(), "VAULT_ADDR="+v.addr, "VAULT_TOKEN="+tok2, "VAULT_ENV_DAEMON=true",
		"VAULT_ENV_GRACE_PERIOD=1s", "VSW_TESTAPP_IGNORE_TERM=1", "P=vault:database/creds/short#password"),
		self(t), "testapp", "wait")
	p.waitLine(t, "READY ", 30*time.Second)
	if code := p.wait(t, 30*time.Second); code != 128+int(syscall.SIGKILL) {
		t.Fatalf("exit %d, want 137 (SIGKILL after grace):\n%s", code, p.output())
	}
}

// TestKubernetesAuth logs in with a TokenRequest JWT of a ServiceAccount in a
// fresh namespace, against the sandbox's Vault and apiserver: role from
// VAULT_ROLE, role defaulting to the ServiceAccount name, and vault:login.
func TestKubernetesAuth(t *testing.T) {
	sb := sandbox.Get(t)
	k := newKubeAdmin(t, sb)
	v := &vaultAdmin{addr: sb.VaultAddr, token: sb.VaultToken}
	id := randHex(t)[:8]
	ns, sa := "h2-vault-env-"+id, "h2app-"+id
	jwt := k.serviceAccountJWT(t, ns, sa)
	jwtFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(jwtFile, []byte(jwt), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := sb.VaultPolicy
	if policy == "" {
		policy = "default"
	}
	v.must(t, "POST", "auth/kubernetes/role/"+sa, map[string]any{
		"bound_service_account_names": sa, "bound_service_account_namespaces": ns, "policies": policy, "ttl": "10m",
	})
	t.Cleanup(func() { v.call(t, "DELETE", "auth/kubernetes/role/"+sa, nil) })
	path := "secret/data/h2-vault-env/" + id
	v.must(t, "POST", path, map[string]any{"data": map[string]any{"password": "k8s-" + id}})
	t.Cleanup(func() { v.call(t, "DELETE", "secret/metadata/h2-vault-env/"+id, nil) })

	base := []string{"VAULT_ADDR=" + sb.VaultAddr, "KUBERNETES_SERVICE_ACCOUNT_TOKEN=" + jwtFile, "A=vault:" + path + "#password"}
	t.Run("explicit role", func(t *testing.T) {
		code, out := runApp(t, append(base, "VAULT_ROLE="+sa))
		if code != 0 || !hasLine(out, "A=k8s-"+id) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if strings.Contains(out, jwt) {
			t.Fatal("JWT reached the app or the log")
		}
	})
	t.Run("role defaults to the ServiceAccount name", func(t *testing.T) {
		code, out := runApp(t, base)
		if code != 0 || !hasLine(out, "A=k8s-"+id) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("wrong role fails fast and names the role", func(t *testing.T) {
		code, out := runApp(t, append(base, "VAULT_ROLE=no-such-role-"+id))
		if code != 1 || !strings.Contains(out, "no-such-role-"+id) || strings.Contains(out, "ARGV=") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("vault:login hands the token to the app", func(t *testing.T) {
		code, out := runApp(t, append(base, "VAULT_TOKEN=vault:login"))
		if code != 0 || !hasLine(out, "A=k8s-"+id) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		tok := envValue(out, "VAULT_TOKEN")
		if tok == "" || tok == "vault:login" {
			t.Fatalf("no token handed over:\n%s", out)
		}
		app := &vaultAdmin{addr: sb.VaultAddr, token: tok}
		d := app.data(t, "GET", "auth/token/lookup-self", nil)
		if meta, _ := d["meta"].(map[string]any); meta["service_account_name"] != sa {
			t.Fatalf("handed-over token belongs to %v", d["meta"])
		}
	})
}

// TestChildEnviron reads the running app's /proc/PID/environ: the secrets
// are there; the token and every consumed VAULT_* setting are not.
func TestChildEnviron(t *testing.T) {
	sb := sandbox.Get(t)
	v := devVault(t, sb)
	v.must(t, "POST", "secret/data/app", map[string]any{"data": map[string]any{"password": "environ-secret"}})
	tok, _ := v.newToken(t, "1h")
	for _, daemon := range []string{"false", "true"} {
		t.Run("daemon="+daemon, func(t *testing.T) {
			p := start(t, append(vaultEnvBase(), "VAULT_ADDR="+v.addr, "VAULT_TOKEN="+tok, "VAULT_ENV_DAEMON="+daemon,
				"VAULT_CLIENT_TIMEOUT=5s", "VAULT_LOG_LEVEL=info", "SECRET=vault:secret/data/app#password", "PLAIN=kept"),
				self(t), "testapp", "wait")
			ready := p.waitLine(t, "READY ", 30*time.Second)
			pid, _ := strconv.Atoi(strings.TrimPrefix(ready, "READY "))
			if daemon == "false" && pid != p.cmd.Process.Pid {
				t.Fatalf("exec mode: app pid %d != vault-env pid %d", pid, p.cmd.Process.Pid)
			}
			raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			env := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
			want := map[string]bool{"SECRET=environ-secret": false, "PLAIN=kept": false}
			for _, kv := range env {
				if _, ok := want[kv]; ok {
					want[kv] = true
				}
				if strings.Contains(kv, tok) {
					t.Errorf("token in the app's environment: %s=…", strings.SplitN(kv, "=", 2)[0])
				}
				if strings.HasPrefix(kv, "VAULT_") {
					t.Errorf("consumed setting in the app's environment: %s", strings.SplitN(kv, "=", 2)[0])
				}
			}
			for kv, found := range want {
				if !found {
					t.Errorf("app's environment lacks %q", kv)
				}
			}
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			p.wait(t, 10*time.Second)
		})
	}
}
