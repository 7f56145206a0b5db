package e2e

// The seed product's own daemon-mode example (issue 14), on the sandbox's
// node: MySQL dynamic credentials. A MariaDB server of the test's own
// (Debian's mariadb-server) listens on the node's bridge; Vault's database
// engine with its built-in mysql plugin leases a user for it; a Pod in daemon
// mode (vault-env-daemon) gets that user and password and logs in with them
// every two seconds (e2e/cmd/mysqllogin). vault-env renews the lease while the
// app runs, and revoking the lease stops the app with SIGTERM.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// mysqlLeaseTTL is the role's default_ttl: vault-env renews at two thirds of
// it, so the test sees a renewal within about 20 s.
const mysqlLeaseTTL = 45 * time.Second

// mariaDB is a mariadbd of the test's own.
type mariaDB struct {
	Addr   string // GATEWAY:PORT, reachable from the host (Vault) and from pods
	socket string
}

// startMariaDB initialises a datadir in t.TempDir(), starts mariadbd (as
// root, as the sandbox runs) listening on host, creates the admin user
// Vault's database engine uses, and stops the server by PID when the test
// ends.
func startMariaDB(t *testing.T, host, adminUser, adminPassword string) *mariaDB {
	t.Helper()
	bins := map[string]string{}
	for _, name := range []string{"mariadbd", "mariadb-install-db", "mariadb"} {
		p, err := exec.LookPath(name)
		if err != nil {
			p, err = exec.LookPath("/usr/sbin/" + name)
		}
		if err != nil {
			t.Fatalf("%s not found (Debian's mariadb-server and mariadb-client: scripts/tools.sh apt): %v", name, err)
		}
		bins[name] = p
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(testContext(t), 2*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, bins["mariadb-install-db"], "--no-defaults", "--datadir="+data, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("failed to initialise the MariaDB datadir: %v\n%s", err, out)
	}
	db := &mariaDB{socket: filepath.Join(dir, "mysqld.sock")}
	logFile := filepath.Join(dir, "mariadbd.log")
	for attempt := 0; ; attempt++ {
		port := freePort(t, host)
		cmd := exec.Command(bins["mariadbd"], "--no-defaults", "--datadir="+data, "--user=root",
			"--bind-address="+host, "--port="+strconv.Itoa(port), "--socket="+db.socket,
			"--pid-file="+filepath.Join(dir, "mariadbd.pid"), "--skip-name-resolve",
			"--log-error="+logFile, "--skip-log-bin", "--innodb-buffer-pool-size=16M")
		cmd.Env = relBaseEnv()
		if err := cmd.Start(); err != nil {
			t.Fatalf("failed to start mariadbd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		db.Addr = net.JoinHostPort(host, strconv.Itoa(port))
		err := waitMariaDB(ctx, bins["mariadb"], db.socket, exited)
		if err == nil {
			t.Cleanup(func() { stopByPID(t, "mariadbd", cmd.Process, exited) })
			break
		}
		if !errors.Is(err, errExited) || attempt == 2 {
			stopByPID(t, "mariadbd", cmd.Process, exited)
			t.Fatalf("mariadbd did not start: %v\n%s", err, relTail(logFile, 20))
		}
		// The port was taken meanwhile: next attempt on another one.
	}
	db.exec(t, bins["mariadb"], fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'; GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%' WITH GRANT OPTION;",
		adminUser, adminPassword, adminUser))
	return db
}

var errExited = errors.New("mariadbd exited")

// waitMariaDB waits until the server answers on its socket.
func waitMariaDB(ctx context.Context, client, socket string, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if exec.CommandContext(ctx, client, "--no-defaults", "--socket="+socket, "-uroot", "-e", "SELECT 1").Run() == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("%w: %v", errExited, err)
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("timed out after 60s waiting for mariadbd")
		}
	}
}

func (db *mariaDB) exec(t *testing.T, client, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, client, "--no-defaults", "--socket="+db.socket, "-uroot", "-e", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("failed to run SQL as root: %v\n%s", err, out)
	}
}

// stopByPID sends SIGTERM to p, then SIGKILL after 30 s.
func stopByPID(t *testing.T, what string, p *os.Process, exited <-chan error) {
	t.Helper()
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("failed to stop %s (pid %d): %v", what, p.Pid, err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Errorf("%s (pid %d) ignored SIGTERM for 30s; killing it", what, p.Pid)
		_ = p.Kill()
		<-exited
	}
}

// freePort returns a TCP port free on host at the time of the call.
func freePort(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("failed to find a free port on %s: %v", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// leaseInfo is Vault's sys/leases/lookup answer.
type leaseInfo struct {
	Data struct {
		ExpireTime      time.Time  `json:"expire_time"`
		LastRenewalTime *time.Time `json:"last_renewal"`
		TTL             int        `json:"ttl"`
	} `json:"data"`
}

func lookupLease(t *testing.T, id string) (leaseInfo, error) {
	t.Helper()
	var l leaseInfo
	err := vaultRequest(t, http.MethodPut, "sys/leases/lookup", map[string]any{"lease_id": id}, &l)
	return l, err
}

// TestDaemonMySQLDynamicCredentials: the app logs in with the leased user,
// the lease is renewed while it runs (and the user keeps working past the
// lease's first TTL), and revoking the lease ends the app with SIGTERM.
func TestDaemonMySQLDynamicCredentials(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	gw := env.Node.Gateway
	if gw == "" {
		t.Fatal("the sandbox has no node gateway: restart it (scripts/sandbox down && scripts/sandbox up)")
	}
	start := time.Now()
	adminPassword := "admin-" + randomSuffix(t, 20)
	db := startMariaDB(t, gw, "vault", adminPassword)
	t.Logf("mariadbd ready on %s in %s", db.Addr, time.Since(start).Round(time.Millisecond))

	// The database engine at a path of the test's own. Disabling it at the
	// end revokes its leases (dropping their users) before mariadbd stops.
	mount := "e2e-db-" + randomSuffix(t, 8)
	vaultWrite(t, "sys/mounts/"+mount, map[string]any{"type": "database"})
	t.Cleanup(func() {
		if err := vaultRequest(t, http.MethodDelete, "sys/mounts/"+mount, nil, nil); err != nil {
			t.Errorf("failed to disable %s: %v", mount, err)
		}
	})
	vaultWrite(t, mount+"/config/mysql", map[string]any{
		"plugin_name":    "mysql-database-plugin",
		"connection_url": "{{username}}:{{password}}@tcp(" + db.Addr + ")/",
		"username":       "vault",
		"password":       adminPassword,
		"allowed_roles":  []string{"app"},
	})
	vaultWrite(t, mount+"/roles/app", map[string]any{
		"db_name": "mysql",
		"creation_statements": []string{
			"CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
			"GRANT USAGE ON *.* TO '{{name}}'@'%';",
		},
		"default_ttl": mysqlLeaseTTL.String(),
		"max_ttl":     "10m",
	})

	ns := createNamespace(t)
	sa := uniqueName(t, "sa")
	createServiceAccount(t, ns, sa)
	vaultRole(t, ns, sa)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "mysql-app", Annotations: map[string]string{
			"vault.security.banzaicloud.io/vault-env-daemon": "true",
			"vault.security.banzaicloud.io/log-level":        "debug",
		}},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			RestartPolicy:      corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "app", Image: "mysqllogin", Command: []string{"/usr/local/bin/mysqllogin"},
				Env: []corev1.EnvVar{
					{Name: "MYSQL_ADDR", Value: db.Addr},
					{Name: "MYSQL_USER", Value: "vault:" + mount + "/creds/app#username"},
					{Name: "MYSQL_PASSWORD", Value: "vault:" + mount + "/creds/app#password"},
					{Name: "MYSQL_INTERVAL", Value: "2s"},
				},
			}},
		},
	}
	createPod(t, ns, pod)
	podStart := time.Now()

	// 1. The app logs in with the leased user.
	out, code := runContainer(t, ns, pod.Name, "app", "login ok ")
	if code != 0 {
		t.Fatalf("the app ended (exit %d) before logging in:\n%s", code, out)
	}
	user := loggedInUser(out)
	if !strings.HasPrefix(user, "v-") {
		t.Fatalf("the app logged in as %q, want a user Vault created (v-...):\n%s", user, out)
	}
	if strings.Contains(out, "login failed") {
		t.Errorf("a login failed before the first success:\n%s", out)
	}
	firstLogin := time.Now()
	t.Logf("first login as %s %s after the pod was created", user, firstLogin.Sub(podStart).Round(time.Millisecond))

	// One lease for both references: the path was read once, so user and
	// password belong together (the login above proves it too).
	var list struct {
		Data struct {
			Keys []string `json:"keys"`
		} `json:"data"`
	}
	if err := vaultRequest(t, "LIST", "sys/leases/lookup/"+mount+"/creds/app/", nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Data.Keys) != 1 {
		t.Fatalf("leases of %s/creds/app = %v, want exactly one", mount, list.Data.Keys)
	}
	leaseID := mount + "/creds/app/" + list.Data.Keys[0]
	first, err := lookupLease(t, leaseID)
	if err != nil {
		t.Fatal(err)
	}

	// 2. vault-env renews the lease (at two thirds of its TTL), and the user
	// keeps working past the lease's first expiry.
	poll(t, 2*mysqlLeaseTTL, "vault-env to renew lease "+leaseID, func() (bool, error) {
		l, err := lookupLease(t, leaseID)
		return err == nil && l.Data.ExpireTime.After(first.Data.ExpireTime) && l.Data.LastRenewalTime != nil, err
	})
	t.Logf("lease renewal seen %s after the first login", time.Since(firstLogin).Round(time.Second))
	if log := podLog(t, ns, pod.Name, "app", false); !hasLine(log, "renewed", leaseID) {
		t.Errorf("vault-env logged no renewal of %s:\n%s", leaseID, log)
	}
	if d := time.Until(first.Data.ExpireTime); d > 0 {
		time.Sleep(d + 3*time.Second)
	}
	seen := strings.Count(podLog(t, ns, pod.Name, "app", false), "login ok "+user)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(pollInterval) {
		log := podLog(t, ns, pod.Name, "app", false)
		if strings.Count(log, "login ok "+user) > seen {
			break
		}
		if time.Now().After(deadline) {
			l, err := lookupLease(t, leaseID)
			t.Fatalf("no login in 20s after the lease's first expiry (lease now: %+v, lookup error %v); the app's log ends:\n%s",
				l.Data, err, lastLines(log, 30))
		}
	}

	// 3. Revoking the lease drops the user and stops the app: vault-env sees
	// it at its next renewal (within two thirds of the TTL) and sends SIGTERM;
	// the app dies of it and vault-env exits 128+15.
	revoked := time.Now()
	vaultWrite(t, "sys/leases/revoke", map[string]any{"lease_id": leaseID})
	out, code = runContainer(t, ns, pod.Name, "app", "")
	t.Logf("app stopped %s after the revocation", time.Since(revoked).Round(time.Millisecond))
	if code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code %d after the revocation, want %d (the app died of SIGTERM):\n%s", code, 128+int(syscall.SIGTERM), out)
	}
	if !hasLine(out, "secret lease ended") {
		t.Errorf("vault-env did not log that the lease ended:\n%s", out)
	}
	if hasLine(out, "did not stop in time") {
		t.Errorf("vault-env had to kill the app:\n%s", out)
	}
	if !strings.Contains(out, "login failed "+user) {
		t.Logf("no failed login between the revocation and the stop (the stop came first)")
	}
	if strings.Contains(out, adminPassword) {
		t.Errorf("the admin password reached the app's log")
	}
}

// loggedInUser is USER of the first "login ok USER" line of out.
func loggedInUser(out string) string {
	for line := range strings.Lines(out) {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "login ok "); ok {
			return u
		}
	}
	return ""
}

// hasLine reports whether one line of out holds every word.
func hasLine(out string, words ...string) bool {
	for line := range strings.Lines(out) {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			return true
		}
	}
	return false
}
